"""The Kinvey OpenAPI 3.1 document: valid, complete (every route, both ways), linked, served, and
true to what the server answers."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from kinbase.frontends.kinvey import ROUTES
from kinbase.frontends.kinvey.openapi import OPERATIONS, document

from .conftest import Kinvey

pytestmark = pytest.mark.anyio


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document(ROUTES, "http://kinbase.test")
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_every_route_is_an_operation_and_every_operation_a_route() -> None:
    doc = document(ROUTES, "http://kinbase.test")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert documented == {(r.path, r.method) for r in ROUTES}
    assert set(OPERATIONS) == {r.name for r in ROUTES}
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_links_point_at_operations_and_their_parameters() -> None:
    doc = document(ROUTES, "http://kinbase.test")
    by_id = {op["operationId"]: (path, op) for path, ops in doc["paths"].items() for op in ops.values()}
    links = 0
    for ops in doc["paths"].values():
        for op in ops.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    path, _ = by_id[link["operationId"]]
                    params = {s.strip("{}") for s in path.split("/") if s.startswith("{")}
                    assert set(link["parameters"]) == params, (op["operationId"], link)
                    links += 1
    assert links >= 12


def test_every_operation_describes_its_errors_and_its_credentials() -> None:
    doc = document(ROUTES, "http://kinbase.test")
    schemes = set(doc["components"]["securitySchemes"])
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert "4XX" in op["responses"] and "5XX" in op["responses"], (path, op["operationId"])
            for requirement in op["security"]:
                assert set(requirement) <= schemes
            if path.startswith("/appdata/{app_key}/{collection}") and "_settings" not in path:
                assert {"masterSecret": []} in op["security"] and {"session": []} in op["security"]


def _check(doc: dict[str, Any], path: str, method: str, response: Any) -> None:
    """The response's body against the schema the document gives its status."""
    op = doc["paths"][path][method]
    status = str(response.status_code)
    described = op["responses"].get(status) or op["responses"][f"{status[0]}XX"]
    schema = described["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {"components": doc["components"], **schema})


async def test_the_served_document_and_answers_that_match_it(kv: Kinvey) -> None:
    r = await kv.http.get("/kinvey/__api__")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["servers"] == [{"url": "http://kinbase.test"}]
    validate(doc)
    a = "/appdata/{app_key}/{collection}"
    created = await kv.post("/appdata/{k}/books", json={"title": "Dune"})
    _check(doc, a, "post", created)
    _check(doc, a + "/{entity_id}", "get", await kv.get(f"/appdata/{{k}}/books/{created.json()['_id']}"))
    _check(doc, a, "get", await kv.get("/appdata/{k}/books"))
    _check(doc, a + "/_count", "get", await kv.get("/appdata/{k}/books/_count"))
    _check(doc, a + "/{entity_id}", "get", await kv.get("/appdata/{k}/books/missing"))
    multi = await kv.post("/appdata/{k}/books", version="5", json=[{"_id": "x"}, {"_id": "x"}])
    assert multi.status_code == 207
    _check(doc, a, "post", multi)
    _check(doc, "/user/{app_key}", "post", await kv.post("/user/{k}", kv.appauth, json={"username": "u"}))
    _check(doc, "/appdata/{app_key}", "get", await kv.get("/appdata/{k}"))
