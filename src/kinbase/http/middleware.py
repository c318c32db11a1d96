"""The outermost ASGI layer: a request id for every request and a guard that turns an exception
nothing else caught into a logged 500 without a stack trace for the client."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from kinbase.http.responses import JSON_MEDIA_TYPE
from kinbase.types_asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ErrorBody", "ServerMiddleware"]

logger = logging.getLogger("kinbase.http")


ErrorBody = Callable[[Scope, str], bytes]
"""Renders the body of a last-resort 500 in the protocol of the request's path."""


class ServerMiddleware:
    """Gives each HTTP request ``scope["state"]["request_id"]`` and guards against escaped errors."""

    def __init__(self, app: ASGIApp, error_body: ErrorBody) -> None:
        self.app = app
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception(
                "unhandled error in request %s %s (request id %s)", scope["method"], scope["path"], request_id
            )
            if started:
                raise
            body = self.error_body(scope, request_id)
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", JSON_MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
