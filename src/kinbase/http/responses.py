"""JSON responses built from bytes, so stored JSON can be spliced in without decoding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from kinbase import jsonutil

__all__ = ["JSON_MEDIA_TYPE", "json_bytes_response", "json_response"]

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


def json_bytes_response(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A response whose body is already JSON."""
    return Response(body, status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A response with ``value`` encoded as JSON."""
    return Response(jsonutil.dumps(value), status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)
