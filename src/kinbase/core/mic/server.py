"""The OAuth 2.0 authorization server behind Mobile Identity Connect (``/oauth/auth``,
``/oauth/token`` and their ``/v2``, ``/v3`` twins).

The flows the Kinvey SDKs drive:

- **Authorization code, through a login page** (``loginWithMIC`` with a popup, or any browser):
  :meth:`AuthorizationServer.authorize` validates ``client_id``, ``redirect_uri`` (exact match
  with a registered one) and ``response_type=code`` and returns a :class:`LoginPage` with a signed
  state; :meth:`~AuthorizationServer.login` checks the username and password of the form against
  the service's identity source and answers the location ``redirect_uri?code=…&state=…``; the
  client exchanges the code at the token endpoint (``authorization_code`` grant). The legacy SDKs'
  ``AuthorizationCodeAPI`` flow is the same with the page's URL (``temp_login_uri``) posted to
  directly.
- **Resource owner password** (``loginWithMICUsingResourceOwnerCredentials``): the ``password``
  grant.
- **Refresh** (automatic, when a Kinvey session is refused): the ``refresh_token`` grant, which
  rotates the refresh token.

Clients authenticate with HTTP Basic ``client_id:app secret`` (or the master secret). Every
failure is an :class:`~kinbase.core.mic.errors.OAuthError` with its RFC 6749 name.

Why no OAuth library: Authlib's and oauthlib's server parts call back into the application
synchronously (``query_client``, ``authenticate_user``, ``save_token``...), while every callback
here is a database read or a Flex HTTP call on an async core; the protocol surface kinbase needs
(three grants, one response type, exact redirect URIs) is small, and the parts that are not (code
reuse revocation, refresh-token families) are ours anyway. ``docs/decisions.md`` has the longer
argument.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kinbase.core.apps import AppService
from kinbase.core.mic.errors import LoginRefused, OAuthError
from kinbase.core.mic.identity import IdentityChecker
from kinbase.core.mic.model import DEFAULT_SERVICE, AuthService, AuthServiceDirectory, Identity
from kinbase.core.mic.state import StateSigner
from kinbase.core.mic.tokens import TokenPair, TokenStore
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.stamps import now_ms

__all__ = ["AuthorizationServer", "LoginPage", "TokenRequest", "with_params"]

GRANTS = ("authorization_code", "password", "refresh_token")
_MAX_PARAM = 2048


@dataclass(frozen=True, slots=True)
class LoginPage:
    """What the login page shows and posts back: the app and service, and the signed state."""

    app: AppRecord
    service: AuthService
    client_id: str
    redirect_uri: str
    state: str


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A token endpoint request as the front-end parsed it (form fields and the Basic header).

    Attributes:
        basic: ``(client_id, secret)`` from ``Authorization: Basic``, if sent.
    """

    grant_type: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    basic: tuple[str, str] | None = None
    code: str | None = None
    redirect_uri: str | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None


