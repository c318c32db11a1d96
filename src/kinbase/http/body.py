"""Reading request bodies with a size limit."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from kinbase import jsonutil
from kinbase.errors import BodyTooLarge

__all__ = ["read_body", "read_json"]


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes before reading them.

    Raises:
        BodyTooLarge: if the declared or actual length exceeds ``limit``.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body decoded as JSON; an empty body is None.

    Raises:
        BodyTooLarge: see :func:`read_body`.
        InvalidJSON: if the body is not JSON.
    """
    body = await read_body(request, limit)
    if not body.strip():
        return None
    return jsonutil.loads(body)
