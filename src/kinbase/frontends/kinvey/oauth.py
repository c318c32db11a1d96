"""Kinvey's auth host (Mobile Identity Connect): the OAuth 2.0 endpoints the SDKs call as
``micHostname``, served under ``/oauth``, ``/v2/oauth`` and ``/v3/oauth`` alike.

- ``GET …/oauth/auth?client_id&redirect_uri&response_type=code[&state]``: the login page (plain
  HTML, no JavaScript). A request whose client or redirect URI cannot be trusted gets an error
  page, never a redirect (RFC 6749 §4.1.2.1); other errors go back to the redirect URI.
- ``POST …/oauth/auth`` (form ``client_id, redirect_uri, response_type``): the legacy SDKs'
  ``AuthorizationCodeAPI`` flow, answered with ``{"temp_login_uri"}``, the form's URL.
- ``POST …/oauth/login``: the form (``state``, ``username``, ``password``, ``otp``). Success: a
  ``302`` to ``redirect_uri?code=…&state=…``. Wrong credentials: the form again (``401``), or,
  for the legacy API flow, a ``302`` to ``redirect_uri?error=access_denied&…``. An identity source
  that cannot answer: a ``302`` to ``redirect_uri?error=temporarily_unavailable|server_error``.
- ``POST …/oauth/token`` (form, or JSON): the ``authorization_code``, ``password`` and
  ``refresh_token`` grants, the client authenticated with ``Basic client_id:app secret``; errors
  as ``{"error", "error_description", "description", "debug"}`` (RFC 6749 §5.2, with the
  ``description`` the Kinvey SDKs show), never a 5xx.

The protocol itself is :class:`kinbase.core.mic.server.AuthorizationServer`'s; this module only
parses forms and renders pages and redirects.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from kinbase import jsonutil
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.mic import LoginPage, LoginRefused, OAuthError, TokenRequest
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.frontends.kinvey.auth import parse_basic
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, json_response, redirect

__all__ = ["authorize_api", "authorize_page", "login_submit", "token"]

_FORM_LIMIT = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE_HEADERS = {
    **_NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:.8rem}}
input,button{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box}}
button{{margin-top:1.2rem}}
.error{{color:#a00000;border-left:.25rem solid #a00000;padding-left:.6rem}}</style>
</head><body><main><h1>{title}</h1>{body}</main></body></html>"""


def _page(title: str, body: str, status: int = 200) -> HttpResponse:
    text = _PAGE.format(title=html.escape(title), body=body)
    return HttpResponse(status, text.encode(), {"Content-Type": "text/html; charset=utf-8", **_PAGE_HEADERS})


def _error_page(message: str, status: int = 400) -> HttpResponse:
    return _page("Sign-in problem", f'<p class="error" role="alert">{html.escape(message)}</p>', status)


def _login_form(
    page: LoginPage, message: str | None = None, *, otp: bool = False, status: int = 200
) -> HttpResponse:
    alert = f'<p class="error" role="alert" id="problem">{html.escape(message)}</p>' if message else ""
    described = ' aria-describedby="problem"' if message else ""
    otp_field = (
        '<label for="otp">One-time code (from your authenticator app, or a recovery code)</label>'
        f'<input id="otp" name="otp" autocomplete="one-time-code" required{described}>'
        if otp
        else ""
    )
    body = (
        f"<p>Sign in to <strong>{html.escape(page.app.name)}</strong>.</p>{alert}"
        '<form method="post" action="login">'
        f'<input type="hidden" name="state" value="{html.escape(page.state)}">'
        '<label for="username">Username</label>'
        f'<input id="username" name="username" autocomplete="username" required{described}>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" '
        f"required{described}>"
        f'{otp_field}<button type="submit">Sign in</button></form>'
    )
    return _page(f"Sign in to {page.app.name}", body, status)


async def _form(request: HttpRequest) -> dict[str, str]:
    """The fields of a form-encoded (or JSON object) body; the last value of a repeated name.

    Raises:
        OAuthError: invalid_request for a body that is neither.
    """
    try:
        raw = await request.body(_FORM_LIMIT)
    except BaaSError as exc:
        raise OAuthError("invalid_request", "The request body is too large.") from exc
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            value = jsonutil.loads(raw) if raw.strip() else {}
        except (BaaSError, ValueError) as exc:
            raise OAuthError("invalid_request", "The request body is not JSON.") from exc
        if not isinstance(value, dict):
            raise OAuthError("invalid_request", "The request body must be a JSON object.")
        return {str(k): v for k, v in value.items() if isinstance(v, str)}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OAuthError("invalid_request", "The form is not UTF-8.") from exc
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if any("\x00" in k or "\x00" in v for k, v in fields.items()):
        raise OAuthError("invalid_request", "The form contains the character U+0000.")
    return fields


