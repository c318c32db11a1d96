"""Multi-factor authentication of Kinvey users (API v6): enrolment, the login challenge, devices.

Enrolment: ``create_authenticator`` answers the TOTP secret and its ``otpauth://`` URI once;
``verify_authenticator`` checks a first code and, for the user's first authenticator, issues the
recovery codes. Login: a user with a verified authenticator who presents neither a live device
token nor a recovery code gets an MFA session (:meth:`MfaService.begin`): a short-lived, single-use
bearer token, stored as a digest in ``kinvey.mfa_sessions``, that only ``mfa/challenge`` and
``mfa/complete`` accept. ``complete`` spends it with a valid TOTP code (or a recovery code); a
wrong code counts against the session (``MAX_ATTEMPTS``) and against the user in the login
throttle.

Who may do what: the user itself (its session) or the master secret manage authenticators and
recovery codes; an MFA session may enrol an authenticator only for its own user and only while
that user has no verified one (a password alone must never let anyone add a second factor).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kinbase.core.kinvey.access import Caller, refuse
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.mfa import totp
from kinbase.core.kinvey.mfa.authenticators import Authenticator, AuthenticatorStore
from kinbase.core.kinvey.mfa.codes import DeviceTokens, RecoveryCodes
from kinbase.core.permissions import user_principal
from kinbase.core.private import digest, fields, owner_grants
from kinbase.core.throttle import LoginThrottle
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend, WriteContext, Writer
from kinbase.storage.stamps import now_ms

__all__ = ["BAD_CODE", "MAX_ATTEMPTS", "MFA_SESSIONS", "MfaChallenge", "MfaService"]

MFA_SESSIONS = "kinvey.mfa_sessions"
MAX_ATTEMPTS = 5
BAD_CODE = "Your request body contained invalid or incorrectly formatted data."
_USERS = "kinvey.users"


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """The login answer of a user who must pass the second factor."""

    token: str
    user_id: str
    authenticators: list[dict[str, Any]]

    def body(self) -> dict[str, Any]:
        return {
            "mfaRequired": True,
            "mfaSessionToken": self.token,
            "userId": self.user_id,
            "authenticators": self.authenticators,
        }


def _bad_code(debug: str) -> KinveyError:
    return KinveyError("BadRequest", debug, description=BAD_CODE)


def _code(body: Any) -> str:
    code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        raise KinveyError("BadRequest", "code must be a non-empty string.")
    return code


def _session_gone() -> KinveyError:
    return KinveyError("InvalidCredentials", "The MFA session is unknown, used or expired: log in again.")


class MfaService:
    """Authenticators, recovery codes, MFA sessions and device tokens of the users of an app."""

    def __init__(
        self,
        storage: StorageBackend,
        throttle: LoginThrottle,
        *,
        clock: Callable[[], int] = now_ms,
        session_seconds: int = 300,
        device_token_seconds: int = 30 * 86400,
        recovery_codes: int = 10,
    ) -> None:
        self._storage = storage
        self._throttle = throttle
        self._clock = clock
        self._session_ms = session_seconds * 1000
        self.authenticators = AuthenticatorStore(clock)
        self.recovery = RecoveryCodes(recovery_codes)
        self.devices = DeviceTokens(clock, device_token_seconds * 1000)

    # -- enrolment ------------------------------------------------------------------------------
    async def _username(self, app: AppRecord, user_id: str) -> str:
        found = await self._user(app, user_id)
        return str(fields(found).get("username") or user_id)

    async def _user(self, app: AppRecord, user_id: str) -> Any:
        async with self._storage.reader() as reader:
            found = await reader.get_child(app.id, _USERS, "", user_id)
        if found is None:
            raise KinveyError("UserNotFound", f"No user {user_id!r}.")
        return found

    def _allow(self, caller: Caller | None, user_id: str) -> None:
        if caller is None or not (caller.is_master or caller.user_id == user_id):
            raise refuse("Only the user itself or the master secret may manage its authenticators.")

    async def _allow_enrolment(
        self, app: AppRecord, caller: Caller | None, user_id: str, mfa_user: str | None
    ) -> None:
        if mfa_user is None or caller is not None:
            self._allow(caller, user_id)
            return
        if mfa_user != user_id or await self.verified(app, user_id):
            raise refuse("An MFA session may only enrol the first authenticator of its own user.")

    async def create_authenticator(
        self, app: AppRecord, caller: Caller | None, user_id: str, body: Any, *, mfa_user: str | None = None
    ) -> dict[str, Any]:
        """Create an unverified TOTP authenticator: ``{id, name, type, config}`` with the secret.

        Raises:
            KinveyError: BadRequest, UserNotFound, InsufficientCredentials.
        """
        name, kind = self.authenticators.parse_new(body)
        await self._allow_enrolment(app, caller, user_id, mfa_user)
        account = await self._username(app, user_id)
        async with self._storage.writer() as writer:
            aid, secret = await self.authenticators.create(writer, app.id, user_id, name, kind)
        config = totp.otpauth_config(secret, account=account, issuer=app.name)
        return {"id": aid, "name": name, "type": kind, "config": config}

    async def verify_authenticator(
        self,
        app: AppRecord,
        caller: Caller | None,
        user_id: str,
        authenticator_id: str,
        body: Any,
        *,
        mfa_user: str | None = None,
    ) -> list[str]:
        """Check a first code of an authenticator; the recovery codes when it is the user's first
        verified authenticator (they are shown this once), else an empty list.

        Raises:
            KinveyError: BadRequest (wrong code), EntityNotFound, InsufficientCredentials.
        """
        code = _code(body)
        await self._allow_enrolment(app, caller, user_id, mfa_user)
        async with self._storage.writer() as writer:
            found = await self.authenticators.get(writer, app.id, user_id, authenticator_id)
            if found is None:
                raise _not_found()
            first = not await self.authenticators.list(writer, app.id, user_id)
            accepted = await self.authenticators.accept(writer, app.id, user_id, authenticator_id, code)
            if accepted and first:
                return await self.recovery.replace(writer, app.id, user_id)
        if not accepted:
            raise _bad_code("The code is not valid for this authenticator, or it was used already.")
        return []

    async def list_authenticators(
        self, app: AppRecord, caller: Caller | None, user_id: str
    ) -> list[dict[str, Any]]:
        self._allow(caller, user_id)
        return [a.summary() for a in await self.verified(app, user_id)]

    async def delete_authenticator(
        self, app: AppRecord, caller: Caller | None, user_id: str, authenticator_id: str
    ) -> None:
        """Remove an authenticator; removing the last verified one turns MFA off for the user
        (its recovery codes and device tokens are revoked with it).

        Raises:
            KinveyError: EntityNotFound, InsufficientCredentials.
        """
        self._allow(caller, user_id)
        async with self._storage.writer() as writer:
            if not await self.authenticators.delete(writer, app.id, user_id, authenticator_id):
                raise _not_found()
            if not await self.authenticators.list(writer, app.id, user_id):
                await self.recovery.revoke(writer, app.id, user_id)
                await self.devices.revoke(writer, app.id, user_id)

    async def remaining_recovery_codes(self, app: AppRecord, caller: Caller | None, user_id: str) -> int:
        """How many unused recovery codes the user holds (their text is never stored)."""
        self._allow(caller, user_id)
        async with self._storage.reader() as reader:
            return await self.recovery.remaining(reader, app.id, user_id)

    async def regenerate_recovery_codes(
        self, app: AppRecord, caller: Caller | None, user_id: str
    ) -> list[str]:
        """Revoke the user's recovery codes and issue new ones.

        Raises:
            KinveyError: BadRequest when the user has no verified authenticator.
        """
        self._allow(caller, user_id)
        async with self._storage.writer() as writer:
            if not await self.authenticators.list(writer, app.id, user_id):
                raise KinveyError("BadRequest", "Multi-factor authentication is not enabled for this user.")
            return await self.recovery.replace(writer, app.id, user_id)

    # -- login ----------------------------------------------------------------------------------
    async def verified(self, app: AppRecord, user_id: str) -> list[Authenticator]:
        """The user's verified authenticators: MFA is required at login when there is one."""
        async with self._storage.reader() as reader:
            return await self.authenticators.list(reader, app.id, user_id)

    async def begin(self, app: AppRecord, user_id: str, authenticators: list[Authenticator]) -> MfaChallenge:
        """Open an MFA session for a user whose password was right."""
        token = secrets.token_urlsafe(32)
        record: dict[str, Any] = {
            "user": user_id,
            "expires": self._clock() + self._session_ms,
            "authenticator": None,
            "attempts": 0,
        }
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, MFA_SESSIONS, "")
            await writer.put(
                parent,
                digest(token),
                lambda ctx: NewVersion(record, creator=user_id, grants=owner_grants(user_principal(user_id))),
            )
        return MfaChallenge(token, user_id, [a.summary() for a in authenticators])

    async def _session(self, app: AppRecord, token: str) -> dict[str, Any] | None:
        if not token or len(token) > 512:
            return None
        async with self._storage.reader() as reader:
            found = await reader.get_child(app.id, MFA_SESSIONS, "", digest(token))
        if found is None:
            return None
        record = fields(found)
        return record if int(record["expires"]) > self._clock() else None

    async def session_user(self, app: AppRecord, token: str) -> str | None:
        """The user of a live MFA session token (``Authorization: KinveyMFA <token>``), or None."""
        record = await self._session(app, token)
        return str(record["user"]) if record is not None else None

    async def challenge(self, app: AppRecord, token: str, body: Any) -> None:
        """Select the authenticator whose code ``complete`` will expect (TOTP sends nothing).

        Raises:
            KinveyError: InvalidCredentials (no live MFA session), BadRequest, EntityNotFound.
        """
        aid = body.get("authenticatorId") if isinstance(body, dict) else None
        if not isinstance(aid, str) or not aid:
            raise KinveyError("BadRequest", "authenticatorId must be a non-empty string.")
        record = await self._session(app, token)
        if record is None:
            raise _session_gone()
        user_id = str(record["user"])
        if aid not in {a.id for a in await self.verified(app, user_id)}:
            raise _not_found()

        def choose(ctx: WriteContext) -> NewVersion:
            if ctx.current is None:
                raise _session_gone()  # completed meanwhile: nothing is written
            return NewVersion({**fields(ctx.current), "authenticator": aid})

        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, MFA_SESSIONS, "")
            await writer.put(parent, digest(token), choose)

    async def complete(
        self, app: AppRecord, token: str, body: Any, address: str | None
    ) -> tuple[str, str | None]:
        """Spend the MFA session with a TOTP code (or a recovery code): the user id, and a new
        device token when ``createDeviceToken`` is true.

        Raises:
            KinveyError: InvalidCredentials (no live MFA session, or too many wrong codes),
                BadRequest (wrong code), LoginThrottled.
        """
        code = _code(body)
        want_device = isinstance(body, dict) and body.get("createDeviceToken") is True
        record = await self._session(app, token)
        if record is None:
            raise _session_gone()
        user_id = str(record["user"])
        key = f"\0mfa\0{user_id}"
        await self._throttle.check(app.id, key, address)
        device: str | None = None
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, MFA_SESSIONS, "")
            removed = await writer.delete(parent, digest(token))  # the lock: one completion only
            current = fields(removed[1]) if removed is not None else None
            if current is None or int(current["expires"]) <= self._clock():
                outcome = "gone"
            elif await self._accept(writer, app, user_id, current.get("authenticator"), code):
                outcome = "ok"
                if want_device:
                    device = await self.devices.issue(writer, app.id, user_id)
            else:
                outcome = "wrong"
                attempts = int(current["attempts"]) + 1
                if attempts < MAX_ATTEMPTS:
                    kept = {**current, "attempts": attempts}
                    await writer.put(parent, digest(token), lambda ctx: NewVersion(kept))
        if outcome == "gone":
            raise _session_gone()
        if outcome == "wrong":
            await self._throttle.failed(app.id, key, address)
            raise _bad_code("The code is not valid, or it was used already.")
        await self._throttle.succeeded(app.id, key)
        return user_id, device

    async def _accept(self, writer: Writer, app: AppRecord, user_id: str, chosen: Any, code: str) -> bool:
        candidates = (
            [chosen]
            if isinstance(chosen, str)
            else [a.id for a in await self.authenticators.list(writer, app.id, user_id)]
        )
        for aid in candidates:
            if await self.authenticators.accept(writer, app.id, user_id, aid, code):
                return True
        return await self.recovery.redeem(writer, app.id, user_id, code)

    async def check_code(self, app: AppRecord, user_id: str, code: str, address: str | None) -> bool:
        """Whether ``code`` is a valid TOTP code of one of the user's verified authenticators, or
        one of its recovery codes (then spent). Wrong codes count in the login throttle.

        Raises:
            KinveyError: LoginThrottled.
        """
        key = f"\0mfa\0{user_id}"
        await self._throttle.check(app.id, key, address)
        async with self._storage.writer() as writer:
            accepted = await self._accept(writer, app, user_id, None, code)
        if accepted:
            await self._throttle.succeeded(app.id, key)
        else:
            await self._throttle.failed(app.id, key, address)
        return accepted

    async def redeem_recovery_code(self, app: AppRecord, user_id: str, code: Any) -> bool:
        """Spend a recovery code of ``user_id`` at login (instead of a TOTP code)."""
        if not isinstance(code, str):
            return False
        async with self._storage.writer() as writer:
            return await self.recovery.redeem(writer, app.id, user_id, code)

    async def device_token_valid(self, app: AppRecord, user_id: str, token: Any) -> bool:
        async with self._storage.reader() as reader:
            return await self.devices.valid(reader, app.id, user_id, token)

    async def revoke_device_tokens(self, app: AppRecord, caller: Caller | None, user_id: str) -> int:
        """Forget every trusted device of the user (they will be asked for a code again)."""
        self._allow(caller, user_id)
        async with self._storage.writer() as writer:
            return await self.devices.revoke(writer, app.id, user_id)


def _not_found() -> KinveyError:
    return KinveyError(
        "EntityNotFound", "No such authenticator.", description="Could not find the specified authenticator."
    )
