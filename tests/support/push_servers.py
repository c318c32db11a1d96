"""Local servers that speak the push providers' HTTP protocols, for the push tests.

- :class:`FakeFcm`: the Google OAuth2 token endpoint (JWT bearer grant, RS256 assertion checked
  with the service account's public key) and FCM HTTP v1 ``messages:send``.
- :class:`FakeApns`: APNs ``POST /3/device/<token>`` served over HTTP/2 with TLS (hypercorn, a
  trustme certificate), the ES256 provider token checked with the team key's public key.
- :class:`FakeWebhook`: records signed webhook calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.server import free_port

__all__ = ["FakeApns", "FakeFcm", "FakeWebhook", "ec_key", "rsa_key", "serve_h2_tls"]

Scope = dict[str, Any]


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def rsa_key() -> tuple[str, Any]:
    """A service-account-like RSA key: (private PEM, public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _pem(key), key.public_key()


def ec_key() -> tuple[str, Any]:
    """An APNs-like P-256 key: (private PEM, public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _pem(key), key.public_key()


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Any, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}


@dataclass
class FakeFcm:
    """Token endpoint at ``/token``; ``messages:send`` refuses the tokens in ``gone``."""

    public_key: Any
    client_email: str
    project: str = "demo-project"
    gone: set[str] = field(default_factory=set)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = await _body(receive)
        if scope["path"] == "/token":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            try:
                claims = jwt.decode(
                    form.get("assertion", ""),
                    self.public_key,
                    algorithms=["RS256"],
                    audience=f"{self.url}/token",
                )
            except jwt.PyJWTError as exc:
                await _reply(send, 400, {"error": "invalid_grant", "error_description": str(exc)})
                return
            self.token_requests.append({"form": form, "claims": claims})
            ok = form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ok = ok and claims.get("iss") == self.client_email
            ok = ok and claims.get("scope") == "https://www.googleapis.com/auth/firebase.messaging"
            if not ok:
                await _reply(send, 400, {"error": "invalid_grant"})
                return
            await _reply(
                send, 200, {"access_token": "ya29.fake-token", "expires_in": 3599, "token_type": "Bearer"}
            )
            return
        if scope["path"] != f"/v1/projects/{self.project}/messages:send":
            await _reply(send, 404, {"error": {"code": 404, "status": "NOT_FOUND"}})
            return
        if _headers(scope).get("authorization") != "Bearer ya29.fake-token":
            await _reply(send, 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
            return
        message = json.loads(raw)["message"]
        self.messages.append(message)
        if message["token"] in self.gone:
            error = {"code": 404, "status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}
            await _reply(send, 404, {"error": error})
            return
        await _reply(send, 200, {"name": f"projects/{self.project}/messages/{len(self.messages)}"})


@dataclass
class FakeApns:
    """``POST /3/device/<token>``; the tokens in ``gone`` are answered ``410 Unregistered``."""

    public_key: Any
    team_id: str
    key_id: str
    gone: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        raw = await _body(receive)
        headers = _headers(scope)
        token = scope["path"].removeprefix("/3/device/")
        bearer = headers.get("authorization", "").removeprefix("bearer ")
        try:
            claims = jwt.decode(bearer, self.public_key, algorithms=["ES256"])
            key_id = jwt.get_unverified_header(bearer).get("kid")
        except jwt.PyJWTError:
            await _reply(send, 403, {"reason": "InvalidProviderToken"})
            return
        self.requests.append(
            {
                "http_version": scope["http_version"],
                "token": token,
                "headers": headers,
                "body": json.loads(raw),
            }
        )
        if claims.get("iss") != self.team_id or key_id != self.key_id:
            await _reply(send, 403, {"reason": "InvalidProviderToken"})
            return
        if token in self.gone:
            await _reply(send, 410, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)})
            return
        await _reply(send, 200, {}, [(b"apns-id", b"8f0c4b1e-0000-4000-8000-000000000001")])


@dataclass
class FakeWebhook:
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.calls.append((_headers(scope), await _body(receive)))
        await _reply(send, self.status, {"ok": True})


@contextlib.contextmanager
def serve_h2_tls(app: Any, workdir: Path) -> Iterator[tuple[str, ssl.SSLContext]]:
    """Serve ``app`` over HTTP/2 with TLS (hypercorn, ALPN ``h2``) on a free port, in a thread.
    Yields the base URL and an SSL context that trusts the server's certificate."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = workdir / "apns-cert.pem", workdir / "apns-key.pem"
    issued.cert_chain_pems[0].write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(certfile), str(keyfile)
    config.alpn_protocols = ["h2"]
    config.loglevel = "WARNING"
    state: dict[str, Any] = {}

    async def main() -> None:
        state["loop"] = asyncio.get_running_loop()
        state["stop"] = asyncio.Event()
        await serve(app, config, shutdown_trigger=state["stop"].wait)

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="fake-apns", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the HTTP/2 server did not start")
        time.sleep(0.02)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    try:
        yield f"https://127.0.0.1:{port}", context
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
