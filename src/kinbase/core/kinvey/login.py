"""The Kinvey login decision: password, second factor, social identity, then a session.

``POST /user/:appKey/login`` takes one of:

- ``{"_socialIdentity": {"kinveyAuth": {"access_token", ...}}}``: an identity kinbase's
  authorization server issued a token for (:mod:`kinbase.core.kinvey.social`); answers the linked
  user with a session, or ``UserNotFound`` (the SDKs then sign up with the same body).
- ``{"username", "password"}``, optionally with ``recoveryCode`` or ``deviceToken`` (API v6). A
  user without a verified authenticator gets the classic answer: the user with
  ``_kmd.authtoken``. A user with one gets an MFA challenge (:class:`MfaChallenge`), unless the
  request carries a recovery code (spent) or a live device token of that user.

Before API version 6 a client cannot answer a challenge, so such a user is refused with
``FeatureUnavailable`` rather than let in on the password alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinbase.core.ids import object_id
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.mfa import MfaChallenge, MfaService
from kinbase.core.kinvey.sessions import SessionService
from kinbase.core.kinvey.social import AccessTokens, Identity, Linked, kinvey_auth, link, linked_user
from kinbase.core.kinvey.users import CREDENTIALS, USERS, UserService, user_builder, user_with_token
from kinbase.core.kinvey.wire import iso_of
from kinbase.core.private import fields
from kinbase.core.throttle import LoginThrottle
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend
from kinbase.storage.stamps import now_ms

__all__ = ["LoginOutcome", "LoginService", "Opened"]

MFA_API_VERSION = 6


@dataclass(frozen=True, slots=True)
class Opened:
    """A new session: the user as its owner sees it (with ``_kmd.authtoken``), the token, and a
    device token when the MFA login asked for one."""

    user: dict[str, Any]
    token: str
    device_token: str | None = None

    def mfa_body(self) -> dict[str, Any]:
        """The answer of ``mfa/complete`` (and of a v6 login that says ``mfaRequired: false``)."""
        body: dict[str, Any] = {"mfaRequired": False, "user": self.user, "authToken": self.token}
        if self.device_token is not None:
            body["deviceToken"] = self.device_token
        return body


LoginOutcome = Opened | MfaChallenge


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise KinveyError("BadRequest", f"{name} must be a non-empty string of at most {limit} characters.")
    return value


class LoginService:
    """Logins of Kinvey users, with MFA and social identities."""

    def __init__(
        self,
        storage: StorageBackend,
        users: UserService,
        sessions: SessionService,
        mfa: MfaService,
        throttle: LoginThrottle,
        tokens: AccessTokens | None = None,
    ) -> None:
        self._storage = storage
        self._users = users
        self._sessions = sessions
        self._mfa = mfa
        self._throttle = throttle
        self._tokens = tokens

    async def login(
        self, app: AppRecord, body: Any, *, address: str | None, api_version: int = MFA_API_VERSION
    ) -> LoginOutcome:
        """Decide a login (see the module docstring).

        Raises:
            KinveyError: InvalidCredentials, LoginThrottled, UserNotFound (social identity not
                linked), FeatureUnavailable (MFA before API v6), BadRequest.
        """
        if not isinstance(body, dict):
            raise KinveyError("BadRequest", "The login body must be a JSON object.")
        if "_socialIdentity" in body and "username" not in body:
            return await self._social_login(app, body["_socialIdentity"])
        username = _text(body, "username", 256)
        password = body.get("password")
        if not isinstance(password, str):
            raise KinveyError("BadRequest", "password is required.")
        # The password check goes through the login throttle (shared by every worker).
        user_id = await self._users.check_password(app, username, password, address)
        if user_id is None:
            raise KinveyError("InvalidCredentials", "Wrong username or password, or the user is disabled.")
        authenticators = await self._mfa.verified(app, user_id)
        if authenticators and not await self._second_factor_given(app, user_id, body):
            if "recoveryCode" in body:
                await self._throttle.failed(app.id, username, address)
                raise KinveyError("InvalidCredentials", "The recovery code is not valid or was used already.")
            if api_version < MFA_API_VERSION:
                raise KinveyError(
                    "FeatureUnavailable", "This user logs in with a second factor: use API version 6."
                )
            return await self._mfa.begin(app, user_id, authenticators)
        return await self.open(app, user_id)

    async def _second_factor_given(self, app: AppRecord, user_id: str, body: dict[str, Any]) -> bool:
        if "recoveryCode" in body:
            return await self._mfa.redeem_recovery_code(app, user_id, body["recoveryCode"])
        return "deviceToken" in body and await self._mfa.device_token_valid(app, user_id, body["deviceToken"])

    async def complete_mfa(self, app: AppRecord, mfa_token: str, body: Any, address: str | None) -> Opened:
        """``mfa/complete``: spend the MFA session with a code and open the session.

        Raises:
            KinveyError: InvalidCredentials, BadRequest, LoginThrottled.
        """
        user_id, device = await self._mfa.complete(app, mfa_token, body, address)
        opened = await self.open(app, user_id)
        return Opened(opened.user, opened.token, device)

    async def open(self, app: AppRecord, user_id: str, *, social: dict[str, Any] | None = None) -> Opened:
        """Open a session for an enabled user and record its last login time (``_kmd.llt``).

        Raises:
            KinveyError: InvalidCredentials if the user is gone or disabled.
        """
        async with self._storage.writer() as writer:
            users = await writer.ensure_parent(app.id, USERS, "")
            current = await writer.get_object_for_update(users, user_id)
            doc = fields(current) if current is not None else None
            if doc is None or "status" in (doc.get("_kmd") or {}):
                raise KinveyError("InvalidCredentials", "The user was removed or disabled.")
            kmd = {"llt": iso_of(now_ms())}
            stored = await writer.put(
                users, user_id, user_builder(doc, user_id, UserService.policy(users), kmd=kmd)
            )
            token = await self._sessions.open(writer, app, user_id)
        user = user_with_token(stored.object.data, token)
        if social is not None:
            user["_socialIdentity"] = social
        return Opened(user, token)

    # -- social identities --------------------------------------------------------------------
    async def _identity(self, app: AppRecord, social: Any) -> tuple[Identity, dict[str, Any]]:
        presented = kinvey_auth(social)
        identity = (
            await self._tokens.identity_for_access_token(app, presented["access_token"])
            if self._tokens is not None
            else None
        )
        if identity is None:
            raise KinveyError("InvalidCredentials", "The kinveyAuth access token is unknown or expired.")
        return identity, {"kinveyAuth": {**presented, "id": identity.subject}}

    async def _social_login(self, app: AppRecord, social: Any) -> Opened:
        identity, echo = await self._identity(app, social)
        async with self._storage.reader() as reader:
            user_id = await linked_user(reader, app.id, identity)
        if user_id is None:
            raise KinveyError("UserNotFound", "No user is linked to this identity yet: sign up with it.")
        return await self.open(app, user_id, social=echo)

    async def signup_social(self, app: AppRecord, body: dict[str, Any]) -> Opened:
        """``POST /user/:appKey`` with ``_socialIdentity``: create the user linked to the identity
        (a random username, no password: it logs in only through its identity) with a session.
        Other fields of the body become profile fields as in a normal sign-up.

        Raises:
            KinveyError: UserAlreadyExists (linked already), InvalidCredentials, BadRequest.
        """
        identity, echo = await self._identity(app, body.get("_socialIdentity"))
        if identity.local:
            return await self.open(app, identity.subject, social=echo)
        profile = {k: v for k, v in body.items() if k not in ("_socialIdentity", "password", "username")}
        user_id, username = object_id(), object_id()
        async with self._storage.writer() as writer:
            try:
                await link(writer, app.id, identity, user_id)
            except Linked:
                raise KinveyError("UserAlreadyExists", "This identity has a user already: log in.") from None
            users = await writer.ensure_parent(app.id, USERS, "")
            creds = await writer.ensure_parent(app.id, CREDENTIALS, "")
            profile["username"] = username
            await writer.put(users, user_id, user_builder(profile, user_id, UserService.policy(users)))
            # An empty hash never verifies: this user has no password to guess.
            await writer.put(
                creds, username, lambda ctx: NewVersion({"user": user_id, "hash": ""}, creator=user_id)
            )
        return await self.open(app, user_id, social=echo)
