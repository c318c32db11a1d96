"""kinbase's web console at ``/console/``: server-rendered pages (Jinja2) over the core services,
with a little script that only enhances them (``static/console.js``).

Every page but the login needs a session (:mod:`.session`); every change is a POST with the
session's CSRF token. The pages of the data (collections, entities, settings, users, groups,
roles, configuration, Flex) are in :mod:`.pages`; the editors of users, groups and roles in
:mod:`.people`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.frontends.console.charts import dashboard_charts
from kinbase.frontends.console.session import LoginRefused, Session, Sessions
from kinbase.frontends.kinvey.errors import status_of
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse
from kinbase.storage.base import AppRecord

__all__ = ["NAMESPACES", "ConsoleFrontend", "Context"]

logger = logging.getLogger("kinbase.console")

NAMESPACES = ("console",)

_HERE = Path(__file__).resolve().parent
_STATIC = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
_SECURITY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Context:
    """One console request: the HTTP request, its session, its form, the path parameters."""

    request: HttpRequest
    session: Session | None
    params: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        return self.request.params


Handler = Callable[[Context], Awaitable[HttpResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Handler
    public: bool = False


class ConsoleError(Exception):
    """A page that cannot be served: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConsoleFrontend:
    """The console's routes."""

    api = "console"

    def __init__(self, core: Core) -> None:
        from kinbase.frontends.console import pages, people

        self.core = core
        self.sessions = Sessions(core)
        self.env = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(default=True),
            auto_reload=False,
        )
        self.routes: list[Route] = []
        add = self._add
        add("GET", "/console/", self.home)
        add("GET", "/console/login", self.login_page, public=True)
        add("POST", "/console/login", self.login, public=True)
        add("POST", "/console/logout", self.logout)
        add("GET", "/console/dashboard", self.dashboard)
        add("GET", "/console/apps", self.apps)
        add("POST", "/console/apps", self.create_app)
        add("GET", "/console/apps/{app}/delete", self.delete_app_page)
        add("POST", "/console/apps/{app}/delete", self.delete_app)
        pages.register(self)
        people.register(self)

    def _add(self, method: str, template: str, handler: Handler, *, public: bool = False) -> None:
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        self.routes.append(Route(method, re.compile(regex + r"\Z"), template, handler, public))

    # -- the server's entry ---------------------------------------------------------------------
    async def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path == "/console":
            request.route = "/console"
            return _redirect("/console/")
        if path.startswith("/console/static/"):
            request.route = "/console/static/{file}"
            return self._static(path[len("/console/static/") :])
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method != request.method and not (route.method == "GET" and request.method == "HEAD"):
                allowed.append(route.method)
                continue
            request.route = route.template
            response = await self._serve(route, request, found.groupdict())
            response.headers.update(_SECURITY)
            response.headers.setdefault("Cache-Control", "no-store")
            return response
        request.route = "(unmatched)"
        if allowed:
            response = self.page("message.html", None, 405, heading="Not allowed", message="Not allowed.")
            response.headers["Allow"] = ", ".join(sorted(set(allowed)))
            return response
        return self.page("message.html", None, 404, heading="Not found", message=f"No page at {path}.")

    def refuse(self, request: HttpRequest, error: BaaSError | None) -> HttpResponse:
        if error is None:
            message = f"Something went wrong (request id {request.request_id})."
            return self.page("message.html", None, 500, heading="Internal error", message=message)
        return self.page("message.html", None, error.status_code, heading="Refused", message=error.message)

    async def _serve(self, route: Route, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        session = await self.sessions.read(request)
        ctx = Context(request, session, params)
        if not route.public and session is None:
            if request.method == "GET":
                return _redirect("/console/login")
            return self.page("message.html", None, 401, heading="Logged out", message="Log in again.")
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin is not None and origin != request.origin:
                message = "Cross-site request."
                return self.page("message.html", session, 403, heading="Refused", message=message)
            body = await request.body(self.core.settings.max_body_bytes)
            ctx.form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if (
                not route.public
                and session is not None
                and not self.sessions.check_csrf(session, ctx.form.get("csrf", ""))
            ):
                message = "The form's CSRF token is missing or wrong: reload the page and try again."
                return self.page("message.html", session, 403, heading="Refused", message=message)
        try:
            return await route.handler(ctx)
        except ConsoleError as exc:
            return self.page("message.html", session, exc.status, heading="Refused", message=exc.message)
        except BaaSError as exc:
            status = status_of(exc.name) if isinstance(exc, KinveyError) else exc.status_code
            if status >= 500:
                raise
            message = str(exc.debug or exc.message) if isinstance(exc, KinveyError) else exc.message
            return self.page("message.html", session, status, heading="Refused", message=message)

    # -- helpers --------------------------------------------------------------------------------
    def page(self, template: str, session: Session | None, status: int = 200, **values: Any) -> HttpResponse:
        text = self.env.get_template(template).render(session=session, **values)
        headers = {"Content-Type": "text/html; charset=utf-8", **_SECURITY, "Cache-Control": "no-store"}
        return HttpResponse(status, text.encode(), headers)

    def _static(self, name: str) -> HttpResponse:
        media = _STATIC.get(name)
        if media is None:
            return self.page("message.html", None, 404, heading="Not found", message="No such file.")
        body = (_HERE / "static" / name).read_bytes()
        return HttpResponse(200, body, {"Content-Type": media, "Cache-Control": "public, max-age=300"})

    async def app_of(self, ctx: Context) -> AppRecord:
        """The app of the path, if the session may see it."""
        key = ctx.params["app"]
        assert ctx.session is not None
        if not ctx.session.may_see(key):
            raise ConsoleError(404, f"There is no app {key!r} here.")
        app = await self.core.apps.get(key)
        if app is None:
            raise ConsoleError(404, f"There is no app {key!r} here.")
        return app

    @staticmethod
    def operator(ctx: Context) -> Session:
        if ctx.session is None or not ctx.session.operator:
            raise ConsoleError(403, "Only the operator manages apps.")
        return ctx.session

    # -- pages ----------------------------------------------------------------------------------
    async def home(self, ctx: Context) -> HttpResponse:
        assert ctx.session is not None
        if ctx.session.operator:
            return _redirect("/console/apps")
        return _redirect(f"/console/apps/{quote(ctx.session.app_key or '', safe='')}")

    async def login_page(self, ctx: Context) -> HttpResponse:
        if ctx.session is not None:
            return _redirect("/console/")
        return self.page("login.html", None)

    async def login(self, ctx: Context) -> HttpResponse:
        app_key = ctx.form.get("app_key", "")
        try:
            session, value = await self.sessions.login(
                app_key, ctx.form.get("secret", ""), ctx.request.client
            )
        except LoginRefused as exc:
            logger.info("console: refused a login for app key %r from %s", app_key, ctx.request.client)
            return self.page("login.html", None, exc.status, error=str(exc), app_key=app_key)
        response = _redirect("/console/", 303)
        response.headers["Set-Cookie"] = self.sessions.cookie(
            ctx.request, value, self.core.settings.console_session_seconds
        )
        del session
        return response

    async def logout(self, ctx: Context) -> HttpResponse:
        response = _redirect("/console/login", 303)
        response.headers["Set-Cookie"] = self.sessions.cookie(ctx.request, "", 0)
        return response

    async def dashboard(self, ctx: Context) -> HttpResponse:
        charts = dashboard_charts(self.core.metrics.last_hour())
        return self.page("dashboard.html", ctx.session, charts=charts)

    async def apps(self, ctx: Context) -> HttpResponse:
        assert ctx.session is not None
        if not ctx.session.operator:
            return await self.home(ctx)
        return self.page("apps.html", ctx.session, apps=await self.core.apps.list())

    async def create_app(self, ctx: Context) -> HttpResponse:
        session = self.operator(ctx)
        form = ctx.form
        try:
            app = await self.core.apps.create(
                form.get("name", ""),
                key=form.get("app_key", "").strip() or None,
                app_secret=form.get("app_secret", "").strip() or None,
                master_secret=form.get("master_secret", "").strip() or None,
            )
        except BaaSError as exc:
            apps = await self.core.apps.list()
            return self.page("apps.html", session, 400, apps=apps, error=exc.message)
        logger.info("console: the operator created the app %s", app.key)
        return self.page("app_created.html", session, 201, app=app)

    async def delete_app_page(self, ctx: Context) -> HttpResponse:
        session = self.operator(ctx)
        return self.page("app_delete.html", session, app=await self.app_of(ctx))

    async def delete_app(self, ctx: Context) -> HttpResponse:
        session = self.operator(ctx)
        app = await self.app_of(ctx)
        if ctx.form.get("confirm", "").strip() != app.key:
            return self.page("app_delete.html", session, 400, app=app, error="Type the app key to confirm.")
        await self.core.apps.delete(app.key)
        logger.info("console: the operator deleted the app %s", app.key)
        apps = await self.core.apps.list()
        return self.page("apps.html", session, apps=apps, notice=f"Deleted the app {app.key}.")


def _redirect(location: str, status: int = 303) -> HttpResponse:
    return HttpResponse(status, b"", {"Location": location, "Cache-Control": "no-store"})
