"""The console's pages of one app: collections and the data browser (Kinvey query, sort, paging,
edit and delete one entity, import and export), collection settings, users, groups and roles,
the configuration as TOML, Flex services and schedules with their runs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import orjson

from kinbase.core.appconfig import AppConfigInvalid, parse_toml
from kinbase.core.appconfig.model import HOOKS
from kinbase.core.kinvey.access import LEVELS, Caller
from kinbase.core.kinvey.collections import settings_version
from kinbase.core.kinvey.entities import APPDATA, check_collection_name
from kinbase.core.kinvey.file_links import LinkOptions
from kinbase.core.kinvey.files import FilesApi
from kinbase.core.kinvey.groups import ROLES
from kinbase.core.kinvey.membership import GROUPS
from kinbase.core.kinvey.transfer import export_texts, import_batch, read_json
from kinbase.core.kinvey.users import USERS
from kinbase.core.kinvey.wire import parse_filter
from kinbase.errors import BaaSError, Conflict
from kinbase.frontends.console.frontend import ConsoleError
from kinbase.frontends.console.people import without_secrets
from kinbase.http.response import HttpResponse
from kinbase.numerals import uint
from kinbase.query.ast import Query
from kinbase.query.mongo import parse_sort

if TYPE_CHECKING:
    from kinbase.frontends.console.frontend import ConsoleFrontend, Context

__all__ = ["register"]

_PAGE = 20
_MAX_PAGE = 500
_LIST_LIMIT = 200


def register(console: ConsoleFrontend) -> None:
    """Add the app pages to ``console``'s routes."""
    pages = AppPages(console)
    add = console._add
    base = "/console/apps/{app}"
    add("GET", base, pages.app)
    add("GET", base + "/open", pages.open_collection)
    add("GET", base + "/data/{collection}", pages.collection)
    add("GET", base + "/data/{collection}/export", pages.export)
    add("POST", base + "/data/{collection}/import", pages.import_)
    add("GET", base + "/data/{collection}/entity/{entity}", pages.entity)
    add("POST", base + "/data/{collection}/entity/{entity}", pages.save_entity)
    add("POST", base + "/data/{collection}/entity/{entity}/delete", pages.delete_entity)
    add("GET", base + "/data/{collection}/settings", pages.settings)
    add("POST", base + "/data/{collection}/settings", pages.save_settings)
    add("POST", base + "/data/{collection}/settings/logic", pages.save_logic)
    add("GET", base + "/users", pages.users)
    add("GET", base + "/groups", pages.groups)
    add("GET", base + "/roles", pages.roles)
    add("GET", base + "/config", pages.config)
    add("POST", base + "/config", pages.save_config)
    add("GET", base + "/config.toml", pages.config_toml)
    add("GET", base + "/flex", pages.flex)
    add("GET", base + "/files", pages.files)


def _seg(value: str) -> str:
    return quote(value, safe="")


