"""The FlexFunctions handlers of the twin service that exercise the modules (tempObjectStore,
requestContext, backendContext, Query, kinveyEntity, kinveyDate, and the stores, push, email and
endpoint calls back into the backend); twin_service.py registers them, in this order, after its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kinbase_flex

Handler = Callable[[Any, Any, Any], Any]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Collect a FlexFunctions handler under ``name`` (registered by twin_service.py)."""

    def collect(function: Handler) -> Handler:
        HANDLERS[name] = function
        return function

    return collect


def error_info(err: Any) -> Any:
    if err is None:
        return None
    return {
        "error": str(err),
        "description": getattr(err, "description", None),
        "debug": getattr(err, "debug", None),
    }


@handler("tempStore")
def temp_store(context: Any, complete: Any, modules: Any) -> None:
    store = modules.tempObjectStore
    store.set("seen", store.get("count") + 1)
    complete().setBody(store.getAll()).ok().next()


@handler("moduleInfo")
def module_info(context: Any, complete: Any, modules: Any) -> None:
    rc = modules.requestContext
    v = rc.clientAppVersion
    info = {
        "appKey": modules.backendContext.getAppKey(),
        "appSecret": modules.backendContext.getAppSecret(),
        "masterSecret": modules.backendContext.getMasterSecret(),
        "username": rc.getAuthenticatedUsername(),
        "userId": rc.getAuthenticatedUserId(),
        "securityContext": rc.getSecurityContext(),
        "office": rc.getCustomRequestProperty("officeLocation"),
        "absent": rc.getCustomRequestProperty("absent") is None,
        "version": [v.stringValue(), v.majorVersion(), v.minorVersion(), v.patchVersion()],
    }
    if info["office"] is None:
        del info["office"]  # JavaScript's undefined: the key is not in the JSON
    complete().setBody(info).ok().done()


@handler("queryOps")
def query_ops(context: Any, complete: Any, modules: Any) -> None:
    q = modules.Query()
    (
        q.equalTo("name", "x")
        .notEqualTo("a", 1)
        .greaterThan("b", 2)
        .greaterThanOrEqualTo("c", 3)
        .lessThan("d", 4)
        .lessThanOrEqualTo("e", 5)
        .exists("f")
        .exists("g", False)
        .mod("h", 3, 1)
        .matches("i", "^ab", {"multiline": True, "extended": True, "dotMatchesAll": True})
        .contains("j", [1, 2])
        .containsAll("k", ["x"])
        .notContainedIn("l", "z")
        .size("m", 2)
        .near("_geoloc", [1.5, 2.5], 10)
    )
    q.limit = 20
    q.skip = 10
    q.fields = ["name", "b"]
    q.ascending("name")
    q.descending("b")
    j = modules.Query()
    j.equalTo("last", "Doe").or_().equalTo("last", "Roe")
    k = modules.Query()
    k.equalTo("x", 1).and_().equalTo("y", 2).nor().equalTo("z", 3)
    m = modules.Query()
    m.equalTo("p", 1)
    n = modules.Query()
    n.equalTo("q", 2)
    m.or_(n)
    m.and_({"filter": {"r": 3}})

    def set_fields() -> None:
        q.fields = "x"

    errors = []
    import re

    for bad in (
        lambda: q.greaterThan("a", {}),
        lambda: q.matches("a", "no-anchor"),
        lambda: q.matches("a", re.compile("^a", re.IGNORECASE)),
        lambda: q.mod("a", "x"),
        lambda: q.size("a", "x"),
        set_fields,
        lambda: q.near("a", [1]),
    ):
        try:
            bad()
            errors.append(None)
        except kinbase_flex.QueryError as e:
            errors.append([str(e), e.debug])
    complete().setBody(
        {
            "q": q.toQueryString(),
            "j": j.toQueryString(),
            "k": k.toQueryString(),
            "m": m.toQueryString(),
            "errors": errors,
        }
    ).ok().done()


@handler("queryGeo")
def query_geo(context: Any, complete: Any, modules: Any) -> None:
    q = modules.Query()
    q.withinBox("_geoloc", [1, 2], [3, 4]).withinPolygon("loc", [[1, 2], [3, 4], [5, 6]])
    complete().setBody(q.toQueryString()).ok().done()


