"""A FlexAuth client over HTTP for the tests, and a real Flex service served in a thread.

The product's Flex client comes with the Flex service registry; until it is there, the login core
is driven through :class:`HttpFlexAuthClient`, which speaks flex-protocol §5 over real HTTP to a
real service (written with kinbase-flex, served by uvicorn) and raises the typed errors the
:class:`~kinbase.core.mic.identity.FlexAuthClient` contract names.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import uvicorn

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.mic.identity import FlexAuthReply
from kinbase.storage.base import AppRecord
from tests.support.server import free_port

__all__ = ["HttpFlexAuthClient", "serve_asgi"]


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a background thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Flex service did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class HttpFlexAuthClient:
    """Calls ``POST /_auth/<handler>`` of services registered by name (base URL + shared secret)."""

    def __init__(self, services: Mapping[str, tuple[str, str | None]], *, timeout: float = 2.0) -> None:
        self._services = dict(services)
        self._timeout = timeout
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def flex_auth(
        self, app: AppRecord, service: str, handler: str, body: Mapping[str, Any]
    ) -> FlexAuthReply:
        if service not in self._services:
            raise KinveyError("BLRuntimeError", f"No Flex service {service!r} is registered.")
        url, secret = self._services[service]
        self.calls.append((service, handler, dict(body)))
        headers = {"X-Auth-Key": secret} if secret else {}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                reply = await http.post(f"{url}/_auth/{handler}", json=dict(body), headers=headers)
        except httpx.TimeoutException as exc:
            raise KinveyError("BLTimeoutError", f"The Flex service {service!r} timed out.") from exc
        except httpx.TransportError as exc:
            raise KinveyError("BLRuntimeError", f"The Flex service {service!r} is unreachable.") from exc
        try:
            decoded = reply.json()
        except ValueError as exc:
            raise KinveyError(
                "BLRuntimeError", "The Flex service answered something that is not JSON."
            ) from exc
        return FlexAuthReply(reply.status_code, decoded)
