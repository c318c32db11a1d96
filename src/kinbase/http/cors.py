"""CORS, as data: each front-end declares its policy once and the helpers build the headers.

Kinvey reflects the browser's ``Origin`` with credentials (the SDKs run in browsers and send an
``Authorization`` header); Kinto answers ``*`` or its configured origins, as Kinto does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CorsPolicy"]


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """What a front-end allows a browser.

    Attributes:
        allow_origin: the ``Access-Control-Allow-Origin`` value, or None to reflect ``Origin``.
        credentials: send ``Access-Control-Allow-Credentials: true``.
        expose: the ``Access-Control-Expose-Headers`` value.
        allow_methods: the methods a preflight allows.
        allow_headers: the headers a preflight allows, or None to allow those requested.
        default_allow_headers: allowed when a reflecting preflight requests none.
        max_age: seconds a browser may cache a preflight.
    """

    allow_origin: str | None
    credentials: bool
    expose: str
    allow_methods: str
    allow_headers: str | None
    default_allow_headers: str = ""
    max_age: int = 3600

    def actual(self, origin: str | None, *, allow_origin: str | None = None) -> dict[str, str]:
        """The headers of an actual (non-preflight) response to a request from ``origin``."""
        if not origin:
            return {}
        allowed = allow_origin or self.allow_origin
        headers = {
            "Access-Control-Allow-Origin": allowed or origin,
            "Access-Control-Expose-Headers": self.expose,
        }
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if allowed is None:
            headers["Vary"] = "Origin"
        return headers

    def preflight(
        self,
        origin: str | None,
        requested_headers: str | None,
        *,
        allow_methods: str | None = None,
        allow_origin: str | None = None,
    ) -> dict[str, str]:
        """The headers answering an ``OPTIONS`` preflight."""
        allowed = allow_origin or self.allow_origin
        headers: dict[str, str] = {}
        if allowed is not None:
            headers["Access-Control-Allow-Origin"] = allowed
        elif origin:
            headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin"})
        if self.credentials and origin:
            headers["Access-Control-Allow-Credentials"] = "true"
        if origin and self.allow_origin is None:
            headers["Access-Control-Expose-Headers"] = self.expose
        headers["Access-Control-Allow-Methods"] = allow_methods or self.allow_methods
        headers["Access-Control-Allow-Headers"] = (
            self.allow_headers or requested_headers or self.default_allow_headers
        )
        headers["Access-Control-Max-Age"] = str(self.max_age)
        return headers