@handler("entity")
def entity(context: Any, complete: Any, modules: Any) -> None:
    ke = modules.kinveyEntity
    e = ke.entity({"name": "x"})
    (
        e._acl.addReader("r1")
        .addReader("r1")
        .addWriter("w1")
        .addReaderGroup("g1")
        .addWriterGroup("g2")
        .addReaderRole("ro1")
        .addUpdateRole("ro2")
        .addDeleteRole("ro3")
        .removeReader("nobody")
        .setGloballyReadable(True)
        .setGloballyWritable(False)
    )
    (
        e._acl.addReader("r2")
        .removeReader("r2")
        .addWriterGroup("g3")
        .removeWriterGroup("g3")
        .addReaderGroup("g4")
        .removeReaderGroup("g4")
        .addWriter("w2")
        .removeWriter("w2")
        .addReaderRole("ro9")
        .removeReaderRole("ro9")
        .addUpdateRole("ro8")
        .removeUpdateRole("ro8")
        .addDeleteRole("ro7")
        .removeDeleteRole("ro7")
    )
    plain = ke.entity("my-id")
    bare = ke.entity()
    acl = e._acl
    complete().setBody(
        {
            "e": e,
            "plain": plain,
            "bare": bare,
            "readers": acl.getReaders(),
            "writers": acl.getWriters(),
            "rg": acl.getReaderGroups(),
            "wg": acl.getWriterGroups(),
            "rr": acl.getReaderRoles(),
            "ur": acl.getUpdateRoles(),
            "dr": acl.getDeleteRoles(),
            "creator": acl.getCreator(),
            "gr": acl.getGloballyReadable(),
            "gw": acl.getGloballyWritable(),
            "plainGr": plain._acl.getGloballyReadable(),
            "plainReaders": plain._acl.getReaders(),
            "isEntity": ke.isKinveyEntity(e),
            "isPlain": ke.isKinveyEntity({"a": 1}),
        }
    ).ok().done()


@handler("dates")
def dates(context: Any, complete: Any, modules: Any) -> None:
    d = modules.kinveyDate
    complete().setBody(
        {
            "a": d.toKinveyDateString("2020-01-02T03:04:05.678Z"),
            "b": d.fromKinveyDateString('ISODate("2020-01-02T03:04:05.678Z")', "string"),
            "c": d.fromKinveyDateString("nope"),
            "d": d.toKinveyDateString('ISODate("x")'),
            "e": d.toKinveyDateString(None),
            "f": d.fromKinveyDateString('ISODate("2020-01-02T03:04:05.678Z")', "bogus"),
            "g": d.toKinveyDateString("not a date"),
            "h": d.fromKinveyDateString('ISODate("")'),
        }
    ).ok().done()


@handler("stores")
async def stores(context: Any, complete: Any, modules: Any) -> None:
    """The await style."""
    things = modules.dataStore().collection("things")
    q = modules.Query()
    q.equalTo("color", "blue")
    q.limit = 2
    out = {
        "r1": await things.find(q),
        "r2": await things.findById("t1"),
        "r3": await things.save({"name": "n"}),
        "r4": await things.save({"_id": "t2", "name": "m"}),
        "r5": await things.removeById("t3"),
        "r6": await things.remove(q),
        "r7": await things.count(None),
        "r8": await things.count(q),
        "r9": await things.find(),
        "r10": await things.save([{"a": 1}, {"a": 2}]),
    }
    complete().setBody(out).ok().done()


@handler("userCalls")
def user_calls(context: Any, complete: Any, modules: Any) -> None:
    """The Node callback style, from a plain handler: each call's callback makes the next call."""
    users = modules.userStore()
    q = modules.Query()
    q.equalTo("firstName", "Ann")
    results: dict[str, Any] = {}
    errors: list[Any] = []
    calls: list[tuple[str | None, Any]] = [
        ("r1", lambda cb: users.find(q, cb)),
        ("r2", lambda cb: users.findById("u1", cb)),
        ("r3", lambda cb: users.create({"username": "new"}, cb)),
        ("r4", lambda cb: users.update({"_id": "u1", "x": 1}, cb)),
        (None, lambda cb: users.remove("u2", cb)),
        (None, lambda cb: users.suspend("u3", cb)),
        (None, lambda cb: users.restore("u3", cb)),
        ("r8", lambda cb: users.count(q, cb)),
        ("r9", lambda cb: modules.userStore({"useUserContext": True, "useBl": True}).findById("u4", cb)),
        (None, lambda cb: users.assignRole("u1", "role1", cb)),
        (None, lambda cb: users.revokeRole("u1", "role1", cb)),
        ("r12", lambda cb: users.listRoles("u1", cb)),
        (None, lambda cb: users.update({"x": 1}, cb)),
    ]

    def run(index: int) -> None:
        if index == len(calls):
            e13 = errors.pop()
            body = {**results, "errors": [error_info(e) for e in errors], "e13": error_info(e13)}
            complete().setBody(body).ok().done()
            return
        name, call = calls[index]
        if name is None:

            def only_err(err: Any) -> None:
                errors.append(err)
                run(index + 1)

            call(only_err)
        else:

            def err_and_result(err: Any, result: Any) -> None:
                errors.append(err)
                results[name] = result
                run(index + 1)

            call(err_and_result)

    run(0)


