"""Serving stored bytes over HTTP, for any protocol: ``Range`` requests, ``ETag`` and
``If-None-Match``, a stream that closes what it reads.

A front-end resolves a file (its size, media type, version) and hands :func:`byte_response` a
function that opens a byte range of it; the body is then streamed chunk by chunk from the store,
never held whole in memory. One range is served (``bytes=a-b``, ``a-``, ``-n``); a request for
several ranges gets the whole file, as RFC 9110 allows. An unsatisfiable range is 416 with
``Content-Range: bytes */<size>``.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse
from kinbase.numerals import uint

__all__ = ["ByteSource", "ServedBytes", "byte_response", "parse_range"]


class ByteSource(Protocol):
    """An open range of stored bytes (a :class:`~kinbase.storage.blobs.BlobReader`)."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ServedBytes:
    """What the response headers say about the bytes served.

    Attributes:
        size: the length of the whole file.
        content_type: its media type.
        etag: a strong validator, quoted (``"<version>"``).
        modified: when it was stored, in ms since the epoch (``Last-Modified``), if known.
        filename: the name for ``Content-Disposition: inline``, if any.
    """

    size: int
    content_type: str
    etag: str
    modified: int | None = None
    filename: str | None = None


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The ``[start, end)`` a ``Range`` header asks of ``size`` bytes.

    Returns:
        None to serve the whole file (no header, a malformed one, another unit, several ranges),
        False for an unsatisfiable range, or the range.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    first_at, last_at = uint(first) if first else None, uint(last) if last else None
    if not dash or (first and first_at is None) or (last and last_at is None):
        return None
    if first_at is None:
        if last_at is None:
            return None
        suffix = last_at
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size
    start = first_at
    if start >= size:
        return False
    end = min(size, last_at + 1) if last_at is not None else size
    if end <= start:
        return None  # a last byte before the first: the header is invalid, so ignored
    return start, end


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


async def _closing(source: ByteSource) -> AsyncIterator[bytes]:
    try:
        async for chunk in source:
            yield chunk
    finally:
        await source.aclose()


async def byte_response(
    request: HttpRequest,
    served: ServedBytes,
    open_range: Callable[[int, int], Awaitable[ByteSource]],
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """The response to a GET (or HEAD) of stored bytes: 200, 206 for a range, 304 when the
    client's ``If-None-Match`` holds the ETag, 416 for a range past the end. Nothing is opened for
    HEAD, 304 or 416."""
    base = {
        **(headers or {}),
        "ETag": served.etag,
        "Accept-Ranges": "bytes",
        "Content-Type": served.content_type,
    }
    if served.modified is not None:
        base["Last-Modified"] = email.utils.formatdate(served.modified / 1000, usegmt=True)
    if served.filename:
        base["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(served.filename, safe='')}"
    if _matches(request.headers.get("if-none-match"), served.etag):
        return HttpResponse(304, b"", base)
    wanted = parse_range(request.headers.get("range"), served.size)
    if wanted is False:
        return HttpResponse(416, b"", {**base, "Content-Range": f"bytes */{served.size}"})
    if_range = request.headers.get("if-range")
    if isinstance(wanted, tuple) and if_range is not None and if_range.strip() != served.etag:
        wanted = None  # the client's copy is another version: send it the whole file
    start, end = wanted if isinstance(wanted, tuple) else (0, served.size)
    status = 206 if isinstance(wanted, tuple) else 200
    base["Content-Length"] = str(end - start)
    if status == 206:
        base["Content-Range"] = f"bytes {start}-{end - 1}/{served.size}"
    if request.method == "HEAD" or end == start:
        response = HttpResponse(status, b"", base)
        return response
    source = await open_range(start, end)
    return HttpResponse(status, b"", base, stream=_closing(source))
