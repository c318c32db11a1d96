"""The Flex test service of tests/core/flex, written with kinbase-flex. ``node/service.js`` is the
same service written with the official kinvey-flex-sdk: the tests run each case against both."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

import kinbase_flex

flex = kinbase_flex.service(shared_secret=os.environ.get("FLEX_SHARED_SECRET") or None)

_rows: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()
_next = [1]


def _selected(query: Any) -> list[dict[str, Any]]:
    params = query or {}
    conditions = json.loads(params.get("query") or "{}")
    with _lock:
        found = [r for r in _rows.values() if all(r.get(k) == v for k, v in conditions.items())]
    found = found[int(params.get("skip") or 0) :]
    if params.get("limit"):
        found = found[: int(params["limit"])]
    return found


def _insert(entity: dict[str, Any]) -> dict[str, Any]:
    row = dict(entity)
    with _lock:
        if not row.get("_id"):
            row["_id"] = f"t{_next[0]}"
            _next[0] += 1
        _rows[row["_id"]] = row
    return row


things = flex.data.serviceObject("things")
things.onGetAll(lambda context, complete, modules: complete(list(_rows.values())).ok().next())
things.onGetByQuery(lambda context, complete, modules: complete(_selected(context.query)).ok().next())
things.onGetCount(lambda context, complete, modules: complete({"count": len(_rows)}).ok().next())
things.onGetCountByQuery(
    lambda context, complete, modules: complete({"count": len(_selected(context.query))}).ok().next()
)
things.onInsert(lambda context, complete, modules: complete(_insert(context.body)).created().next())
things.onInsertMany(
    lambda context, complete, modules: (
        complete({"entities": [_insert(e) for e in context.body], "errors": []}).created().next()
    )
)


@things.onGetById
def get_by_id(context: Any, complete: Any, modules: Any) -> None:
    row = _rows.get(context.entityId)
    if row is None:
        complete(f"No thing {context.entityId}").notFound().done()
        return
    complete(row).ok().next()


@things.onUpdate
def update(context: Any, complete: Any, modules: Any) -> None:
    if context.entityId not in _rows:
        complete(f"No thing {context.entityId}").notFound().done()
        return
    row = {**context.body, "_id": context.entityId}
    _rows[context.entityId] = row
    complete(row).ok().next()


@things.onDeleteById
def delete_by_id(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        removed = _rows.pop(context.entityId, None)
    complete({"count": 0 if removed is None else 1}).ok().next()


@things.onDeleteByQuery
def delete_by_query(context: Any, complete: Any, modules: Any) -> None:
    doomed = _selected(context.query)
    with _lock:
        for row in doomed:
            _rows.pop(row["_id"], None)
    complete({"count": len(doomed)}).ok().next()


@things.onDeleteAll
def delete_all(context: Any, complete: Any, modules: Any) -> None:
    with _lock:
        count = len(_rows)
        _rows.clear()
    complete({"count": count}).ok().next()


fns = flex.functions


@fns.register("echo")
def echo(context: Any, complete: Any, modules: Any) -> None:
    complete(
        {
            "method": context.method,
            "hookType": context.hookType,
            "objectName": context.objectName,
            "entityId": getattr(context, "entityId", None),
            "body": context.body,
            "query": getattr(context, "query", None),
            "username": context.username,
            "userId": context.userId,
            "headers": context.headers,
            "appKey": modules.backendContext.getAppKey(),
            "appSecret": modules.backendContext.getAppSecret(),
            "masterSecret": modules.backendContext.getMasterSecret(),
            "securityContext": modules.requestContext.getSecurityContext(),
        }
    ).ok().done()


@fns.register("preSave")
def pre_save(context: Any, complete: Any, modules: Any) -> None:
    complete().setBody({**context.body, "stamped": True}).setQuery({"query": {"stamped": True}}).ok().next()


fns.register("reject", lambda context, complete, modules: complete().forbidden("not today").done())


@fns.register("postShape")
def post_shape(context: Any, complete: Any, modules: Any) -> None:
    items = context.body
    complete({"wrapped": items, "count": len(items) if isinstance(items, list) else 1}).ok().next()


@fns.register("temp")
def temp(context: Any, complete: Any, modules: Any) -> None:
    store = modules.tempObjectStore
    store.set("n", (store.get("n") or 0) + 1)
    complete(store.getAll()).ok().next()


@fns.register("slow")
async def slow(context: Any, complete: Any, modules: Any) -> None:
    await asyncio.sleep(context.body["ms"] / 1000)
    complete({"slept": context.body["ms"]}).ok().done()


@fns.register("callback")
async def callback(context: Any, complete: Any, modules: Any) -> None:
    try:
        found = await modules.dataStore().collection("things").find()
    except kinbase_flex.FlexError as err:
        complete({"error": str(err), "debug": getattr(err, "debug", None)}).runtimeError().done()
        return
    complete({"found": found}).ok().done()


@flex.auth.register("login")
def login(context: Any, complete: Any, modules: Any) -> None:
    username, password = context.body.get("username"), context.body.get("password")
    if username != "flexuser" or password != "flexpass":
        complete().accessDenied("Wrong username or password").next()
        return
    complete().setToken({"access_token": f"tok-{username}"}).addAttribute(
        "email", f"{username}@example.test"
    ).ok().next()


_tally: list[float] = []


@fns.register("tally")
def tally(context: Any, complete: Any, modules: Any) -> None:
    """Count the calls (the scheduling tests check that each tick calls once)."""
    import time

    with _lock:
        _tally.append(time.time())
    complete({"calls": len(_tally)}).ok().done()


fns.register("tallies", lambda context, complete, modules: complete({"calls": list(_tally)}).ok().done())
fns.register("fail", lambda context, complete, modules: complete().badRequest("scheduled failure").done())


# -- the modules' calls back into kinbase (tests/core/flex/test_callbacks.py) ----------------


def _failure(err: Exception) -> dict[str, Any]:
    return {"error": str(err), "debug": getattr(err, "debug", None)}


@fns.register("cbData")
async def cb_data(context: Any, complete: Any, modules: Any) -> None:
    """dataStore: writes with and without business logic, reads, counts, and the user's view."""
    name, private = context.body["collection"], context.body["private"]
    try:
        plain = modules.dataStore().collection(name)
        saved = await plain.save({"_id": "plain", "n": 1})
        hooked = await modules.dataStore({"useBl": True}).collection(name).save({"_id": "hooked", "n": 2})
        as_user = (
            await modules.dataStore({"useUserContext": True}).collection(name).save({"_id": "user", "n": 3})
        )
        found = await plain.find(modules.Query().equalTo("n", 1))
        count = await plain.count()
        mine = await modules.dataStore({"useUserContext": True}).collection(private).find()
        everyone = await modules.dataStore().collection(private).find()
    except kinbase_flex.FlexError as err:
        complete(_failure(err)).ok().done()
        return
    complete(
        {
            "saved": saved,
            "hooked": hooked,
            "asUser": as_user,
            "found": found,
            "count": count,
            "mine": mine,
            "all": everyone,
        }
    ).ok().done()


