"""Kinvey users: sign-up, login, sessions, profile CRUD, soft delete, restore.

Users are objects of the parent ``kinvey.users`` in their wire form (never with a password). The
password hash lives apart, in the private parent ``kinvey.credentials`` keyed by username
(``{"user", "hash", "disabled"}``), which also makes usernames unique and a login one indexed
read. A disabled (soft-deleted or suspended) user keeps its document with ``_kmd.status``, loses
its sessions and every grant (only the master secret sees it) until ``_restore``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.ids import object_id
from kinbase.core.kinvey.access import (
    Caller,
    CollectionPolicy,
    acl_filter,
    check_access,
    grants_of,
    normalize_acl,
    refuse,
)
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.passwords import PasswordService
from kinbase.core.kinvey.reading import COLUMNS, ReadResult, read_start, read_window
from kinbase.core.kinvey.sessions import SessionService
from kinbase.core.kinvey.user_secrets import ON_CREDENTIALS, ON_DELETE, revoke
from kinbase.core.kinvey.wire import iso_of
from kinbase.core.throttle import LoginThrottle
from kinbase.query.ast import Query
from kinbase.storage.base import (
    AppRecord,
    FindOptions,
    NewVersion,
    ParentRecord,
    StorageBackend,
    StoredObject,
    WriteContext,
    Writer,
)
from kinbase.storage.stamps import now_ms

__all__ = ["CREDENTIALS", "USERS", "LoginResult", "UserService"]

USERS = "kinvey.users"
CREDENTIALS = "kinvey.credentials"
_SERVER_KMD = ("llt", "emailVerification", "status")


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: dict[str, Any]
    token: str | None


def _doc(text: str) -> dict[str, Any]:
    value = orjson.loads(text)
    assert isinstance(value, dict)
    return value


def user_with_token(text: str, token: str | None) -> dict[str, Any]:
    """A stored user as returned to its owner: with ``_kmd.authtoken`` when there is a session."""
    user = _doc(text)
    if token is not None:
        user["_kmd"] = {**user.get("_kmd", {}), "authtoken": token}
    return user


def _username(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise KinveyError("BadRequest", "username must be a non-empty string of at most 256 characters.")
    return value


def _password(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise KinveyError("BadRequest", "password must be a non-empty string of at most 1024 characters.")
    return value


def user_builder(
    fields: dict[str, Any], user_id: str, policy: CollectionPolicy, *, kmd: dict[str, Any] | None = None
) -> Any:
    """The builder of a user document (server-owned ``_kmd`` fields are kept from the current one)."""
    given_acl = fields.pop("_acl", None)
    normalize_acl(given_acl, user_id)
    fields.pop("_kmd", None)
    fields.pop("_id", None)
    fields.pop("password", None)
    fields.pop("_socialIdentity", None)  # the SDKs PUT it back with provider tokens; never stored

    def build(ctx: WriteContext) -> NewVersion:
        acl = normalize_acl(given_acl, user_id)
        current_kmd = _doc(ctx.current.data).get("_kmd", {}) if ctx.current is not None else {}
        new_kmd: dict[str, Any] = {"lmt": iso_of(ctx.stamp), "ect": iso_of(ctx.created)}
        for key in _SERVER_KMD:
            if key in current_kmd:
                new_kmd[key] = current_kmd[key]
        new_kmd.update(kmd or {})
        new_kmd = {k: v for k, v in new_kmd.items() if v is not None}
        if ctx.current is not None and _doc(ctx.current.data).get("email") != fields.get("email"):
            new_kmd.pop("emailVerification", None)
        data: dict[str, Any] = {"_id": user_id, **fields, "_acl": acl, "_kmd": new_kmd}
        disabled = "status" in new_kmd
        return NewVersion(data, creator=user_id, grants=[] if disabled else grants_of(acl, policy))

    return build


class UserService:
    """The users of an app."""

    def __init__(
        self,
        storage: StorageBackend,
        passwords: PasswordService,
        sessions: SessionService,
        throttle: LoginThrottle,
    ) -> None:
        self._storage = storage
        self.passwords = passwords
        self.sessions = sessions
        self.throttle = throttle

    @staticmethod
    def policy(parent: ParentRecord | None) -> CollectionPolicy:
        return CollectionPolicy.of(parent.settings) if parent is not None else CollectionPolicy()

    # -- sign-up and login ------------------------------------------------------------------
    async def signup(self, app: AppRecord, body: Any, *, with_token: bool) -> LoginResult:
        """Create a user (random username and password when absent).

        Raises:
            KinveyError: UserAlreadyExists, BadRequest.
        """
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise KinveyError("BadRequest", "The request body must be a JSON object.")
        fields = dict(body)
        generated = "password" not in fields
        username = _username(fields.get("username", object_id()))
        password = _password(fields.get("password", secrets.token_urlsafe(12)))
        fields["username"] = username
        user_id = object_id()
        hashed = await self.passwords.hash(password)
        async with self._storage.writer() as writer:
            # the users first, the credentials after (every writer of both takes them in this
            # order); locked before the check, so two sign-ups of one name cannot both pass it
            users = await writer.lock_parent(await writer.ensure_parent(app.id, USERS, ""))
            creds = await writer.ensure_parent(app.id, CREDENTIALS, "")
            if await writer.get_object_for_update(creds, username) is not None:
                raise KinveyError("UserAlreadyExists", f"The username {username!r} is taken.")
            stored = await writer.put(users, user_id, user_builder(fields, user_id, self.policy(users)))
            await writer.put(
                creds, username, lambda ctx: NewVersion({"user": user_id, "hash": hashed}, creator=user_id)
            )
            token = await self.sessions.open(writer, app, user_id) if with_token else None
        user = user_with_token(stored.object.data, token)
        if generated:
            user["password"] = password
        return LoginResult(user, token)

    async def check_password(
        self, app: AppRecord, username: str, password: str, address: str | None
    ) -> str | None:
        """The id of the enabled user with these credentials, or None.

        Every check goes through the login throttle, shared by every worker (failures count per
        username and per address); a password verified recently is accepted without hashing and
        with the throttle's cached answer (the hot path of ``Basic username:password``).

        Raises:
            KinveyError: LoginThrottled while the username or the address is refused.
        """
        checked = await self._checked(app, username, password, address)
        return None if checked is None else checked[0]

    async def _checked(
        self, app: AppRecord, username: str, password: str, address: str | None
    ) -> tuple[str, str] | None:
        """:meth:`check_password`'s user id with the stored hash the password matched."""
        async with self._storage.reader() as reader:
            creds = await reader.get_parent(app.id, CREDENTIALS, "")
            found = await reader.get_object(creds, username) if creds is not None else None
        record = _doc(found.data) if found is not None else None
        usable = record is not None and not record.get("disabled")
        if record is not None and usable and self.passwords.remembered(str(record["hash"]), password):
            await self.throttle.check_cached(app.id, username, address)
            return str(record["user"]), str(record["hash"])
        await self.throttle.check(app.id, username, address)
        if record is None or not usable or not await self.passwords.verify(str(record["hash"]), password):
            await self.throttle.failed(app.id, username, address)
            return None
        await self.throttle.succeeded(app.id, username)
        return str(record["user"]), str(record["hash"])

    async def login(self, app: AppRecord, body: Any, address: str | None) -> LoginResult:
        """Check a username and password, open a session, update ``_kmd.llt``.

        Raises:
            KinveyError: InvalidCredentials, LoginThrottled, BadRequest.
        """
        if not isinstance(body, dict):
            raise KinveyError("BadRequest", "The login body must be a JSON object.")
        if "_socialIdentity" in body and "username" not in body:
            raise KinveyError("UserNotFound", "Social identities are not supported by this server.")
        username = _username(body.get("username"))
        password = body.get("password")
        if not isinstance(password, str):
            raise KinveyError("BadRequest", "password is required.")
        checked = await self._checked(app, username, password, address)
        if checked is None:
            raise KinveyError("InvalidCredentials", "Wrong username or password, or the user is disabled.")
        user_id, stored_hash = checked
        # A hash of other argon2 parameters (the settings changed since it was stored) is replaced
        # by one of the current parameters: the password is at hand only now.
        rehashed = await self.passwords.hash(password) if self.passwords.needs_rehash(stored_hash) else None
        async with self._storage.writer() as writer:
            users = await writer.ensure_parent(app.id, USERS, "")
            current = await writer.get_object_for_update(users, user_id)
            if current is None:
                raise KinveyError("InvalidCredentials", "The user was removed meanwhile.")
            if rehashed is not None:
                await self._rehash(writer, app, username, stored_hash, rehashed)
            fields = _doc(current.data)
            kmd = {"llt": iso_of(now_ms())}
            stored = await writer.put(
                users, user_id, user_builder(fields, user_id, self.policy(users), kmd=kmd)
            )
            token = await self.sessions.open(writer, app, user_id)
        return LoginResult(user_with_token(stored.object.data, token), token)

    # -- reads ------------------------------------------------------------------------------
    async def get(self, app: AppRecord, caller: Caller, user_id: str) -> str:
        async with self._storage.reader() as reader:
            users = await reader.get_parent(app.id, USERS, "")
            found = await reader.get_object(users, user_id) if users is not None else None
            if found is None:
                raise KinveyError("UserNotFound", f"No user {user_id!r}.")
            await check_access(reader, caller, found, "read")
        return found.data

    async def find(
        self, app: AppRecord, caller: Caller, query: Query, *, api_version: int, with_count: bool = False
    ) -> ReadResult:
        async with self._storage.reader() as reader:
            users = await reader.get_parent(app.id, USERS, "")
            if users is None:
                return ReadResult([], now_ms(), 0 if with_count else None)
            # A disabled user keeps its creator column but loses its grant rows: no creator shortcut.
            return await read_window(
                reader, users, caller, query, api_version, with_count, creator_holds=False
            )

    async def count(self, app: AppRecord, caller: Caller, query: Query) -> ReadResult:
        async with self._storage.reader() as reader:
            users = await reader.get_parent(app.id, USERS, "")
            if users is None:
                return ReadResult([], now_ms(), 0)
            options = FindOptions(acl=acl_filter(caller, "read"), columns=COLUMNS)
            return ReadResult([], read_start(users), await reader.count(users, query, options))

    async def username_exists(self, app: AppRecord, username: Any) -> bool:
        name = _username(username)
        async with self._storage.reader() as reader:
            creds = await reader.get_parent(app.id, CREDENTIALS, "")
            return creds is not None and await reader.get_object(creds, name) is not None

    # -- writes -----------------------------------------------------------------------------
    async def update(
        self, app: AppRecord, caller: Caller, user_id: str, body: Any, *, keep_session: str | None = None
    ) -> StoredObject:
        """PUT a whole user (``password`` changes it; ``username`` may change if free).

        A password change revokes every other session of the user, in the same transaction: the
        session of the token ``keep_session`` (the request's own, when the user changes its own
        password) survives, as the SDKs keep using it; a change by the master secret revokes all.

        Raises:
            KinveyError: UserNotFound, InsufficientCredentials, UserAlreadyExists, BadRequest.
        """
        if not isinstance(body, dict):
            raise KinveyError("BadRequest", "The request body must be a JSON object.")
        fields = dict(body)
        new_password = _password(fields["password"]) if "password" in fields else None
        hashed = await self.passwords.hash(new_password) if new_password is not None else None
        async with self._storage.writer() as writer:
            users = await writer.ensure_parent(app.id, USERS, "")
            current = await writer.get_object_for_update(users, user_id)
            if current is None:
                raise KinveyError("UserNotFound", f"No user {user_id!r}.")
            await check_access(writer, caller, current, "update")
            old_name = str(_doc(current.data).get("username"))
            fields["username"] = _username(fields.get("username", old_name))
            await self._move_credentials(writer, app, user_id, old_name, fields["username"], hashed)
            result = await writer.put(users, user_id, user_builder(fields, user_id, self.policy(users)))
            if hashed is not None:
                keep = keep_session if caller.user_id == user_id else None
                await self.sessions.close_all(writer, app, user_id, keep=keep)
                await revoke(writer, app.id, user_id, ON_CREDENTIALS)
        if hashed is not None:
            await self.sessions.changed(app)
        return result.object

    async def _move_credentials(
        self, writer: Writer, app: AppRecord, user_id: str, old: str, new: str, hashed: str | None
    ) -> None:
        if new == old and hashed is None:
            return  # nothing to change (and no lock to take)
        creds = await writer.ensure_parent(app.id, CREDENTIALS, "")
        record_obj = await writer.get_object_for_update(creds, old)
        record: dict[str, Any] = (
            _doc(record_obj.data) if record_obj is not None else {"user": user_id, "hash": ""}
        )
        if hashed is not None:
            record["hash"] = hashed
        if new != old:
            if await writer.get_object(creds, new) is not None:
                raise KinveyError("UserAlreadyExists", f"The username {new!r} is taken.")
            if record_obj is not None:
                await writer.delete(creds, old)
                await writer.purge_tombstones(creds, now_ms() + 1)
        if new != old or hashed is not None:
            await writer.put(creds, new, lambda ctx: NewVersion(record, creator=user_id))

    async def _rehash(
        self, writer: Writer, app: AppRecord, username: str, verified: str, hashed: str
    ) -> None:
        """Store ``hashed`` for ``username`` if its stored hash is still the ``verified`` one (a
        password changed meanwhile stays changed); sessions are left alone: the password is the
        same."""
        creds = await writer.ensure_parent(app.id, CREDENTIALS, "")
        found = await writer.get_object_for_update(creds, username)
        record = _doc(found.data) if found is not None else None
        if record is None or record.get("hash") != verified:
            return
        record["hash"] = hashed
        await writer.put(creds, username, lambda ctx: NewVersion(record, creator=str(record["user"])))

    async def set_password(self, writer: Writer, app: AppRecord, user_id: str, password: str) -> None:
        """Replace the password of ``user_id`` and revoke its sessions (reset flow), inside
        ``writer``'s transaction: the caller calls ``sessions.changed(app)`` once it committed."""
        hashed = await self.passwords.hash(password)  # before the users' lock: a hash takes a while
        users = await writer.ensure_parent(app.id, USERS, "")
        current = await writer.get_object_for_update(users, user_id)
        if current is None:
            raise KinveyError("UserNotFound", f"No user {user_id!r}.")
        name = str(_doc(current.data).get("username"))
        await self._move_credentials(writer, app, user_id, name, name, hashed)
        await self.sessions.close_all(writer, app, user_id)
        await revoke(writer, app.id, user_id, ON_CREDENTIALS)

    async def _set_status(self, writer: Writer, app: AppRecord, user_id: str, disabled: bool) -> None:
        users = await writer.ensure_parent(app.id, USERS, "")
        current = await writer.get_object_for_update(users, user_id)
        if current is None:
            raise KinveyError("UserNotFound", f"No user {user_id!r}.")
        doc = _doc(current.data)
        status = {"val": "disabled", "lastChange": iso_of(now_ms())} if disabled else None
        await writer.put(
            users,
            user_id,
            user_builder(doc, user_id, self.policy(users), kmd={"status": status}),
        )
        creds = await writer.ensure_parent(app.id, CREDENTIALS, "")
        name = str(doc.get("username"))
        record_obj = await writer.get_object_for_update(creds, name)
        if record_obj is not None:
            record = {**_doc(record_obj.data), "disabled": disabled}
            await writer.put(creds, name, lambda ctx: NewVersion(record, creator=user_id))
        if disabled:
            await self.sessions.close_all(writer, app, user_id)
            await revoke(writer, app.id, user_id, ON_CREDENTIALS)

    async def delete(self, app: AppRecord, caller: Caller, user_id: str, *, hard: bool) -> None:
        """Disable (soft delete) or remove (hard, master only) a user.

        Raises:
            KinveyError: UserNotFound, InsufficientCredentials.
        """
        if hard and not caller.is_master:
            raise refuse("Only the master secret may hard-delete users.")
        async with self._storage.writer() as writer:
            users = await writer.ensure_parent(app.id, USERS, "")
            current = await writer.get_object_for_update(users, user_id)
            if current is None:
                raise KinveyError("UserNotFound", f"No user {user_id!r}.")
            await check_access(writer, caller, current, "delete")
            if hard:
                await self.sessions.close_all(writer, app, user_id)
                await revoke(writer, app.id, user_id, ON_DELETE)
                creds = await writer.ensure_parent(app.id, CREDENTIALS, "")
                await writer.delete(creds, str(_doc(current.data).get("username")))
                await writer.delete(users, user_id)
            else:
                await self._set_status(writer, app, user_id, True)
        await self.sessions.changed(app)

    async def restore(self, app: AppRecord, user_id: str) -> None:
        async with self._storage.writer() as writer:
            await self._set_status(writer, app, user_id, False)

    async def revoke_sessions(self, app: AppRecord, caller: Caller, user_id: str) -> None:
        if not caller.is_master and caller.user_id != user_id:
            raise refuse("You may only invalidate your own sessions.")
        async with self._storage.writer() as writer:
            await self.sessions.close_all(writer, app, user_id)
            await revoke(writer, app.id, user_id, ON_CREDENTIALS)
        await self.sessions.changed(app)

    async def stored(self, app: AppRecord, user_id: str) -> StoredObject | None:
        async with self._storage.reader() as reader:
            users = await reader.get_parent(app.id, USERS, "")
            return await reader.get_object(users, user_id) if users is not None else None

    async def find_by_login(self, app: AppRecord, login: str) -> list[dict[str, Any]]:
        """Users whose username, ``_id`` or email is ``login`` (the mail helpers)."""
        async with self._storage.reader() as reader:
            users = await reader.get_parent(app.id, USERS, "")
            if users is None:
                return []
            creds = await reader.get_parent(app.id, CREDENTIALS, "")
            record = await reader.get_object(creds, login) if creds is not None else None
            ids = [str(_doc(record.data)["user"])] if record is not None else [login]
            found = [await reader.get_object(users, i) for i in ids]
            docs = [_doc(o.data) for o in found if o is not None]
            if docs:
                return docs
            return [d for d in await self._all(users) if d.get("email") == login]

    async def _all(self, users: ParentRecord) -> list[dict[str, Any]]:
        # Rare paths only (forgot-username, reset by email): a scan of the users of one app.
        async with self._storage.reader() as reader:
            return [_doc(o.data) for o in await reader.find(users, Query())]

    async def verify_email(self, writer: Writer, app: AppRecord, user_id: str, email: str) -> bool:
        users = await writer.ensure_parent(app.id, USERS, "")
        current = await writer.get_object_for_update(users, user_id)
        if current is None:
            return False
        doc = _doc(current.data)
        if doc.get("email") != email:
            return False
        now = iso_of(now_ms())
        verification = {
            "status": "confirmed",
            "lastStateChangeAt": now,
            "lastConfirmedAt": now,
            "emailAddress": email,
        }
        await writer.put(
            users,
            user_id,
            user_builder(doc, user_id, self.policy(users), kmd={"emailVerification": verification}),
        )
        return True
