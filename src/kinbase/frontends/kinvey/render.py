"""Kinvey success responses built from stored JSON text (spliced, not re-encoded)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from kinbase.core.kinvey.entities import ReadResult
from kinbase.core.kinvey.wire import iso_of, join_array
from kinbase.http.responses import json_bytes_response, json_response

__all__ = ["count", "created_or_ok", "entity", "listing", "no_content", "value"]


def entity(text: str, status: int = 200, location: str | None = None) -> Response:
    headers = {"Location": location} if location else None
    return json_bytes_response(text.encode(), status=status, headers=headers)


def created_or_ok(text: str, created: bool, location: str) -> Response:
    """PUT's answer: 201 with ``Location`` when it created the entity, 200 when it replaced it."""
    return entity(text, 201 if created else 200, location if created else None)


def listing(result: ReadResult) -> Response:
    headers = {"X-Kinvey-Request-Start": iso_of(result.start)}
    if result.count is not None:
        headers["X-Kinvey-Items-Count"] = str(result.count)
    return json_bytes_response(join_array(result.texts), headers=headers)


def count(result: ReadResult) -> Response:
    return json_response({"count": result.count}, headers={"X-Kinvey-Request-Start": iso_of(result.start)})


def value(data: Any, status: int = 200) -> Response:
    return json_response(data, status=status)


def texts(items: Sequence[str]) -> Response:
    return json_bytes_response(join_array(items))


def no_content() -> Response:
    return Response(b"", status_code=204)
