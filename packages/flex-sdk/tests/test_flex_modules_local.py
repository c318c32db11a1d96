"""The modules that work without the backend: Query, kinveyEntity, kinveyDate, requestContext,
backendContext, tempObjectStore, and flex.logger."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
from typing import Any

import pytest

from kinbase_flex import FlexLogger, Query, QueryError
from kinbase_flex.modules import KinveyDate, KinveyEntityModule, RequestContext
from kinbase_flex.modules.kinvey_entity import object_id
from kinbase_flex.modules.request_context import security_context

# -- Query ------------------------------------------------------------------------------------


def q_string(query: Query) -> dict[str, Any]:
    return {k: json.loads(v) if k in ("query", "sort") else v for k, v in query.toQueryString().items()}


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda q: q.equalTo("a", 1), {"a": 1}),
        (lambda q: q.equalTo("a", None), {"a": None}),
        (lambda q: q.equal_to("a", 0), {"a": 0}),
        (lambda q: q.notEqualTo("a", "x"), {"a": {"$ne": "x"}}),
        (lambda q: q.greaterThan("a", 1), {"a": {"$gt": 1}}),
        (lambda q: q.greaterThanOrEqualTo("a", "m"), {"a": {"$gte": "m"}}),
        (lambda q: q.lessThan("a", 1.5), {"a": {"$lt": 1.5}}),
        (lambda q: q.lessThanOrEqualTo("a", 2), {"a": {"$lte": 2}}),
        (
            lambda q: q.greaterThanOrEqualTo("rate", 25).lessThanOrEqualTo("rate", 50),
            {"rate": {"$gte": 25, "$lte": 50}},
        ),
        (lambda q: q.exists("a"), {"a": {"$exists": True}}),
        (lambda q: q.exists("a", False), {"a": {"$exists": False}}),
        (lambda q: q.mod("a", 3, 1), {"a": {"$mod": [3, 1]}}),
        (lambda q: q.mod("a", 4), {"a": {"$mod": [4, 0]}}),
        (lambda q: q.matches("a", "^ab"), {"a": {"$regex": "^ab"}}),
        (
            lambda q: q.matches("a", re.compile("^ab", re.MULTILINE)),
            {"a": {"$regex": "^ab", "$options": "m"}},
        ),
        (
            lambda q: q.matches("a", "^a.b", {"extended": True, "dot_matches_all": True}),
            {"a": {"$regex": "^a.b", "$options": "xs"}},
        ),
        (lambda q: q.contains("tags", ["x", "y"]), {"tags": {"$in": ["x", "y"]}}),
        (lambda q: q.contains("tags", "x"), {"tags": {"$in": ["x"]}}),
        (lambda q: q.containsAll("tags", ["x", "y"]), {"tags": {"$all": ["x", "y"]}}),
        (lambda q: q.notContainedIn("tags", ("x",)), {"tags": {"$nin": ["x"]}}),
        (lambda q: q.size("tags", 2), {"tags": {"$size": 2}}),
        (lambda q: q.size("tags", "3"), {"tags": {"$size": 3}}),
        (
            lambda q: q.near("_geoloc", [-71.1, 42.3], 10),
            {"_geoloc": {"$nearSphere": [-71.1, 42.3], "$maxDistance": 10}},
        ),
        (lambda q: q.near("_geoloc", [0, 0]), {"_geoloc": {"$nearSphere": [0, 0]}}),
        (
            lambda q: q.withinBox("_geoloc", [0, 1], ["2", 3]),
            {"_geoloc": {"$geoWithin": {"$box": [[0.0, 1.0], [2.0, 3.0]]}}},
        ),
        (
            lambda q: q.withinPolygon("_geoloc", [[1, 2], [3, 4], [5, 6]]),
            {"_geoloc": {"$geoWithin": {"$polygon": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]}}},
        ),
        (
            lambda q: q.equalTo("last", "Doe").or_().equalTo("last", "Roe"),
            {"$or": [{"last": "Doe"}, {"last": "Roe"}]},
        ),
        (
            lambda q: q.equalTo("a", 1).or_(Query().equalTo("b", 2), {"c": 3}),
            {"$or": [{"a": 1}, {"b": 2}, {"c": 3}]},
        ),
        (lambda q: q.equalTo("a", 1).and_(Query().equalTo("b", 2)), {"$and": [{"a": 1}, {"b": 2}]}),
        (lambda q: q.equalTo("a", 1).nor(Query().equalTo("b", 2)), {"$nor": [{"a": 1}, {"b": 2}]}),
        # precedence: AND binds tighter than NOR, NOR tighter than OR
        (
            lambda q: q.equalTo("x", 1).and_().equalTo("y", 2).nor().equalTo("z", 3),
            {"$nor": [{"$and": [{"x": 1}, {"y": 2}]}, {"z": 3}]},
        ),
        (
            lambda q: q.equalTo("x", 1).and_().equalTo("y", 2).or_().equalTo("z", 3),
            {"$or": [{"$and": [{"x": 1}, {"y": 2}]}, {"z": 3}]},
        ),
        (
            lambda q: q.equalTo("x", 1).nor().equalTo("y", 2).or_().equalTo("z", 3),
            {"$or": [{"$nor": [{"x": 1}, {"y": 2}]}, {"z": 3}]},
        ),
        (lambda q: q.and_({"filter": {"r": 3}}), {"$and": [{}, {"r": 3}]}),
    ],
)
def test_query_operators(build: Any, expected: Any) -> None:
    query = Query()
    build(query)
    assert query.toJSON()["filter"] == expected
    assert q_string(query) == {"query": expected}


def test_query_modifiers_and_query_string() -> None:
    query = Query()
    query.limit = 20
    query.skip = 20
    query.fields = ["last_name", "age"]
    query.ascending("last_name")
    query.descending("age")
    query.equalTo("last_name", "Doe")
    assert query.toQueryString() == {
        "query": '{"last_name":"Doe"}',
        "fields": "last_name,age",
        "limit": "20",
        "skip": "20",
        "sort": '{"last_name":1,"age":-1}',
    }
    assert json.loads(str(query)) == query.toQueryString()
    assert Query().toQueryString() == {}
    assert Query(
        {"filter": {"a": 1}, "limit": "5", "skip": "2", "sort": {"a": -1}, "fields": ["a"]}
    ).toPlainObject() == {
        "fields": ["a"],
        "filter": {"a": 1},
        "sort": {"a": -1},
        "skip": 2,
        "limit": 5,
    }


def test_modifiers_on_a_joined_query_go_to_the_root() -> None:
    root = Query()
    child = root.equalTo("a", 1).or_()
    child.equalTo("a", 2)
    child.limit = 3
    child.ascending("a")
    child.fields = ["a"]
    child.skip = 1
    assert (
        root.toQueryString()
        == child.toQueryString()
        == {
            "query": '{"$or":[{"a":1},{"a":2}]}',
            "fields": "a",
            "limit": "3",
            "skip": "1",
            "sort": '{"a":1}',
        }
    )


@pytest.mark.parametrize(
    ("call", "debug"),
    [
        (lambda q: q.greaterThan("a", {}), "You must supply a number or string."),
        (lambda q: q.lessThan("a", True), "You must supply a number or string."),
        (
            lambda q: q.matches("a", "ab"),
            "regExp must have `^` at the beginning of the expression to make it an anchored expression.",
        ),
        (lambda q: q.matches("a", re.compile("^a", re.I)), "ignoreCase is not supported."),
        (lambda q: q.matches("a", "^a", {"ignoreCase": True}), "ignoreCase is not supported."),
        (lambda q: q.mod("a", "3"), "divisor must be a number"),
        (lambda q: q.mod("a", 3, "1"), "remainder must be a number"),
        (lambda q: q.near("a", [1]), "coord must be a [number, number]"),
        (lambda q: q.withinBox("a", [1], [2, 3]), "bottomLeftCoord must be a [number, number]"),
        (lambda q: q.withinBox("a", [1, 2], "x"), "upperRightCoord must be a [number, number]"),
        (lambda q: q.withinPolygon("a", []), "coords must be [[number, number]]"),
        (lambda q: q.withinPolygon("a", [[1, "x"]]), "coords argument must be a [number, number]"),
        (lambda q: q.or_(5), "query argument must be of type: Kinvey.Query[] or Object[]."),
        (lambda q: setattr(q, "fields", "a"), "fields must be an Array"),
        (lambda q: setattr(q, "sort", "a"), "sort must an Object"),
    ],
)
def test_query_errors(call: Any, debug: str) -> None:
    with pytest.raises(QueryError) as caught:
        call(Query())
    assert str(caught.value) == "QueryError"
    assert caught.value.debug == debug
    assert caught.value.description == "An error occurred on the query."


def test_non_numeric_strings_become_nan_as_in_javascript() -> None:
    """``parseFloat("x")`` is NaN, a number: the Node SDK does not refuse it, and neither do we."""
    query = Query()
    query.size("a", "x")
    query.skip = "x"
    assert math.isnan(query.filter["a"]["$size"])
    assert query.toQueryString() == {"query": '{"a":{"$size":null}}'}
    with pytest.raises(QueryError):
        query.size("a", None)


# -- kinveyEntity -----------------------------------------------------------------------------

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_entity_shapes() -> None:
    ke = KinveyEntityModule("kid_app")
    bare = ke.entity()
    assert re.fullmatch(r"[0-9a-f]{24}", bare["_id"])
    assert bare["_acl"] == {"creator": "kid_app"}
    assert ISO.match(bare["_kmd"]["ect"]) and bare["_kmd"]["lmt"] == bare["_kmd"]["ect"]
    assert ke.entity("000-22-2343")["_id"] == "000-22-2343"
    doc = {
        "firstName": "John",
        "_kmd": {"ect": "2013-05-08T13:57:11.000Z", "lmt": "2013-05-08T13:57:11.000Z"},
    }
    entity = ke.entity(doc)
    assert entity["firstName"] == "John"
    assert entity["_kmd"]["ect"] == "2013-05-08T13:57:11.000Z"
    assert entity["_kmd"]["lmt"] != "2013-05-08T13:57:11.000Z"  # only lmt is refreshed (the reference)
    assert doc["_id"] == entity["_id"]
    assert doc["_acl"] is entity["_acl"]
    assert ke.isKinveyEntity(entity) and ke.is_kinvey_entity(bare)
    assert not ke.isKinveyEntity({"_acl": {}, "_kmd": {}})
    assert not ke.isKinveyEntity("x")
    entity.name = "Sachin"
    assert entity["name"] == entity.name == "Sachin"
    del entity.name
    with pytest.raises(AttributeError):
        _ = entity.name
    with pytest.raises(TypeError):
        ke.entity(5)
    assert ke.entity({"_acl": {"creator": "u1"}, "_id": "x"})._acl.getCreator() == "u1"


def test_acl_namespace_and_chaining() -> None:
    e = KinveyEntityModule("kid").entity({"name": "x"})
    readers = e._acl.addReader("r1").addReader("r1").addWriter("w1").getReaders()
    assert readers == ["r1"]
    acl = e._acl
    acl.addReaderGroup("g1").addWriterGroup("g2").addReaderRole("ro1").addUpdateRole("ro2").addDeleteRole(
        "ro3"
    )
    acl.setGloballyReadable(True).setGloballyWritable(False)
    assert dict(acl) == {
        "creator": "kid",
        "r": ["r1"],
        "w": ["w1"],
        "groups": {"r": ["g1"], "w": ["g2"]},
        "roles": {"r": ["ro1"], "u": ["ro2"], "d": ["ro3"]},
        "gr": True,
        "gw": False,
    }
    assert (acl.getWriters(), acl.getReaderGroups(), acl.getWriterGroups()) == (["w1"], ["g1"], ["g2"])
    assert (acl.getReaderRoles(), acl.getUpdateRoles(), acl.getDeleteRoles()) == (["ro1"], ["ro2"], ["ro3"])
    assert (acl.getGloballyReadable(), acl.getGloballyWritable(), acl.getCreator()) == (True, False, "kid")
    acl.removeReader("r1").removeWriter("w1").removeReaderGroup("g1").removeWriterGroup("g2")
    acl.remove_reader_role("ro1").remove_update_role("ro2").remove_delete_role("ro3").remove_reader("nobody")
    assert dict(acl) == {
        "creator": "kid",
        "r": [],
        "w": [],
        "groups": {"r": [], "w": []},
        "roles": {"r": [], "u": [], "d": []},
        "gr": True,
        "gw": False,
    }
    fresh = KinveyEntityModule("kid").entity()
    assert fresh._acl.getReaders() == [] and fresh._acl.getDeleteRoles() == []
    assert fresh._acl.getGloballyReadable() is None
    assert fresh["_acl"] == {"creator": "kid", "gr": None}


def test_object_ids_are_unique() -> None:
    ids = {object_id() for _ in range(1000)}
    assert len(ids) == 1000


# -- kinveyDate -------------------------------------------------------------------------------


def test_kinvey_dates() -> None:
    d = KinveyDate()
    moment = dt.datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    assert d.toKinveyDateString(moment) == 'ISODate("2020-01-02T03:04:05.678Z")'
    assert d.toKinveyDateString(dt.datetime(2020, 1, 2, 3, 4, 5)) == 'ISODate("2020-01-02T03:04:05.000Z")'
    assert (
        d.toKinveyDateString(dt.datetime(2020, 1, 2, 4, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))))
        == 'ISODate("2020-01-02T03:04:05.000Z")'
    )
    assert d.toKinveyDateString(dt.date(2020, 1, 2)) == 'ISODate("2020-01-02T00:00:00.000Z")'
    assert d.toKinveyDateString("2020-01-02T03:04:05.678Z") == 'ISODate("2020-01-02T03:04:05.678Z")'
    assert d.toKinveyDateString("Thu, 02 Jan 2020 03:04:05 GMT") == 'ISODate("2020-01-02T03:04:05.000Z")'
    assert d.toKinveyDateString('ISODate("kept")') == 'ISODate("kept")'
    assert d.toKinveyDateString("not a date") == "Invalid date"
    assert d.toKinveyDateString(None) is None
    assert d.toKinveyDateString(5) is None
    kinvey = 'ISODate("2020-01-02T03:04:05.678Z")'
    assert d.fromKinveyDateString(kinvey) == moment
    assert d.fromKinveyDateString(kinvey, "date") == moment
    assert d.from_kinvey_date_string(kinvey, "moment") == moment
    assert d.fromKinveyDateString(kinvey, "string") == "2020-01-02T03:04:05.678Z"
    assert d.fromKinveyDateString(kinvey, "other") == "Invalid Format."
    assert d.fromKinveyDateString('ISODate("")') == "Invalid date"
    assert d.fromKinveyDateString("2020-01-02") == "Invalid date"
    assert d.fromKinveyDateString('ISODate("garbage")') == "Invalid date"
    assert d.fromKinveyDateString(None) == "Invalid date"


# -- requestContext, backendContext, tempObjectStore --------------------------------------------


def basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


META = {"_id": "kid", "appsecret": "app", "mastersecret": "master"}


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (basic("kid", "master"), "master"),
        (basic("kid", "app"), "app"),
        (basic("kid", "other"), "unknown"),
        (basic("kid", ""), "unknown"),
        (basic("alice", "pw"), "user"),
        ("Kinvey some-session-token", "user"),
        ("Basic", "unknown"),
        (None, "unknown"),
        ("Basic !!!", "user"),
    ],
)
def test_security_context(authorization: Any, expected: str) -> None:
    assert security_context(authorization, META) == expected


def make_rc(**kwargs: Any) -> RequestContext:
    values: dict[str, Any] = {
        "username": "alice",
        "user_id": "alice-id",
        "app_key": "kid",
        "security_context": "user",
        "custom_request_properties": {},
        "client_app_version": None,
        "request_id": "r1",
    }
    values.update(kwargs)
    return RequestContext(**values)


def test_request_context() -> None:
    rc = make_rc(custom_request_properties={"officeLocation": "Paris"})
    assert (rc.getAuthenticatedUsername(), rc.getAuthenticatedUserId(), rc.getSecurityContext()) == (
        "alice",
        "alice-id",
        "user",
    )
    assert rc.getRequestId() == "r1"
    assert rc.getCustomRequestProperty("officeLocation") == "Paris"
    assert rc.getCustomRequestProperty("absent") is None
    assert rc.setCustomRequestProperty("didPreprocess", True) is True
    assert rc.setCustomReqeustProperty("typo", 1) == 1  # the reference's spelling works too
    assert rc.get_custom_request_properties() == {"officeLocation": "Paris", "didPreprocess": True, "typo": 1}
    # the reference: the app key when the app or master secret authenticated the request
    assert make_rc(user_id="", security_context="master").getAuthenticatedUserId() == "kid"
    assert make_rc(user_id="", security_context="app").get_authenticated_user_id() == "kid"
    assert make_rc(user_id="", security_context="unknown").getAuthenticatedUserId() == ""


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.1.5", ["1.1.5", 1, 1, 5]),
        ("1.0.1-beta", ["1.0.1-beta", 1, 0, math.nan]),
        ("2", ["2", 2, math.nan, math.nan]),
        ("v1.2.3", ["v1.2.3", math.nan, 2, 3]),
        ("1.2.3.4", ["1.2.3.4", 1, 2, 3]),
        ("", [None, math.nan, math.nan, math.nan]),
        (None, [None, math.nan, math.nan, math.nan]),
    ],
)
def test_client_app_version(version: Any, expected: list[Any]) -> None:
    v = make_rc(client_app_version=version).clientAppVersion
    got = [v.stringValue(), v.majorVersion(), v.minorVersion(), v.patchVersion()]
    assert got[0] == expected[0]
    for value, wanted in zip(got[1:], expected[1:], strict=True):
        assert (math.isnan(value) and math.isnan(wanted)) or value == wanted
    assert make_rc(
        client_app_version=version
    ).client_app_version.major_version() == v.majorVersion() or math.isnan(v.majorVersion())


def test_logger_lines() -> None:
    stream = io.StringIO()
    logger = FlexLogger(stream)
    assert logger.info("hello") == '{"message":"hello","level":"info"}\n'
    logger.warn({"a": 1})
    logger.error(ValueError("bad"))
    logger.fatal("dead")
    assert logger.info(None) is None
    assert [json.loads(line) for line in stream.getvalue().splitlines()] == [
        {"message": "hello", "level": "info"},
        {"message": {"a": 1}, "level": "warning"},
        {"message": "ValueError: bad", "level": "error"},
        {"message": "dead", "level": "fatal"},
    ]


def test_backend_context_and_temp_object_store(client: Any, flex: Any) -> None:
    @flex.functions.register("info")
    def info(context: Any, complete: Any, modules: Any) -> None:
        bc = modules.backendContext
        store = modules.tempObjectStore
        assert store.set("k", {"v": 1}) == {"v": 1}
        complete(
            {
                "keys": [bc.getAppKey(), bc.getAppSecret(), bc.getMasterSecret()],
                "snake": [bc.get_app_key(), modules.backend_context.get_master_secret()],
                "temp": [
                    store.get("k"),
                    store.get("absent"),
                    store.getAll(),
                    modules.temp_object_store.get_all(),
                ],
            }
        ).ok().done()

    body = client.function("info", {}, temp_object_store={"a": 1}).json()
    assert body["response"]["body"] == {
        "keys": ["kid_test", "test-app-secret", "test-master-secret"],
        "snake": ["kid_test", "test-master-secret"],
        "temp": [{"v": 1}, None, {"a": 1, "k": {"v": 1}}, {"a": 1, "k": {"v": 1}}],
    }
    assert body["request"]["tempObjectStore"] == {"a": 1, "k": {"v": 1}}
