"""The console's users, groups and roles: create, edit (the JSON of the object, as the data
browser edits entities) and delete after a confirmation page, through the core Kinvey services
with the master secret's rights (passwords and tokens are never shown). A user can also be
suspended (Kinvey's soft delete: its sessions end, it cannot log in) and restored."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import orjson

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.services import KinveyServices
from kinbase.errors import BaaSError
from kinbase.frontends.console.frontend import ConsoleError
from kinbase.frontends.kinvey.errors import status_of
from kinbase.http.response import HttpResponse
from kinbase.storage.base import AppRecord

if TYPE_CHECKING:
    from kinbase.frontends.console.frontend import ConsoleFrontend, Context

__all__ = ["KINDS", "register", "without_secrets"]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of object: its path segment, its name in messages, and its core operations."""

    path: str
    noun: str
    get: Callable[[KinveyServices, AppRecord, str], Awaitable[str]]
    create: Callable[[KinveyServices, AppRecord, dict[str, Any]], Awaitable[tuple[str, str | None]]]
    """Returns the new id and, for a user created without a password, the generated one."""
    update: Callable[[KinveyServices, AppRecord, str, dict[str, Any]], Awaitable[None]]
    delete: Callable[[KinveyServices, AppRecord, str], Awaitable[None]]


_MASTER = Caller.master()


async def _user_get(k: KinveyServices, app: AppRecord, user_id: str) -> str:
    return await k.users.get(app, _MASTER, user_id)


async def _user_create(k: KinveyServices, app: AppRecord, body: dict[str, Any]) -> tuple[str, str | None]:
    result = await k.users.signup(app, body, with_token=False)
    generated = None if "password" in body else str(result.user.get("password"))
    return str(result.user["_id"]), generated


async def _user_update(k: KinveyServices, app: AppRecord, user_id: str, body: dict[str, Any]) -> None:
    await k.users.update(app, _MASTER, user_id, body)


async def _user_delete(k: KinveyServices, app: AppRecord, user_id: str) -> None:
    await k.users.delete(app, _MASTER, user_id, hard=True)


async def _group_get(k: KinveyServices, app: AppRecord, group_id: str) -> str:
    return await k.groups.get(app, _MASTER, group_id)


async def _group_create(k: KinveyServices, app: AppRecord, body: dict[str, Any]) -> tuple[str, str | None]:
    stored, _ = await k.groups.save(app, _MASTER, None, body)
    return stored.id, None


async def _group_update(k: KinveyServices, app: AppRecord, group_id: str, body: dict[str, Any]) -> None:
    await k.groups.save(app, _MASTER, group_id, body)


async def _group_delete(k: KinveyServices, app: AppRecord, group_id: str) -> None:
    await k.groups.delete(app, _MASTER, group_id)


async def _role_get(k: KinveyServices, app: AppRecord, role_id: str) -> str:
    return (await k.roles.get(app, _MASTER, role_id))[0]


async def _role_create(k: KinveyServices, app: AppRecord, body: dict[str, Any]) -> tuple[str, str | None]:
    stored, _ = await k.roles.save(app, _MASTER, None, body)
    return stored.id, None


async def _role_update(k: KinveyServices, app: AppRecord, role_id: str, body: dict[str, Any]) -> None:
    await k.roles.save(app, _MASTER, role_id, {**body, "_id": role_id})


async def _role_delete(k: KinveyServices, app: AppRecord, role_id: str) -> None:
    await k.roles.delete(app, _MASTER, role_id)


KINDS = (
    Kind("users", "user", _user_get, _user_create, _user_update, _user_delete),
    Kind("groups", "group", _group_get, _group_create, _group_update, _group_delete),
    Kind("roles", "role", _role_get, _role_create, _role_update, _role_delete),
)


def without_secrets(text: str) -> str:
    """An object's JSON without passwords, credentials and session tokens."""
    doc = orjson.loads(text)
    if isinstance(doc, dict):
        for key in ("password", "_password", "_credentials"):
            doc.pop(key, None)
        kmd = doc.get("_kmd")
        if isinstance(kmd, dict):
            kmd.pop("authtoken", None)
    return orjson.dumps(doc).decode()


def register(console: ConsoleFrontend) -> None:
    """Add the edit and delete pages of users, groups and roles to ``console``'s routes."""
    for kind in KINDS:
        pages = People(console, kind)
        base = f"/console/apps/{{app}}/{kind.path}/{{entity}}"
        console._add("GET", base, pages.editor)
        console._add("POST", base, pages.save)
        console._add("GET", base + "/delete", pages.delete_page)
        console._add("POST", base + "/delete", pages.delete)
        if kind.path == "users":
            console._add("POST", base + "/suspend", pages.suspend)
            console._add("POST", base + "/restore", pages.restore)