@fns.register("cbStores")
async def cb_stores(context: Any, complete: Any, modules: Any) -> None:
    """userStore, groupStore and roleStore."""
    user_id = context.body["userId"]
    try:
        user = await modules.userStore().findById(user_id)
        users = await modules.userStore().count()
        group = await modules.groupStore().create({"_id": "crew", "name": "Crew"})
        fetched = await modules.groupStore().findById("crew")
        role = await modules.roleStore().create({"name": "editors"})
        await modules.userStore().assignRole(user_id, role["_id"])
        members = await modules.roleStore().listMembers(role["_id"])
    except kinbase_flex.FlexError as err:
        complete(_failure(err)).ok().done()
        return
    complete(
        {
            "username": user["username"],
            "users": users,
            "group": group["_id"],
            "fetched": fetched["name"],
            "role": role["name"],
            "members": members,
        }
    ).ok().done()


@fns.register("hop")
async def hop(context: Any, complete: Any, modules: Any) -> None:
    """Call the next endpoint of ``body.path`` (endpointRunner), and report what it answered."""
    path = context.body.get("path") or []
    if not path:
        complete({"via": context.objectName, "end": True}).ok().done()
        return
    try:
        result = await modules.endpointRunner().endpoint(path[0]).execute({"path": path[1:]})
    except kinbase_flex.FlexError as err:
        complete({"via": context.objectName, **_failure(err)}).ok().done()
        return
    complete({"via": context.objectName, "result": result}).ok().done()


@fns.register("cbEmail")
async def cb_email(context: Any, complete: Any, modules: Any) -> None:
    b = context.body
    try:
        sent = await modules.email.send(b["from"], b["to"], b["subject"], b["text"], b["replyTo"], b["html"])
    except kinbase_flex.FlexError as err:
        complete(_failure(err)).ok().done()
        return
    complete({"sent": sent}).ok().done()


@fns.register("cbPush")
async def cb_push(context: Any, complete: Any, modules: Any) -> None:
    try:
        report = await modules.push.sendMessage({"_id": context.body["userId"]}, context.body["message"])
    except kinbase_flex.FlexError as err:
        complete(_failure(err)).ok().done()
        return
    complete({"report": report}).ok().done()


@fns.register("stamp")
def stamp(context: Any, complete: Any, modules: Any) -> None:
    complete().setBody({**context.body, "stampedBy": context.objectName}).ok().next()


@fns.register("bounce")
async def bounce(context: Any, complete: Any, modules: Any) -> None:
    """A pre-save hook that saves into the other collection of a pair, with business logic."""
    other = "loopB" if context.objectName == "loopA" else "loopA"
    body = dict(context.body)
    try:
        saved = await modules.dataStore({"useBl": True}).collection(other).save({"from": context.objectName})
        body["saved"] = saved["_id"]
    except kinbase_flex.FlexError as err:
        body["refused"] = _failure(err)
    complete().setBody(body).ok().next()
