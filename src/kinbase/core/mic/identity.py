"""Identity sources: who checks the username and password an OAuth login presents.

- The **user store**: kinbase's own users of the app (the same password check and login throttle
  as ``/user/:appKey/login``). A user with multi-factor authentication must add a TOTP code or a
  recovery code; without one the login is refused with :class:`LoginRefused` ``second_factor``.
- **FlexAuth**: ``POST /_auth/<handler>`` of one of the app's Flex services (flex-protocol §5).
  ``200`` with ``"authenticated": true`` accepts the username; ``access_denied`` refuses it;
  ``server_error``/``temporarily_unavailable`` or a service that cannot be reached, times out or
  answers nonsense become ``temporarily_unavailable``/``server_error``: a clean OAuth error, never
  an exception escaping to the front-end. The HTTP call itself belongs to the Flex client
  (:class:`FlexAuthClient`), which owns connections and timeouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.mfa import MfaService
from kinbase.core.kinvey.users import UserService
from kinbase.core.mic.errors import LoginRefused, OAuthError
from kinbase.core.mic.model import AuthService, FlexAuthSource, Identity
from kinbase.core.throttle import LoginThrottle
from kinbase.storage.base import AppRecord

__all__ = ["FlexAuthClient", "FlexAuthReply", "IdentityChecker"]

_RESERVED_ATTRIBUTES = ("token", "authenticated")


@dataclass(frozen=True, slots=True)
class FlexAuthReply:
    """What a FlexAuth handler answered: the HTTP status and the decoded JSON body."""

    status: int
    body: Any


class FlexAuthClient(Protocol):
    """Calls FlexAuth handlers of an app's Flex services."""

    async def flex_auth(
        self, app: AppRecord, service: str, handler: str, body: Mapping[str, Any]
    ) -> FlexAuthReply:
        """``POST /_auth/<handler>`` of the Flex service ``service`` with ``body``.

        Raises:
            KinveyError: when the service is not registered, cannot be reached, does not answer in
                time (``BLTimeoutError``) or answers something that is not JSON.
        """
        ...


class IdentityChecker:
    """Checks a username and password against an auth service's identity source."""

    def __init__(
        self, users: UserService, mfa: MfaService, throttle: LoginThrottle, flex: FlexAuthClient | None
    ) -> None:
        self._users = users
        self._mfa = mfa
        self._throttle = throttle
        self._flex = flex

    async def authenticate(
        self,
        app: AppRecord,
        service: AuthService,
        username: str,
        password: str,
        *,
        address: str | None,
        otp: str | None = None,
    ) -> Identity:
        """The identity the source vouches for.

        Raises:
            LoginRefused: wrong credentials, too many failures lately (the login throttle), or a
                second factor is needed (user store).
            OAuthError: temporarily_unavailable / server_error when the source cannot answer.
        """
        try:
            return await self._authenticate(app, service, username, password, address, otp)
        except KinveyError as exc:
            if exc.name != "LoginThrottled":
                raise
            raise LoginRefused(str(exc.debug or exc.description)) from exc

    async def _authenticate(
        self,
        app: AppRecord,
        service: AuthService,
        username: str,
        password: str,
        address: str | None,
        otp: str | None,
    ) -> Identity:
        if isinstance(service.source, FlexAuthSource):
            key = f"\0mic\0{service.id}\0{username}"
            await self._throttle.check(app.id, key, address)
            identity = await self._flex_identity(app, service, service.source, username, password)
            if isinstance(identity, str):
                await self._throttle.failed(app.id, key, address)
                raise LoginRefused(identity)
            await self._throttle.succeeded(app.id, key)
            return identity
        user_id = await self._users.check_password(app, username, password, address)  # throttled
        if user_id is None:
            raise LoginRefused("Wrong username or password.")
        if await self._mfa.verified(app, user_id):
            if not otp:
                raise LoginRefused("Enter the code of your authenticator app.", second_factor=True)
            if not await self._mfa.check_code(app, user_id, otp, address):
                raise LoginRefused("The one-time code is not valid.", second_factor=True)
        return Identity(service.id, user_id, {}, local=True)

    async def _flex_identity(
        self, app: AppRecord, service: AuthService, source: FlexAuthSource, username: str, password: str
    ) -> Identity | str:
        """The identity, or why the handler refused it."""
        if self._flex is None:
            raise OAuthError("temporarily_unavailable", "No Flex service can be called by this server.")
        body = {"username": username, "password": password, "options": {}}
        try:
            reply = await self._flex.flex_auth(app, source.service, source.handler, body)
        except KinveyError as exc:
            reason = "did not answer in time" if exc.name == "BLTimeoutError" else "cannot be reached"
            raise OAuthError(
                "temporarily_unavailable", f"The authentication service {source.service!r} {reason}."
            ) from exc
        answer = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 200 and answer.get("authenticated") is True:
            attributes = {k: v for k, v in answer.items() if k not in _RESERVED_ATTRIBUTES}
            return Identity(service.id, username, attributes)
        error = answer.get("error")
        description = answer.get("error_description")
        text = description[:500] if isinstance(description, str) and description else None
        if error == "temporarily_unavailable":
            raise OAuthError("temporarily_unavailable", text or "The authentication service is unavailable.")
        if error == "server_error" or reply.status >= 500:
            raise OAuthError("server_error", text or "The authentication service failed.")
        if error == "InvalidCredentials":  # the service refused kinbase's shared secret (X-Auth-Key)
            raise OAuthError(
                "server_error", "The authentication service refused this server's shared secret."
            )
        return text if text is not None and error == "access_denied" else "Wrong username or password."