class People:
    def __init__(self, console: ConsoleFrontend, kind: Kind) -> None:
        self.console = console
        self.kind = kind

    def _listing(self, app: AppRecord, notice: str) -> HttpResponse:
        path = f"/console/apps/{quote(app.key, safe='')}/{self.kind.path}"
        location = path + "?" + urlencode({"notice": notice})
        return HttpResponse(303, b"", {"Location": location})

    def _editor(
        self, ctx: Context, app: AppRecord, entity_id: str | None, text: str, status: int = 200, **extra: Any
    ) -> HttpResponse:
        return self.console.page(
            "person.html",
            ctx.session,
            status,
            app=app,
            kind=self.kind,
            entity_id=entity_id,
            text=text,
            suspended=self.kind.path == "users" and _suspended(text),
            **extra,
        )

    async def editor(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        entity_id = ctx.params["entity"]
        if entity_id == "new":
            return self._editor(ctx, app, None, "{}")
        text = without_secrets(await self.kind.get(self.console.core.kinvey, app, entity_id))
        return self._editor(ctx, app, entity_id, text)

    async def save(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        entity_id = ctx.params["entity"]
        shown_id = None if entity_id == "new" else entity_id
        raw = ctx.form.get("body", "")
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError(f"the {self.kind.noun} must be a JSON object")
        except ValueError as exc:
            return self._editor(ctx, app, shown_id, raw, 400, error=f"Not a JSON object: {exc}")
        core = self.console.core.kinvey
        try:
            if shown_id is None:
                new_id, generated = await self.kind.create(core, app, body)
                if generated is not None:  # shown once, on this page, never in a URL
                    notice = f"Created the {self.kind.noun} {new_id} with the generated password {generated}."
                    text = without_secrets(await self.kind.get(core, app, new_id))
                    return self._editor(ctx, app, new_id, text, 201, notice=notice)
                return self._listing(app, f"Created the {self.kind.noun} {new_id}.")
            await self.kind.update(core, app, shown_id, body)
        except BaaSError as exc:
            status = status_of(exc.name) if isinstance(exc, KinveyError) else exc.status_code
            if status >= 500:
                raise
            message = str(exc.debug or exc.message) if isinstance(exc, KinveyError) else exc.message
            return self._editor(ctx, app, shown_id, raw, status, error=message)
        return self._listing(app, f"Saved the {self.kind.noun} {shown_id}.")

    async def delete_page(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        entity_id = ctx.params["entity"]
        text = without_secrets(await self.kind.get(self.console.core.kinvey, app, entity_id))
        return self.console.page(
            "person_delete.html", ctx.session, app=app, kind=self.kind, entity_id=entity_id, text=text
        )

    async def delete(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        entity_id = ctx.params["entity"]
        if ctx.form.get("confirm") != "yes":
            raise ConsoleError(400, "Confirm the deletion on its page.")
        await self.kind.delete(self.console.core.kinvey, app, entity_id)
        return self._listing(app, f"Deleted the {self.kind.noun} {entity_id}.")

    async def suspend(self, ctx: Context) -> HttpResponse:
        """Kinvey's soft delete: the user stays, its sessions end and it cannot log in."""
        app = await self.console.app_of(ctx)
        entity_id = ctx.params["entity"]
        await self.console.core.kinvey.users.delete(app, _MASTER, entity_id, hard=False)
        text = without_secrets(await self.kind.get(self.console.core.kinvey, app, entity_id))
        notice = f"Suspended the user {entity_id}: its sessions ended, it cannot log in until restored."
        return self._editor(ctx, app, entity_id, text, notice=notice)

    async def restore(self, ctx: Context) -> HttpResponse:
        app = await self.console.app_of(ctx)
        entity_id = ctx.params["entity"]
        await self.console.core.kinvey.users.restore(app, entity_id)
        text = without_secrets(await self.kind.get(self.console.core.kinvey, app, entity_id))
        return self._editor(ctx, app, entity_id, text, notice=f"Restored the user {entity_id}.")


def _suspended(text: str) -> bool:
    doc = orjson.loads(text)
    kmd = doc.get("_kmd") if isinstance(doc, dict) else None
    status = kmd.get("status") if isinstance(kmd, dict) else None
    return isinstance(status, dict) and status.get("val") == "disabled"
