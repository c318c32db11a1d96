"""Console logins: who may log in, the signed session cookie, the CSRF token, the throttle.

- **Credentials.** An app's key and master secret (a session for that app), or an empty app key
  and the ``console_operator_secret`` setting (the operator: every app, creating and deleting
  apps). Failures count in the login throttle (:mod:`kinbase.core.throttle`, scope ``console``,
  in the database: shared by every worker) per app and per client address; the operator's, which
  belong to no app, under the server's own record (:data:`kinbase.core.apps.SERVER_APP_KEY`).
- **Session.** A cookie ``kinbase_console`` holding ``payload.signature`` (HMAC-SHA256 with a key
  derived from the server secret): kind, app key, expiry, a random nonce and a fingerprint of the
  secret that logged in (changing the master secret or the operator secret ends the sessions).
  ``HttpOnly``, ``SameSite=Strict``, ``Path=/console/``, and ``Secure`` when the console is served
  over HTTPS (the request's scheme, or ``public_url``). No secret ever goes into a URL.
- **CSRF.** Every change is a POST carrying ``csrf``, an HMAC of the session's nonce: a request
  without it, or with another session's, is refused (403), and so is a POST whose ``Origin`` is
  not the server's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from typing import Literal

import orjson

from kinbase.core.services import Core
from kinbase.core.throttle import LoginThrottle, ThrottlePolicy
from kinbase.errors import BaaSError, TooManyRequests
from kinbase.http.request import HttpRequest
from kinbase.storage.base import AppRecord

__all__ = ["COOKIE", "LoginRefused", "Session", "Sessions"]

COOKIE = "kinbase_console"
_MASTER_USER = "\x00console-master"
_OPERATOR_USER = "\x00console-operator"

Kind = Literal["operator", "app"]


class LoginRefused(Exception):
    """Wrong credentials (401), or too many failures (429)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Session:
    kind: Kind
    app_key: str | None
    nonce: str
    expires: int
    csrf: str

    @property
    def operator(self) -> bool:
        return self.kind == "operator"

    def may_see(self, app_key: str) -> bool:
        return self.operator or self.app_key == app_key


class Sessions:
    """Logs in and reads sessions back from their cookie."""

    def __init__(self, core: Core) -> None:
        self.core = core
        policy = ThrottlePolicy.of(core.settings)
        self.throttle = LoginThrottle(core.storage, policy, "console", invalidations=core.invalidations)

    def _key(self) -> bytes:
        return hmac.new(self.core.secret, b"kinbase console session", hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key(), payload, hashlib.sha256).digest())

    def csrf_of(self, nonce: str) -> str:
        return self._sign(b"csrf:" + nonce.encode())

    async def login(self, app_key: str, secret: str, address: str | None) -> tuple[Session, str]:
        """The session and its cookie value for these credentials.

        Raises:
            LoginRefused: wrong credentials or throttled.
        """
        app_key = app_key.strip()
        try:
            if not app_key:
                return await self._operator(secret, address)
            return await self._master(app_key, secret, address)
        except BaaSError as exc:
            raise LoginRefused(exc.message, 429 if isinstance(exc, TooManyRequests) else 401) from None

    async def _operator(self, secret: str, address: str | None) -> tuple[Session, str]:
        server = await self.core.apps.server()
        await self.throttle.check(server.id, _OPERATOR_USER, address)
        expected = self.core.settings.console_operator_secret
        if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
            await self.throttle.failed(server.id, _OPERATOR_USER, address)
            raise LoginRefused("Wrong app key or secret.")
        await self.throttle.succeeded(server.id, _OPERATOR_USER)
        return self._issue("operator", None, _fingerprint(expected))

    async def _master(self, app_key: str, secret: str, address: str | None) -> tuple[Session, str]:
        app = await self.core.apps.get(app_key)
        if app is None:
            raise LoginRefused("Wrong app key or secret.")
        await self.throttle.check(app.id, _MASTER_USER, address)
        if not hmac.compare_digest(secret.encode(), app.master_secret.encode()):
            await self.throttle.failed(app.id, _MASTER_USER, address)
            raise LoginRefused("Wrong app key or secret.")
        await self.throttle.succeeded(app.id, _MASTER_USER)
        return self._issue("app", app.key, _fingerprint(app.master_secret))

    def _issue(self, kind: Kind, app_key: str | None, fingerprint: str) -> tuple[Session, str]:
        nonce = os.urandom(16).hex()
        expires = int(time.time()) + self.core.settings.console_session_seconds
        payload = orjson.dumps({"k": kind, "a": app_key, "n": nonce, "e": expires, "f": fingerprint})
        session = Session(kind, app_key, nonce, expires, self.csrf_of(nonce))
        return session, f"{_b64(payload)}.{self._sign(payload)}"

    async def read(self, request: HttpRequest) -> Session | None:
        """The session of the request's cookie, if valid, unexpired and still backed by its secret."""
        raw = _cookie(request.headers.get("cookie", ""), COOKIE)
        if not raw or "." not in raw:
            return None
        encoded, _, signature = raw.partition(".")
        try:
            payload = _unb64(encoded)
            if not hmac.compare_digest(self._sign(payload), signature):
                return None
            data = orjson.loads(payload)
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(data, dict) or int(data.get("e", 0)) < time.time():
            return None
        kind, app_key, nonce = data.get("k"), data.get("a"), str(data.get("n"))
        if kind == "operator":
            expected = self.core.settings.console_operator_secret
            if not expected or data.get("f") != _fingerprint(expected):
                return None
            return Session("operator", None, nonce, int(data["e"]), self.csrf_of(nonce))
        if kind != "app" or not isinstance(app_key, str):
            return None
        app: AppRecord | None = await self.core.apps.get(app_key)
        if app is None or data.get("f") != _fingerprint(app.master_secret):
            return None
        return Session("app", app_key, nonce, int(data["e"]), self.csrf_of(nonce))

    def cookie(self, request: HttpRequest, value: str, max_age: int) -> str:
        secure = "; Secure" if _https(request) else ""
        return f"{COOKIE}={value}; Path=/console/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"

    def check_csrf(self, session: Session, token: str) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), session.csrf.encode())


def _https(request: HttpRequest) -> bool:
    return request.origin.startswith("https://")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
