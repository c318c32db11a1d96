"""The Kinto HTTP API v1 front-end: parse a Kinto request, call the Kinto core, render Kinto's
format. The server (:mod:`kinbase.http.server`) hands it every path that is neither Kinvey's nor
the server's own."""

from __future__ import annotations

from kinbase.frontends.kinto.frontend import KintoFrontend, error_bytes, is_kinto_path

__all__ = ["KintoFrontend", "error_bytes", "is_kinto_path"]