@handler("groupCalls")
def group_calls(context: Any, complete: Any, modules: Any) -> None:
    """The blocking style: a plain handler runs in a worker thread and waits with .result()."""
    groups = modules.groupStore()
    out = {
        "r1": groups.create({"_id": "g1", "users": {"all": False, "list": []}}).result(),
        "r2": groups.update({"_id": "g1", "x": 1}).result(),
        "r3": groups.findById("g1").result(),
        "r4": groups.remove("g1").result(),
        "r5": modules.groupStore({"useUserContext": True}).findById("g2").result(),
    }
    try:
        groups.findById(None).result()
    except kinbase_flex.FlexError as err:
        out["e6"] = error_info(err)
    complete().setBody(out).ok().done()


@handler("pushEmail")
async def push_email(context: Any, complete: Any, modules: Any) -> None:
    push = modules.push
    out = {
        "r1": await push.sendMessage({"_id": "u1"}, "hi"),
        "r2": await push.broadcastMessage("all"),
        "r3": await push.sendPayload([{"_id": "u1"}], {"alert": "a"}, {"x": 1}, {"m": 1}),
        "r4": await push.broadcastPayload({"alert": "b"}, None, {"m": 2}),
        "r5": await modules.email.send("a@x.test", "b@x.test", "subj", "text"),
        "r6": await modules.email.send(
            "a@x.test", "b@x.test", "subj", "text", "r@x.test", "<b>hi</b>", "c@x.test", "d@x.test"
        ),
    }
    try:
        await modules.email.send("a@x.test", None, "subj", "text")
    except kinbase_flex.FlexError as err:
        out["e7"] = error_info(err)
    complete().setBody(out).ok().done()


@handler("endpoint")
async def endpoint(context: Any, complete: Any, modules: Any) -> None:
    r1 = await modules.endpointRunner().endpoint("other").execute({"a": 1})
    try:
        await modules.endpointRunner().endpoint(context.objectName).execute({})
        e2 = None
    except kinbase_flex.FlexError as err:
        e2 = err
    complete().setBody({"r1": r1, "e2": error_info(e2)}).ok().done()


@handler("circular")
async def circular(context: Any, complete: Any, modules: Any) -> None:
    out: dict[str, Any] = {}
    for name, store in (
        ("e1", modules.dataStore({"useUserContext": True})),
        ("e2", modules.dataStore({"useBl": True})),
    ):
        try:
            await store.collection(context.objectName).findById("x")
        except kinbase_flex.FlexError as err:
            out[name] = error_info(err)
    out["r3"] = await modules.dataStore().collection(context.objectName).findById("x")
    out["e3"] = None
    complete().setBody(out).ok().done()


@handler("circularUser")
def circular_user(context: Any, complete: Any, modules: Any) -> None:
    def second(e1: Any) -> None:
        modules.groupStore({"useUserContext": True}).findById(
            "x", lambda e2: complete().setBody({"e1": error_info(e1), "e2": error_info(e2)}).ok().done()
        )

    modules.userStore({"useBl": True}).findById("x", second)


@handler("backendError")
def backend_error(context: Any, complete: Any, modules: Any) -> None:
    modules.dataStore().collection("things").findById(
        "missing",
        lambda err, result: complete().setBody({"err": error_info(err), "result": result}).ok().done(),
    )


@handler("storeOptions")
async def store_options(context: Any, complete: Any, modules: Any) -> None:
    for options, entity_id in (({"useBl": True, "useUserContext": True}, "x"), ({"apiVersion": 5}, "y")):
        try:
            await modules.dataStore(options).collection("other").findById(entity_id)
        except kinbase_flex.FlexError:
            pass  # as the Node twin, which ignores the callback's error
    complete().ok().done()
