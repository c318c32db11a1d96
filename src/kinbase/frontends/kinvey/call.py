"""One Kinvey request being served, as a handler sees it.

The front-end (:mod:`kinbase.frontends.kinvey.frontend`) resolves the app, the API version and
the caller before a handler runs; a handler only parses what is left (body, query), calls the
core, and renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kinbase import jsonutil
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.services import KinveyServices
from kinbase.core.kinvey.wire import check_no_nul
from kinbase.core.services import Core
from kinbase.frontends.kinvey.auth import Auth
from kinbase.http.limits import check_json_depth
from kinbase.http.request import HttpRequest
from kinbase.storage.base import AppRecord
from kinbase.types import Stamp

__all__ = ["KinveyCall"]


@dataclass(slots=True)
class KinveyCall:
    """A request with its app, caller and API version resolved.

    Attributes:
        request: the HTTP request.
        core: the services.
        app: the app of the path.
        auth: the caller and the kind of credential it used.
        api_version: the effective ``X-Kinvey-API-Version``.
        params: the path parameters (decoded).
        started: when the request started (ms; ``X-Kinvey-Request-Start`` unless a read sets it).
    """

    request: HttpRequest
    core: Core
    app: AppRecord
    auth: Auth
    api_version: int
    params: dict[str, str]
    started: Stamp

    @property
    def caller(self) -> Caller:
        return self.auth.caller

    @property
    def kinvey(self) -> KinveyServices:
        return self.core.kinvey

    @property
    def query(self) -> Mapping[str, str]:
        """The query parameters (the last value of a repeated name)."""
        return self.request.params

    def flag(self, header: str) -> bool:
        """Whether the header ``header`` is ``true`` (any case)."""
        return self.request.headers.get(header, "").lower() == "true"

    def base_url(self) -> str:
        """The externally visible base URL (``public_url`` or the request's)."""
        return self.request.origin

    def url(self, *segments: str) -> str:
        """The absolute URL of a resource (``Location``), each path segment percent-encoded."""
        return self.base_url() + "".join("/" + quote(segment, safe="") for segment in segments)

    async def json_body(self) -> Any:
        """The request body as JSON (None when empty).

        Raises:
            BaaSError: JSONParseError if the body is not JSON, RequestEntityTooLarge, BadRequest
                for JSON nested too deeply or U+0000 in a string.
        """
        raw = await self.request.body(self.core.settings.max_body_bytes)
        if not raw.strip():
            return None
        check_json_depth(raw)
        value = jsonutil.loads(raw)
        check_no_nul(raw, value)
        return value
