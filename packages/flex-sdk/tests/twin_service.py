"""The twin service written with kinbase-flex: node/service.js is the same service written with the
official kinvey-flex-sdk, and test_flex_node_parity.py sends both the same requests. The FlexFunctions
handlers that exercise the modules are in twin_modules.py, registered here after the others.

The twin uses all three handler styles on purpose: plain functions (run in a worker thread), ``async def``
handlers awaiting module calls, and Node-style callbacks.
"""

from __future__ import annotations

import os
from typing import Any

import kinbase_flex
import twin_modules

flex = kinbase_flex.service(shared_secret=os.environ.get("FLEX_SHARED_SECRET") or None)


class Error(Exception):
    """Named like JavaScript's Error, so ``{name, message, stack}`` bodies compare equal."""


# -- FlexData -------------------------------------------------------------------------------
widgets = flex.data.serviceObject("widgets")


def echo(event: str, status: str) -> Any:
    def handler(context: Any, complete: Any, modules: Any) -> None:
        getattr(complete().setBody({"event": event, "context": context}), status)().next()

    return handler


widgets.onInsert(
    lambda context, complete, modules: (
        complete().setBody({"event": "onInsert", "context": context}).created().done()
    )
)
widgets.onInsertMany(echo("onInsertMany", "created"))
widgets.onUpdate(echo("onUpdate", "ok"))
widgets.onDeleteById(echo("onDeleteById", "accepted"))
widgets.onDeleteByQuery(
    lambda context, complete, modules: complete({"count": 2, "context": context}).ok().next()
)
widgets.onDeleteAll(lambda context, complete, modules: complete({"count": 5}).ok().done())
widgets.onGetAll(echo("onGetAll", "ok"))
widgets.onGetByQuery(echo("onGetByQuery", "ok"))


@widgets.onGetCount
async def get_count(context: Any, complete: Any, modules: Any) -> None:
    complete({"count": 3}).ok().next()


widgets.on_get_count_by_query(
    lambda context, complete, modules: complete({"count": 1, "query": context.query}).ok().next()
)


@widgets.onGetById
def get_by_id(context: Any, complete: Any, modules: Any) -> None:
    match context.entityId:
        case "missing":
            complete().setBody("Entity missing").notFound().next()
        case "bad":
            complete().badRequest("bad id").done()
        case "unauth":
            complete().unauthorized().done()
        case "forbidden":
            complete().forbidden({"reason": "nope"}).done()
        case "notallowed":
            complete("not here").notAllowed().done()
        case "notimpl":
            complete().notImplemented("later").done()
        case "runtime":
            complete().setBody(Error("boom")).runtimeError().done()
        case "text":
            complete().setBody("plain text").ok().done()
        case "numstr":
            complete().setBody("123").ok().done()
        case "jsonstr":
            complete().setBody('{"a":[1,2]}').ok().done()
        case "empty":
            complete().ok().done()
        case "zero":
            complete(0).ok().done()
        case "list":
            complete([]).ok().done()
        case "twice":
            complete({"first": True}).ok().done()
            complete({"second": True}).ok().done()
        case _:
            complete().setBody({"event": "onGetById", "context": context}).ok().next()


flex.data.serviceObject("sprockets")

# -- FlexFunctions --------------------------------------------------------------------------
fns = flex.functions
fns.register("echo", lambda context, complete, modules: complete().setBody({"context": context}).ok().done())


@fns.register("stampPreSave")
def stamp_pre_save(context: Any, complete: Any, modules: Any) -> None:
    body = context.body
    body["stampedBy"] = "flex"
    complete().setBody(body).setQuery(
        {"query": {"stamped": True}, "sort": {"name": 1}, "limit": "5"}
    ).ok().next()


@fns.register("postCount")
def post_count(context: Any, complete: Any, modules: Any) -> None:
    items = context.body
    complete().setBody({"items": items, "count": len(items) if isinstance(items, list) else 0}).ok().next()


@fns.register("status")
def status(context: Any, complete: Any, modules: Any) -> None:
    b = context.body
    builder = getattr(complete().setBody(b.get("message")), b["status"])
    builder = builder(b.get("debug")) if b["status"] not in ("ok", "created", "accepted") else builder()
    getattr(builder, b.get("end") or "done")()


fns.register("nextOnly", lambda context, complete, modules: complete().next())


for name, handler in twin_modules.HANDLERS.items():
    fns.register(name, handler)


# -- FlexAuth -------------------------------------------------------------------------------
@flex.auth.register("fixedAuth")
def fixed_auth(context: Any, complete: Any, modules: Any) -> None:
    username = context.body["username"]
    (
        complete()
        .setToken({"access_token": f"tok-{username}", "issuer": "fixedAuth"})
        .addAttribute("email", f"{username}@example.test")
        .addAttribute("tmp", 1)
        .removeAttribute("tmp")
        .ok()
        .next()
    )


@flex.auth.register("modes")
async def modes(context: Any, complete: Any, modules: Any) -> None:
    mode = context.body["options"]["mode"]
    if mode == "deny":
        complete().accessDenied("bad password").next()
    elif mode == "server":
        complete().serverError("db down").done()
    elif mode == "unavailable":
        complete("later").temporarilyUnavailable().done()
    elif mode == "bare":
        complete().accessDenied().done()
    elif mode == "notimpl":
        complete().notImplemented().done()
    elif mode == "nook":
        complete().setToken("abc").next()
    else:
        complete({"t": 1}).ok().done()


flex.auth.register(
    "echoAuth", lambda context, complete, modules: complete().setToken({"context": context}).ok().done()
)
