"""The response a front-end returns, and the one function that writes it to ASGI.

A body is bytes (stored JSON spliced in, never re-encoded) or, for downloads, an async iterator
of chunks with the length in the headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kinbase import jsonutil
from kinbase.types_asgi import Send

__all__ = [
    "JSON_MEDIA_TYPE",
    "HttpResponse",
    "html_response",
    "json_bytes_response",
    "json_response",
    "redirect",
    "send_response",
]

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


@dataclass(slots=True)
class HttpResponse:
    """Status, headers (any case; written in lower case) and a body or a stream of chunks."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterable[bytes] | None = None


def json_bytes_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """A response whose body is already JSON."""
    return HttpResponse(status, body, {"Content-Type": JSON_MEDIA_TYPE, **(headers or {})})


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpResponse:
    """A response with ``value`` encoded as JSON."""
    return json_bytes_response(jsonutil.dumps(value), status, headers)


def html_response(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


def redirect(location: str, status: int = 307, headers: Mapping[str, str] | None = None) -> HttpResponse:
    """A redirect. ``location`` must be built from encoded parts: a raw path never goes into it."""
    return HttpResponse(status, b"", {"Location": location, **(headers or {})})


_NAMES: dict[str, bytes] = {}
"""Header names as written (lower case, bytes), by the name a front-end used: the same few dozen
names come back on every response."""


def _name(name: str) -> bytes:
    encoded = _NAMES.get(name)
    if encoded is None:
        encoded = name.lower().encode("latin-1")
        if len(_NAMES) < 1024:  # names are constants of the code; a bound all the same
            _NAMES[name] = encoded
    return encoded


def _header_list(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    names = _NAMES
    return [((names.get(k) or _name(k)), v.encode("latin-1")) for k, v in headers.items()]


async def send_response(send: Send, response: HttpResponse, *, head: bool = False) -> None:
    """Write ``response``: no body for HEAD and 304; ``Content-Length`` unless 304 or already set
    (a stream sets its own); a stream is closed once written, whatever happens."""
    headers = _header_list(response.headers)
    if response.stream is not None:
        try:
            if not head:
                await send({"type": "http.response.start", "status": response.status, "headers": headers})
                async for chunk in response.stream:
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return
        finally:
            close = getattr(response.stream, "aclose", None)
            if close is not None:  # the file or connection behind it, also when the client left
                await close()
    status = response.status
    body = b"" if head or status == 304 else response.body
    if status != 304 and not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