def with_params(uri: str, params: dict[str, str]) -> str:
    """``uri`` with ``params`` added to its query (its own query and path kept as registered)."""
    parts = urlsplit(uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *((k, v) for k, v in params.items() if v)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _param(value: str | None, name: str) -> str:
    if not value:
        raise OAuthError("invalid_request", f"The parameter {name!r} is missing.")
    if len(value) > _MAX_PARAM:
        raise OAuthError("invalid_request", f"The parameter {name!r} is too long.")
    return value


class AuthorizationServer:
    """Kinbase's OAuth 2.0 authorization server for every app."""

    def __init__(
        self,
        storage: StorageBackend,
        apps: AppService,
        directory: AuthServiceDirectory,
        identities: IdentityChecker,
        secret: Callable[[], bytes],
        *,
        clock: Callable[[], int] = now_ms,
        code_seconds: int = 60,
        access_token_seconds: int = 3600,
        refresh_token_seconds: int = 90 * 86400,
        login_page_seconds: int = 900,
    ) -> None:
        self._apps = apps
        self._directory = directory
        self._identities = identities
        self.tokens = TokenStore(
            storage,
            clock,
            code_seconds=code_seconds,
            access_seconds=access_token_seconds,
            refresh_seconds=refresh_token_seconds,
        )
        self._states = StateSigner(secret, clock, login_page_seconds * 1000)

    async def client(self, client_id: str) -> tuple[AppRecord, AuthService] | None:
        """The app and auth service of ``client_id`` (``APP_KEY`` or ``APP_KEY.<service>``), or None.

        An app key may itself contain dots: the whole id is tried as an app key first (its
        ``default`` service), then the part before the last dot.
        """
        if not client_id or len(client_id) > 200:
            return None
        app = await self._apps.get(client_id)
        if app is not None:
            service = await self._directory.auth_service(app, DEFAULT_SERVICE)
            return (app, service) if service is not None else None
        key, dot, service_id = client_id.rpartition(".")
        if not dot or not service_id or service_id == DEFAULT_SERVICE:
            return None
        app = await self._apps.get(key)
        service = await self._directory.auth_service(app, service_id) if app is not None else None
        return (app, service) if app is not None and service is not None else None

    # -- the login page -----------------------------------------------------------------------
    async def authorize(
        self, client_id: str | None, redirect_uri: str | None, response_type: str | None, state: str | None
    ) -> LoginPage:
        """Validate an authorization request (``GET /oauth/auth``) and give the login page.

        Raises:
            OAuthError: invalid_request (unknown client, unregistered redirect URI: shown on the
                page, never redirected), unsupported_response_type (redirected).
        """
        client = await self.client(_param(client_id, "client_id"))
        if client is None:
            raise OAuthError("invalid_request", "The client_id is not an auth service of any app.")
        app, service = client
        uri = _param(redirect_uri, "redirect_uri")
        if not service.allows_redirect(uri):
            raise OAuthError("invalid_request", "The redirect_uri is not registered for this client.")
        given_state = (state or "")[:_MAX_PARAM]
        if response_type != "code":
            raise OAuthError(
                "unsupported_response_type",
                "Only response_type=code is supported.",
                location=with_params(uri, {"error": "unsupported_response_type", "state": given_state}),
            )
        assert client_id is not None
        signed = self._states.sign(client_id, uri, given_state)
        return LoginPage(app, service, client_id, uri, signed)

    async def page(self, signed_state: str) -> LoginPage:
        """The login page of a signed state (to show the form again).

        Raises:
            OAuthError: invalid_request if the state is forged, expired or its client is gone.
        """
        login = self._states.open(signed_state or "")
        client = await self.client(login.client_id) if login is not None else None
        if login is None or client is None or not client[1].allows_redirect(login.redirect_uri):
            raise OAuthError(
                "invalid_request", "This login form is invalid or expired: start the login again."
            )
        return LoginPage(client[0], client[1], login.client_id, login.redirect_uri, signed_state)

    async def login(
        self,
        signed_state: str,
        username: str | None,
        password: str | None,
        *,
        otp: str | None = None,
        address: str | None = None,
    ) -> str:
        """Check the login form and answer where to send the browser: the redirect URI with a
        new authorization code (and the client's ``state``).

        Raises:
            LoginRefused: wrong credentials or a missing second factor (show the form again).
            OAuthError: invalid_request for a bad form state (no location); an identity source
                that cannot answer (with a location: the error goes back to the client).
            KinveyError: LoginThrottled.
        """
        page = await self.page(signed_state)
        login = self._states.open(signed_state)
        assert login is not None
        if not username or not password or len(username) > 256 or len(password) > 1024:
            raise LoginRefused("Enter your username and password.")
        try:
            identity = await self._identities.authenticate(
                page.app, page.service, username, password, address=address, otp=otp or None
            )
        except LoginRefused:
            raise
        except OAuthError as exc:
            error = {"error": exc.error, "error_description": exc.description, "state": login.state}
            raise OAuthError(
                exc.error, exc.description, location=with_params(page.redirect_uri, error)
            ) from exc
        code = await self.tokens.issue_code(page.app, page.client_id, page.redirect_uri, identity)
        return with_params(page.redirect_uri, {"code": code, "state": login.state})

    def refused_location(self, page: LoginPage, error: OAuthError) -> str:
        """Where a login form posted by a client (not a person) sends a refusal: the redirect
        URI with ``error``, ``error_description`` and the client's ``state``."""
        login = self._states.open(page.state)
        params = {
            "error": error.error,
            "error_description": error.description,
            "state": login.state if login is not None else "",
        }
        return with_params(page.redirect_uri, params)

    # -- the token endpoint -------------------------------------------------------------------
    async def _authenticate_client(self, request: TokenRequest) -> tuple[AppRecord, AuthService, str]:
        if request.basic is not None:
            client_id, secret = request.basic
            if request.client_id and request.client_id != client_id:
                raise OAuthError("invalid_request", "The client_id differs from the authenticated client.")
        else:
            client_id, secret = request.client_id or "", request.client_secret or ""
        if not client_id or not secret:
            raise OAuthError("invalid_client", "Authenticate the client with Basic client_id:app secret.")
        client = await self.client(client_id)
        given = secret.encode()
        if client is None or not (
            hmac.compare_digest(given, client[0].app_secret.encode())
            or hmac.compare_digest(given, client[0].master_secret.encode())
        ):
            raise OAuthError("invalid_client", "Unknown client or wrong client secret.")
        return client[0], client[1], client_id

    async def token(self, request: TokenRequest, *, address: str | None = None) -> TokenPair:
        """Answer the token endpoint (``POST /oauth/token``).

        Raises:
            OAuthError: invalid_client, invalid_request, unsupported_grant_type,
                unauthorized_client, invalid_grant, temporarily_unavailable, server_error.
            KinveyError: LoginThrottled (password grant).
        """
        app, service, client_id = await self._authenticate_client(request)
        grant = request.grant_type
        if not grant:
            raise OAuthError("invalid_request", "The parameter 'grant_type' is missing.")
        if grant not in GRANTS:
            raise OAuthError("unsupported_grant_type", f"The grant type {grant[:64]!r} is not supported.")
        if grant == "authorization_code":
            code = _param(request.code, "code")
            uri = _param(request.redirect_uri, "redirect_uri")
            if not service.redirect_uris:
                raise OAuthError(
                    "unauthorized_client", "This client has no redirect URI: it cannot use codes."
                )
            return await self.tokens.redeem_code(app, client_id, uri, code)
        if grant == "refresh_token":
            return await self.tokens.refresh(app, client_id, _param(request.refresh_token, "refresh_token"))
        username = _param(request.username, "username")
        password = _param(request.password, "password")
        try:
            identity = await self._identities.authenticate(app, service, username, password, address=address)
        except LoginRefused as exc:
            reason = (
                "This user must log in on the login page with a one-time code."
                if exc.second_factor
                else exc.description
            )
            raise OAuthError("invalid_grant", reason) from exc
        return await self.tokens.issue(app, client_id, identity)

    async def identity_for_access_token(self, app: AppRecord, token: str) -> Identity | None:
        """The identity of a live access token of ``app`` (``_socialIdentity`` logins)."""
        return await self.tokens.identity(app, token)