def _prefix(request: HttpRequest) -> str:
    """The version prefix of the path (``/v3``, ``/v2`` or nothing)."""
    head = request.path.split("/", 2)[1]
    return f"/{head}" if head in ("v2", "v3") else ""


# -- the authorization endpoint ---------------------------------------------------------------
async def authorize_page(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``GET …/oauth/auth``: the login page."""
    query = request.params
    try:
        page = await core.mic.oauth.authorize(
            query.get("client_id"), query.get("redirect_uri"), query.get("response_type"), query.get("state")
        )
    except OAuthError as exc:
        if exc.location is not None:
            return redirect(exc.location, 302, _NO_STORE)
        return _error_page(exc.description)
    return _login_form(page)


async def authorize_api(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``POST …/oauth/auth``: the URL of the login form, for clients that post it themselves."""
    try:
        form = {**request.params, **await _form(request)}
        page = await core.mic.oauth.authorize(
            form.get("client_id"), form.get("redirect_uri"), form.get("response_type"), form.get("state")
        )
    except OAuthError as exc:
        return _oauth_error(exc)
    uri = f"{request.origin}{_prefix(request)}/oauth/login?{urlencode({'state': page.state, 'api': '1'})}"
    return json_response({"temp_login_uri": uri}, headers=_NO_STORE)


async def login_submit(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``POST …/oauth/login``: check the form and send the browser back with a code."""
    api = request.params.get("api") == "1"
    try:
        form = await _form(request)
    except OAuthError as exc:
        return _error_page(exc.description)
    state = form.get("state") or request.params.get("state", "")
    try:
        page = await core.mic.oauth.page(state)
    except OAuthError as exc:
        return _error_page(exc.description)
    username, password, otp = form.get("username"), form.get("password"), form.get("otp")
    try:
        location = await core.mic.oauth.login(state, username, password, otp=otp, address=request.client)
    except LoginRefused as exc:
        if api:
            return redirect(_refused_location(core, page, exc), 302, _NO_STORE)
        return _login_form(page, exc.description, otp=exc.second_factor or bool(otp), status=401)
    except OAuthError as exc:
        if exc.location is not None:
            return redirect(exc.location, 302, _NO_STORE)
        return _error_page(exc.description)
    return redirect(location, 302, _NO_STORE)


def _refused_location(core: Core, page: LoginPage, exc: LoginRefused) -> str:
    return core.mic.oauth.refused_location(page, exc)


# -- the token endpoint -----------------------------------------------------------------------
def _oauth_error(exc: OAuthError) -> HttpResponse:
    # ``description`` too: the Kinvey SDKs show it as the error's message.
    body = {
        "error": exc.error,
        "error_description": exc.description,
        "description": exc.description,
        "debug": exc.description,
    }
    headers = dict(_NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="kinbase", charset="UTF-8"'
    return json_response(body, exc.status, headers)


def _token_request(form: Mapping[str, str], authorization: str | None) -> TokenRequest:
    basic: tuple[str, str] | None = None
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "Authenticate the client with Basic client_id:app secret.")
        basic = parse_basic(value)
        if basic is None:
            raise OAuthError("invalid_client", "The Basic credentials are malformed.")
    return TokenRequest(
        grant_type=form.get("grant_type") or None,
        client_id=form.get("client_id") or None,
        client_secret=form.get("client_secret") or None,
        basic=basic,
        code=form.get("code") or None,
        redirect_uri=form.get("redirect_uri") or None,
        username=form.get("username") or None,
        password=form.get("password") or None,
        refresh_token=form.get("refresh_token") or None,
    )


async def token(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``POST …/oauth/token``: a token pair, or an OAuth error."""
    try:
        form = await _form(request)
        pair = await core.mic.oauth.token(
            _token_request(form, request.headers.get("authorization")), address=request.client
        )
    except OAuthError as exc:
        return _oauth_error(exc)
    except KinveyError as exc:  # the login throttle, or a refusal the core names Kinvey's way
        body: dict[str, Any] = {
            "error": "invalid_grant",
            "error_description": str(exc.debug or exc.description or exc.name),
            "description": str(exc.debug or exc.description or exc.name),
            "debug": exc.name,
        }
        status = 429 if exc.name == "LoginThrottled" else 400
        return json_response(body, status, _NO_STORE)
    return json_response(pair.body(), headers=_NO_STORE)
