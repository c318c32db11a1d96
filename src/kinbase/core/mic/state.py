"""The signed state of a login page: what ``/oauth/auth`` validated, carried by the form.

``GET /oauth/auth`` checks the client and its redirect URI once, then puts them in the login form
(and in the ``temp_login_uri`` of the legacy API flow) as one signed value; the form's ``POST``
trusts only that value, never a ``client_id`` or ``redirect_uri`` field of the form, so a forged
form cannot send a code anywhere else. Nothing is stored between the two requests: the value is
an HMAC-SHA256 (keyed by a key derived from the server secret, so every worker and machine checks
it) over its JSON payload, with an expiry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import orjson

__all__ = ["LoginState", "StateSigner"]

_PURPOSE = b"kinbase/mic/login-state/1"
_MAX_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class LoginState:
    """A validated authorization request.

    Attributes:
        client_id: the OAuth client (``APP_KEY`` or ``APP_KEY.<service>``).
        redirect_uri: the registered redirect URI the code goes to.
        state: the client's own ``state`` parameter, returned with the code (may be empty).
        expires: when the form stops being accepted (ms since the epoch).
    """

    client_id: str
    redirect_uri: str
    state: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateSigner:
    """Sign and check :class:`LoginState` values."""

    def __init__(self, secret: Callable[[], bytes], clock: Callable[[], int], ttl_ms: int) -> None:
        self._secret = secret
        self._clock = clock
        self._ttl_ms = ttl_ms

    def _mac(self, payload: bytes) -> bytes:
        key = hmac.new(self._secret(), _PURPOSE, hashlib.sha256).digest()
        return hmac.new(key, payload, hashlib.sha256).digest()

    def sign(self, client_id: str, redirect_uri: str, state: str) -> str:
        """A signed login state that expires after the configured time."""
        payload = orjson.dumps([client_id, redirect_uri, state, self._clock() + self._ttl_ms])
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def open(self, text: str) -> LoginState | None:
        """The state ``text`` carries if it is genuine and not expired, else None."""
        if len(text) > _MAX_LENGTH or text.count(".") != 1:
            return None
        body, mac = text.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(given, self._mac(payload)):
            return None
        client_id, redirect_uri, state, expires = orjson.loads(payload)
        if expires <= self._clock():
            return None
        return LoginState(client_id, redirect_uri, state, expires)
