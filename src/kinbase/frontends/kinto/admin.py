"""The Kinto Admin at ``/v1/admin/`` (and ``/kinto/{app_key}/v1/admin/``), as Kinto's admin
plugin serves it: ``/admin`` → 307 ``/admin/``, the page with the plugin's Content-Security-Policy,
the assets with long-lived caching (their names carry a hash of their content). Without the build
(``kinbase kinto-admin install``) the page says how to get it."""

from __future__ import annotations

import html
import logging

from kinbase.frontends.kinto.call import KintoResponse
from kinbase.frontends.kinto.errors import Errno, KintoError
from kinbase.http.response import HttpResponse
from kinbase.kinto_admin import admin_dir, build_at
from kinbase.settings import Settings

__all__ = ["ADMIN_CSP", "AdminPages"]

logger = logging.getLogger("kinbase.kinto")

ADMIN_CSP = "; ".join(
    (
        "default-src 'self'",
        "img-src data: *",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
    )
)
"""The Content-Security-Policy of Kinto's admin plugin (only the server's own origin)."""

_ASSET_CACHE = "public, max-age=31536000, immutable"

_MISSING = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Kinto Admin not installed</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The Kinto Admin is not installed</h1>
<p>kinbase serves the Kinto Admin from a build it does not ship. Install it into this server's
Python environment and restart the server:</p>
<pre>kinbase kinto-admin install</pre>
<p>(<code>scripts/bootstrap</code> does it for a development checkout.) kinbase looked in
<code>{directory}</code>; the setting <code>kinto_admin_dir</code> names another directory.</p>
</body></html>
"""


class AdminPages:
    """The admin's routes below an API prefix."""

    def __init__(self, settings: Settings) -> None:
        self.build = build_at(admin_dir(settings))
        if not self.build.present:
            logger.warning(
                "the Kinto Admin is not installed in %s: /v1/admin/ explains how "
                "(kinbase kinto-admin install)",
                self.build.directory,
            )

    @property
    def version(self) -> str | None:
        """The Kinto Admin version (the ``admin`` capability), None without a build."""
        return self.build.version

    def serve(self, method: str, prefix: str, rest: str) -> tuple[str, KintoResponse]:
        """The route template and response of ``{prefix}{rest}`` (``rest`` starts with
        ``/admin``).

        Raises:
            KintoError: 405 for other methods than GET and HEAD, 404 for unknown files.
        """
        if method not in ("GET", "HEAD"):
            raise KintoError(Errno.METHOD_NOT_ALLOWED)
        if rest == "/admin":
            return "/admin", HttpResponse(307, b"", {"Location": f"{prefix}/admin/"})
        sub = rest[len("/admin/") :]
        if sub in ("", "index.html"):
            return "/admin/", self._page(prefix)
        found = self.build.asset(sub)
        if found is None:
            raise KintoError(Errno.MISSING_RESOURCE)
        body, media = found
        headers = {"Content-Type": media, "Cache-Control": _ASSET_CACHE, "X-Content-Type-Options": "nosniff"}
        return "/admin/{file}", HttpResponse(200, body, headers)

    def _page(self, prefix: str) -> HttpResponse:
        headers = {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": ADMIN_CSP,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if not self.build.present:
            text = _MISSING.format(directory=html.escape(str(self.build.directory)))
            return HttpResponse(404, text.encode(), headers)
        return HttpResponse(200, self.build.page(prefix).encode(), headers)
