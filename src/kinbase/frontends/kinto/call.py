"""One Kinto request as the handlers see it, and the response they return.

The Kinto front-end is plain ASGI (no framework objects on the hot path): a request is parsed
once into a :class:`KintoRequest`, which is also what a ``/batch`` sub-request is built as, and
handlers return a :class:`KintoResponse` whose body is bytes (stored JSON spliced in).
"""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinbase import jsonutil
from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.service import KintoService
from kinbase.core.services import Core
from kinbase.frontends.kinto.errors import invalid
from kinbase.http.limits import check_json_depth
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse
from kinbase.numerals import uint
from kinbase.types import Stamp

__all__ = ["KintoCall", "KintoRequest", "KintoResponse", "http_date", "json_response"]


@dataclass(slots=True)
class KintoRequest:
    """A parsed request.

    Attributes:
        method: upper-case HTTP method.
        path: the path below the API prefix (``/buckets/b``), without a trailing slash.
        query: the querystring pairs, in order.
        headers: header names in lower case.
        body: the raw body.
        prefix: the API prefix (``/v1`` or ``/kinto/<app key>/v1``).
        origin: ``scheme://host[:port]`` as the client sees the server.
        http: the HTTP request whose body was left unread (a streamed upload), else None.
    """

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    prefix: str
    origin: str
    request_id: str = ""
    route: str = ""
    """The route template that served it (``/buckets/{id}``...), for the metrics."""
    http: HttpRequest | None = None

    @property
    def base_url(self) -> str:
        return self.origin + self.prefix


KintoResponse = HttpResponse
"""Kinto handlers answer the server's one response type (status, bytes, headers)."""


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> KintoResponse:
    return KintoResponse(status, jsonutil.dumps(value), headers or {})


def http_date(stamp: Stamp) -> str:
    """``Last-Modified`` of a millisecond timestamp (whole seconds: ``formatdate`` floors them)."""
    return _http_date(stamp // 1000)


@functools.lru_cache(maxsize=1024)
def _http_date(seconds: int) -> str:
    # formatdate costs ~7 us (2 % of a Kinto POST's CPU); the writes of one second share a date
    return email.utils.formatdate(seconds, usegmt=True)


@dataclass(slots=True)
class KintoCall:
    """A request being served: its parse, the core, the caller's context, the path parameters."""

    request: KintoRequest
    core: Core
    ctx: KintoContext
    params: dict[str, str]

    @property
    def kinto(self) -> KintoService:
        return self.core.kinto

    def json(self) -> Any:
        """The body as JSON (None when empty).

        Raises:
            InvalidJSON: if it is not JSON.
            LimitExceeded: if it is nested deeper than :data:`~kinbase.http.limits.MAX_JSON_DEPTH`.
            KintoError: 400/107 if a string or a key holds U+0000.
        """
        body = self.request.body
        if not body.strip():
            return None
        check_json_depth(body)
        value = jsonutil.loads(body)
        if jsonutil.has_nul(body, value):
            raise invalid("body", "body", "Strings and field names may not contain the character U+0000.")
        return value

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def precondition(self, name: str) -> Stamp | str | None:
        """``If-Match`` / ``If-None-Match``: a quoted integer, ``*``, or absent.

        Raises:
            KintoError: 400 for any other value.
        """
        raw = self.request.headers.get(name.lower())
        if raw is None:
            return None
        value = raw.strip()
        if value == "*":
            return "*"
        if len(value) >= 2 and value[0] == value[-1] == '"':
            stamp = uint(value[1:-1])
            if stamp is not None:
                return stamp  # BEYOND for a numeral too long: it matches no stamp
        raise invalid("header", name, "Invalid value for If-Match/If-None-Match")

    def stamp_headers(self, stamp: Stamp, cache_expires: int | None = None) -> dict[str, str]:
        headers = {"ETag": f'"{stamp}"', "Last-Modified": http_date(stamp)}
        if cache_expires is not None:
            headers["Cache-Control"] = f"max-age={cache_expires}"
            headers["Expires"] = email.utils.formatdate(time.time() + cache_expires, usegmt=True)
        return headers