class AppPages:
    def __init__(self, console: ConsoleFrontend) -> None:
        self.console = console
        self.core = console.core

    def _base(self, app_key: str, collection: str) -> str:
        return f"/console/apps/{_seg(app_key)}/data/{_seg(collection)}"

    async def app(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        async with self.core.storage.reader() as reader:
            parents = await reader.list_parents(app.id, APPDATA)
        collections = sorted(parents, key=lambda p: p.name)
        return self.console.page("app.html", ctx.session, app=app, collections=collections)

    async def open_collection(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        name = ctx.query.get("collection", "").strip()
        check_collection_name(name)
        return HttpResponse(303, b"", {"Location": self._base(app.key, name)})

    # -- the data browser -----------------------------------------------------------------------
    async def collection(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        collection = ctx.params["collection"]
        check_collection_name(collection)
        raw_query, raw_sort = ctx.query.get("query", "").strip(), ctx.query.get("sort", "").strip()
        limit = _int(ctx.query.get("limit"), _PAGE, 1, _MAX_PAGE)
        skip = _int(ctx.query.get("skip"), 0, 0, 10**9)
        base = self._base(app.key, collection)
        values: dict[str, Any] = {
            "app": app,
            "collection": collection,
            "base": base,
            "query": raw_query,
            "sort": raw_sort,
            "limit": limit,
            "skip": skip,
            "rows": [],
            "total": 0,
            "prev_href": None,
            "next_href": None,
            "notice": ctx.query.get("notice"),
        }
        try:
            node = parse_filter(json.loads(raw_query)) if raw_query else None
            sort = parse_sort(raw_sort) if raw_sort else ()
        except ValueError as exc:
            return self.console.page("collection.html", ctx.session, 400, error=f"Bad query: {exc}", **values)
        except BaaSError as exc:
            return self.console.page("collection.html", ctx.session, 400, error=exc.message, **values)
        query = Query(filter=node, sort=sort, skip=skip, limit=limit)
        try:
            found = await self.core.kinvey.entities.find(
                app, Caller.master(), collection, query, api_version=5, with_count=True
            )
        except BaaSError as exc:
            return self.console.page("collection.html", ctx.session, 400, error=exc.message, **values)
        rows = [{"id": orjson.loads(text).get("_id", ""), "text": text} for text in found.texts]
        total = found.count or 0

        def href(at: int) -> str:
            params = {"query": raw_query, "sort": raw_sort, "limit": str(limit), "skip": str(at)}
            return base + "?" + urlencode({k: v for k, v in params.items() if v})

        values.update(rows=rows, total=total)
        if skip > 0:
            values["prev_href"] = href(max(0, skip - limit))
        if skip + len(rows) < total:
            values["next_href"] = href(skip + limit)
        return self.console.page("collection.html", ctx.session, **values)

    async def export(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        collection = ctx.params["collection"]
        check_collection_name(collection)
        texts = [text async for text in export_texts(self.core.storage, app, collection)]
        body = ("[" + ",\n".join(texts) + "]\n").encode()
        disposition = f'attachment; filename="{collection}.json"'
        headers = {"Content-Type": "application/json", "Content-Disposition": disposition}
        return HttpResponse(200, body, headers)

    async def import_(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        collection = ctx.params["collection"]
        check_collection_name(collection)
        entities = read_json(ctx.form.get("entities", "").encode())
        count = await import_batch(self.core.storage, app, collection, entities)
        return self._back(app.key, collection, f"Imported {count} entities.")

    def _back(self, app_key: str, collection: str, notice: str) -> HttpResponse:
        location = self._base(app_key, collection) + "?" + urlencode({"notice": notice})
        return HttpResponse(303, b"", {"Location": location})

    async def entity(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        collection, entity_id = ctx.params["collection"], ctx.params["entity"]
        check_collection_name(collection)
        text = "{}"
        if entity_id != "new":
            text = await self.core.kinvey.entities.get(app, Caller.master(), collection, entity_id)
        base = self._base(app.key, collection)
        return self.console.page(
            "entity.html",
            ctx.session,
            app=app,
            collection=collection,
            base=base,
            entity_id=None if entity_id == "new" else entity_id,
            text=text,
        )

    async def save_entity(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        collection, entity_id = ctx.params["collection"], ctx.params["entity"]
        check_collection_name(collection)
        raw = ctx.form.get("body", "")
        base = self._base(app.key, collection)
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the entity must be a JSON object")
        except ValueError as exc:
            return self.console.page(
                "entity.html",
                ctx.session,
                400,
                app=app,
                collection=collection,
                base=base,
                entity_id=None if entity_id == "new" else entity_id,
                text=raw,
                error=f"Not a JSON object: {exc}",
            )
        entities, master = self.core.kinvey.entities, Caller.master()
        if entity_id == "new":
            stored = await entities.create(app, master, collection, body)
            saved_id = stored.id
        else:
            body["_id"] = entity_id
            stored, _ = await entities.save(app, master, collection, entity_id, body)
            saved_id = entity_id
        return self._back(app.key, collection, f"Saved {saved_id}.")

    async def delete_entity(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        collection, entity_id = ctx.params["collection"], ctx.params["entity"]
        check_collection_name(collection)
        await self.core.kinvey.entities.delete(app, Caller.master(), collection, entity_id)
        return self._back(app.key, collection, f"Deleted {entity_id}.")

    # -- collection settings --------------------------------------------------------------------
    async def settings(
        self,
        ctx: Context,
        *,
        status: int = 200,
        logic: dict[str, str] | None = None,
        logic_version: str | None = None,
        **extra: Any,
    ) -> HttpResponse:
        """The page; ``logic`` and its ``logic_version``: the business-logic form as submitted
        (a refused value is shown again, with the version the form was rendered from)."""
        app = await self.console.app_of(ctx)
        collection = ctx.params["collection"]
        check_collection_name(collection)
        described = await self.core.kinvey.collections.describe(app, collection)
        if logic is None or logic_version is None:
            logic = {}
            declared, logic_version = await self.core.appconfig.collection_logic(app, collection)
            if declared is not None:
                for event, ref in declared.hooks.items():
                    logic[f"{event}.service"], logic[f"{event}.function"] = ref.service, ref.function
                if declared.data_link is not None:
                    logic["data_link.service"] = declared.data_link.service
                    logic["data_link.service_object"] = declared.data_link.service_object
        return self.console.page(
            "settings.html",
            ctx.session,
            status,
            app=app,
            collection=collection,
            base=self._base(app.key, collection),
            described=described,
            described_json=json.dumps(described, indent=2, sort_keys=True),
            settings_version=settings_version(described),
            logic_version=logic_version,
            levels=LEVELS,
            events=HOOKS,
            logic=logic,
            **extra,
        )

    async def save_logic(self, ctx: Context) -> HttpResponse:
        """The collection's hooks and data link, through the app configuration (as ``kinbase
        apply`` changes them): a refused value changes nothing and shows why."""
        app = await self.console.app_of(ctx)
        collection = ctx.params["collection"]
        check_collection_name(collection)
        fields = [f"{event}.{key}" for event in HOOKS for key in ("service", "function")]
        fields += ["data_link.service", "data_link.service_object"]
        logic = {name: ctx.form.get(name, "").strip() for name in fields}

        def ref(prefix: str, keys: tuple[str, str]) -> dict[str, str] | None:
            given = {key: logic[f"{prefix}.{key}"] for key in keys if logic[f"{prefix}.{key}"]}
            return given or None

        hooks = {e: r for e in HOOKS if (r := ref(e, ("service", "function"))) is not None}
        link = ref("data_link", ("service", "service_object"))
        version = _form_version(ctx, "logic_version")
        try:
            result = await self.core.appconfig.set_collection_logic(
                app, collection, hooks=hooks, data_link=link, if_version=version
            )
        except AppConfigInvalid as exc:
            return await self.settings(ctx, status=400, logic=logic, logic_version=version, error=exc.message)
        except Conflict as exc:
            return await self.settings(ctx, status=409, error=_stale(exc))
        notice = "Business logic saved." if result.applied else "Nothing changed."
        return await self.settings(ctx, notice=notice)

    async def save_settings(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        collection = ctx.params["collection"]
        check_collection_name(collection)
        level = ctx.form.get("level", "")
        if level not in LEVELS:
            return await self.settings(ctx, status=400, error=f"Unknown permission level {level!r}.")
        ttl = _int(ctx.form.get("ttl_days"), 0, 0, 36500) or None
        try:
            await self.core.kinvey.collections.configure(
                app,
                collection,
                level=level,
                delta_set=ctx.form.get("delta_set") == "on",
                ttl_days=ttl,
                if_version=_form_version(ctx, "settings_version"),
            )
        except Conflict as exc:
            return await self.settings(ctx, status=409, error=_stale(exc))
        return await self.settings(ctx, notice="Settings saved.")

    # -- users, groups, roles, configuration, Flex ---------------------------------------------
    async def _listing(self, ctx: Context, kind: str, heading: str, path: str) -> HttpResponse:
        app = await self.console.app_of(ctx)
        rows: list[dict[str, str]] = []
        async with self.core.storage.reader() as reader:
            for parent in await reader.list_parents(app.id, kind):
                for obj in await reader.find(parent, Query(limit=_LIST_LIMIT + 1)):
                    rows.append({"id": obj.id, "text": without_secrets(obj.data)})
        more = len(rows) > _LIST_LIMIT
        return self.console.page(
            "listing.html",
            ctx.session,
            app=app,
            heading=heading,
            path=path,
            rows=rows[:_LIST_LIMIT],
            more=more,
            notice=ctx.query.get("notice"),
        )

    async def users(self, ctx: Context) -> HttpResponse:
        return await self._listing(ctx, USERS, "Users", "users")

    async def groups(self, ctx: Context) -> HttpResponse:
        return await self._listing(ctx, GROUPS, "Groups", "groups")

    async def roles(self, ctx: Context) -> HttpResponse:
        return await self._listing(ctx, ROLES, "Roles", "roles")

    async def config(self, ctx: Context, status: int = 200, **extra: Any) -> HttpResponse:
        app = await self.console.app_of(ctx)
        toml = await self.core.appconfig.export_toml(app)
        values: dict[str, Any] = {"text": toml, "version": self.core.appconfig.version_of(toml), **extra}
        return self.console.page("config.html", ctx.session, status, app=app, toml=toml, **values)

    async def save_config(self, ctx: Context) -> HttpResponse:
        """The whole configuration edited as TOML, applied as ``kinbase apply`` does; a refused
        file keeps what was typed, a stale one (changed meanwhile) changes nothing."""
        app = await self.console.app_of(ctx)
        text, version = ctx.form.get("toml", ""), _form_version(ctx, "version")
        try:
            result = await self.core.appconfig.replace(app, parse_toml(text), if_version=version)
        except AppConfigInvalid as exc:
            return await self.config(ctx, 400, text=text, version=version, error=exc.message)
        except Conflict as exc:
            return await self.config(ctx, 409, error=_stale(exc))
        notice = f"Applied {len(result.changes)} change(s)." if result.applied else "Nothing changed."
        return await self.config(ctx, notice=notice)

    async def config_toml(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        toml = await self.core.appconfig.export_toml(app)
        headers = {
            "Content-Type": "application/toml; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{app.key}.toml"',
        }
        return HttpResponse(200, toml.encode(), headers)

    async def flex(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        config = await self.core.appconfig.current(app)
        wanted = ctx.query.get("discover")
        services = []
        for name, service in sorted(config.flex_services.items()):
            discovery = None
            if name == wanted:
                try:
                    bound = await self.core.flex.service(app, name)
                    discovery = json.dumps(_plain(await bound.discover()), indent=1, default=str)
                except BaaSError as exc:
                    discovery = f"discovery failed: {exc.message}"
            services.append({"name": name, "url": service.url, "discovery": discovery})
        schedules = [
            {
                "name": name,
                "cron": s.cron,
                "service": s.service,
                "function": s.function,
                "enabled": s.enabled is not False,
            }
            for name, s in sorted(config.schedules.items())
        ]
        endpoints = [f"{name} → {e.service} / {e.function}" for name, e in sorted(config.endpoints.items())]
        runs = await self.core.schedules.runs.list(app, limit=50)
        return self.console.page(
            "flex.html",
            ctx.session,
            app=app,
            services=services,
            schedules=schedules,
            endpoints=endpoints,
            runs=runs,
        )

    async def files(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        options = LinkOptions(base_url=ctx.request.origin, ttl_seconds=600)
        found = await self.core.files.kinvey.find(
            app, Caller.master(), Query(limit=_LIST_LIMIT), options, api=FilesApi(5)
        )
        rows: list[dict[str, Any]] = []
        for doc in found:
            url, mime = doc.get("_downloadURL"), str(doc.get("mimeType", ""))
            same_origin = isinstance(url, str) and url.startswith(ctx.request.origin + "/")
            rows.append(
                {
                    "id": doc.get("_id", ""),
                    "name": doc.get("_filename", ""),
                    "mime": mime,
                    "size": doc.get("size"),
                    "public": bool(doc.get("_public")),
                    "url": url,
                    "preview": same_origin and mime.startswith("image/"),
                }
            )
        return self.console.page("files.html", ctx.session, app=app, rows=rows)


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def _form_version(ctx: Context, name: str) -> str:
    """The version of what a settings form was rendered from (its hidden field ``name``)."""
    version = ctx.form.get(name, "").strip()
    if not version:
        raise ConsoleError(400, "The form has no version: reload the page and try again.")
    return version


def _stale(exc: Conflict) -> str:
    return f"{exc.message} The form now shows the current values: make your change again."


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    text = (raw or "").strip()
    value = uint(text.removeprefix("-"))
    if value is None:
        return default
    return max(low, min(high, -value if text.startswith("-") else value))
