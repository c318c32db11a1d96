"""A complete Flex service written with kinbase-flex.

* FlexData: a ``widgets`` service object over an in-memory table (the stand-in for the external
  system a real service would reach: an SQL table, a REST API...), with every data event.
* FlexFunctions: a pre-save hook, a post-fetch hook and a custom endpoint that reads the backend's
  own ``inventory`` collection through ``modules.dataStore`` and sends an email.
* FlexAuth: a login handler for the backend's MIC (custom authentication) layer.

Run it::

    FLEX_SHARED_SECRET=change-me python examples/widgets_service.py            # flex.run()
    kinbase-flex run widgets_service:flex --app-dir examples --port 10001      # or the CLI

and point the backend's Flex service configuration at http://127.0.0.1:10001 with the same secret.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import kinbase_flex

flex = kinbase_flex.service(shared_secret=os.environ.get("FLEX_SHARED_SECRET"))

# -- FlexData: the "widgets" service object ---------------------------------------------------

_table: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()  # plain handlers run in worker threads


def _selected(context: Any) -> list[dict[str, Any]]:
    """The widgets matching ``?query=`` (equality on top-level fields), with ``skip`` and ``limit``."""
    params = context.query or {}
    conditions = json.loads(params.get("query") or "{}")
    with _lock:
        rows = [w for w in _table.values() if all(w.get(k) == v for k, v in conditions.items())]
    skip = int(params.get("skip") or 0)
    limit = int(params["limit"]) if params.get("limit") else None
    return rows[skip : skip + limit if limit is not None else None]


widgets = flex.data.serviceObject("widgets")


@widgets.onGetAll
def get_all(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        rows = list(_table.values())
    complete().setBody(rows).ok().next()


@widgets.onGetByQuery
def get_by_query(context: Any, complete: Any, modules: Any) -> None:
    try:
        rows = _selected(context)
    except (ValueError, TypeError) as err:
        complete().setBody(f"Bad query: {err}").badRequest().done()
        return
    complete().setBody(rows).ok().next()


@widgets.onGetById
def get_by_id(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        widget = _table.get(context.entityId)
    if widget is None:
        complete().setBody(f"Widget {context.entityId} was not found").notFound().done()
        return
    complete().setBody(widget).ok().next()


@widgets.onGetCount
def get_count(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        complete().setBody({"count": len(_table)}).ok().next()


@widgets.onGetCountByQuery
def get_count_by_query(context: Any, complete: Any, modules: Any) -> None:
    complete().setBody({"count": len(_selected(context))}).ok().next()


@widgets.onInsert
def insert(context: Any, complete: Any, modules: Any) -> None:
    if not isinstance(context.body, dict) or not context.body.get("name"):
        complete().setBody("A widget needs a name").badRequest().done()
        return
    widget = modules.kinveyEntity.entity(context.body)  # adds _id, _acl.creator and _kmd
    widget._acl.addReader(modules.requestContext.getAuthenticatedUserId())
    with _lock:
        _table[widget["_id"]] = widget
    complete().setBody(widget).created().next()


@widgets.onUpdate
def update(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        if context.entityId not in _table:
            complete().setBody(f"Widget {context.entityId} was not found").notFound().done()
            return
        widget = modules.kinveyEntity.entity({**context.body, "_id": context.entityId})
        _table[context.entityId] = widget
    complete().setBody(widget).ok().next()


@widgets.onDeleteById
def delete_by_id(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        removed = _table.pop(context.entityId, None)
    complete().setBody({"count": 0 if removed is None else 1}).ok().next()


@widgets.onDeleteByQuery
def delete_by_query(context: Any, complete: Any, modules: Any) -> None:
    doomed = _selected(context)
    with _lock:
        for widget in doomed:
            _table.pop(widget["_id"], None)
    complete().setBody({"count": len(doomed)}).ok().next()


@widgets.onDeleteAll
def delete_all(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        count = len(_table)
        _table.clear()
    complete().setBody({"count": count}).ok().next()


# -- FlexFunctions: hooks and a custom endpoint -----------------------------------------------


@flex.functions.register("stampPreSave")
def stamp_pre_save(context: Any, complete: Any, modules: Any) -> None:
    """A Before-save collection hook: stamp who saved the entity and when, then let the save go on."""
    if context.hookType != "pre":
        complete().setBody("stampPreSave is a pre-save hook").badRequest().done()
        return
    entity = dict(context.body or {})
    entity["stampedBy"] = modules.requestContext.getAuthenticatedUsername() or "flex"
    entity["stampedAt"] = modules.kinveyDate.toKinveyDateString(_now())
    complete().setBody(entity).next()


@flex.functions.register("hideSecrets")
def hide_secrets(context: Any, complete: Any, modules: Any) -> None:
    """An After-fetch hook: drop ``secret`` fields unless the master secret made the request."""
    if modules.requestContext.getSecurityContext() == "master":
        complete().next()
        return
    body = context.body
    items = body if isinstance(body, list) else [body]
    cleaned = [
        {k: v for k, v in item.items() if k != "secret"} if isinstance(item, dict) else item for item in items
    ]
    complete().setBody(cleaned if isinstance(body, list) else cleaned[0]).ok().next()


@flex.functions.register("lowStock")
async def low_stock(context: Any, complete: Any, modules: Any) -> None:
    """A custom endpoint: find the inventory items below a threshold and email the buyer."""
    threshold = (context.body or {}).get("threshold", 10)
    query = modules.Query().lessThan("stock", threshold)
    query.ascending("stock")
    query.fields = ["name", "stock"]
    try:
        items = await modules.dataStore().collection("inventory").find(query)
        if items:
            names = ", ".join(item.get("name", "?") for item in items)
            await modules.email.send(
                "stock@example.test", "buyer@example.test", "Low stock", f"Reorder: {names}"
            )
    except kinbase_flex.FlexError as err:
        complete().setBody(err).runtimeError().done()
        return
    complete().setBody({"threshold": threshold, "items": items}).ok().done()


# -- FlexAuth ---------------------------------------------------------------------------------

_USERS = {"flexuser": "flexpass"}


@flex.auth.register("fixedAuth")
def fixed_auth(context: Any, complete: Any, modules: Any) -> None:
    username, password = context.body.get("username"), context.body.get("password")
    if _USERS.get(username) != password:
        complete().accessDenied("Wrong username or password").next()
        return
    token = {"access_token": f"flex-fixed-token-{username}", "issuer": "fixedAuth"}
    complete().setToken(token).addAttribute("email", f"{username}@example.test").ok().next()


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


if __name__ == "__main__":
    flex.run()
