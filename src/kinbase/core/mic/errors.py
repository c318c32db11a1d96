"""The errors of the authorization server, named as OAuth 2.0 names them (RFC 6749 §4.1.2.1, §5.2).

The core raises :class:`OAuthError` with one of these names; a front-end renders it as
``{"error", "error_description"}`` with :attr:`OAuthError.status` on the token endpoint, or as
``redirect_uri?error=…&error_description=…`` from the login page once the client and its redirect
URI are known to be genuine (:attr:`OAuthError.location`). :class:`LoginRefused` is the one failure
the login page shows itself, with its form again: the person typed a wrong password or must add a
one-time code.
"""

from __future__ import annotations

from typing import Literal

from kinbase.errors import BaaSError

__all__ = ["LoginRefused", "OAuthError", "OAuthErrorName"]

OAuthErrorName = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_response_type",
    "invalid_scope",
    "access_denied",
    "server_error",
    "temporarily_unavailable",
]


class OAuthError(BaaSError):
    """A failure of the OAuth flow, with its RFC 6749 error name.

    Args:
        error: the OAuth error name.
        description: a human-readable explanation, safe to show (never a secret or a token).
        location: where the login page sends the browser with this error (the client's redirect
            URI with ``error``, ``error_description`` and ``state``), or None when the client or the
            redirect URI could not be trusted: the page then shows the error itself.

    Attributes:
        status: the HTTP status of the token endpoint's answer: 401 for ``invalid_client`` (the
            client failed to authenticate), otherwise 400. A service that is down is not the
            client's fault, but the answer stays a clean 400 the SDKs can show, never a 5xx.
    """

    code = "oauth_error"

    def __init__(self, error: OAuthErrorName, description: str, *, location: str | None = None) -> None:
        self.error: OAuthErrorName = error
        self.description = description
        self.location = location
        self.status = 401 if error == "invalid_client" else 400
        super().__init__(description, details={"error": error})


class LoginRefused(OAuthError):
    """The identity source refused the username and password (``access_denied``), or the user
    must also give a one-time code (:attr:`second_factor`). The login page shows its form again."""

    def __init__(self, description: str, *, second_factor: bool = False) -> None:
        super().__init__("access_denied", description)
        self.second_factor = second_factor
