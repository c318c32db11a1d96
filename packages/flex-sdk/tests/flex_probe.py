"""Helpers shared by the module tests: run a module call inside a FlexFunctions handler, and read
back what the fake backend received."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import kinbase_flex
from kinbase_flex.testing import FakeBackend, FlexTestClient

__all__ = ["APP", "MASTER", "USER", "B", "Call", "error_info", "run", "sent"]

B = "http://backend.test"
MASTER = "Basic " + base64.b64encode(b"kid_test:test-master-secret").decode()
APP = "Basic " + base64.b64encode(b"kid_test:test-app-secret").decode()
USER = "Kinvey test-session-token"


def error_info(err: Any) -> Any:
    return {"error": str(err), "description": err.description, "debug": err.debug, "type": type(err).__name__}


Call = Callable[[Any, Any], Awaitable[Any]]


def run(tc: FlexTestClient, flex: Any, call: Call, **task: Any) -> Any:
    """Run ``await call(modules, context)`` in a FlexFunctions handler; the value or the error comes back."""

    async def handler(context: Any, complete: Any, modules: Any) -> None:
        try:
            result = {"value": await call(modules, context)}
        except kinbase_flex.FlexError as err:
            result = {"error": error_info(err)}
        complete(result).ok().done()

    flex.functions.register("probe", handler)
    headers = {
        k: task.pop(k) for k in list(task) if k in ("original_headers", "app_metadata", "username", "user_id")
    }
    r = tc.function("probe", {}, **task, **headers)
    assert r.status_code == 200, r.text
    return r.json()["response"]["body"]


def sent(backend: FakeBackend) -> list[tuple[Any, ...]]:
    return [
        (
            r.method,
            r.url,
            r.headers.get("authorization"),
            r.headers.get("x-kinvey-api-version"),
            r.headers.get("x-kinvey-skip-business-logic"),
            r.json,
        )
        for r in backend.requests
    ]
