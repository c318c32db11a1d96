"""The server's own behaviour: lifespan, websockets refused, dispatch table, a scope without
``raw_path``."""

from __future__ import annotations

from typing import Any

import pytest

from kinbase.app import create_app
from kinbase.core.services import Core
from kinbase.frontends.kinto import KintoFrontend
from kinbase.frontends.kinvey import KinveyFrontend
from kinbase.http.health import ServerRoutes

pytestmark = pytest.mark.anyio


async def test_dispatch_by_first_segments(core: Core) -> None:
    server = create_app(core.settings, core)
    kinds = {
        "/appdata/k": KinveyFrontend,
        "/v3/oauth/token": KinveyFrontend,
        "/v2/oauth": KinveyFrontend,
        "/oauth": KinveyFrontend,
        "/kinvey/__api__": KinveyFrontend,
        "/healthz": ServerRoutes,
        "/v1/buckets": KintoFrontend,
        "/v3/buckets": KintoFrontend,
        "/kinto/kid_x/v1/": KintoFrontend,
        "/anything": KintoFrontend,
        "/": KintoFrontend,
    }
    for path, kind in kinds.items():
        assert isinstance(server.frontend_of(path), kind), path


async def _call(server: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await server(scope, receive, send)
    return sent


async def test_lifespan_starts_and_stops_the_core(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def start(*, background: bool = False) -> None:
        calls.append(f"start background={background}")

    async def stop() -> None:
        calls.append("stop")

    monkeypatch.setattr(core, "start", start)
    monkeypatch.setattr(core, "stop", stop)
    server = create_app(core.settings, core)
    sent = await _call(
        server, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert calls == ["start background=True", "stop"], "a server worker starts the background work"


async def test_a_failed_start_is_reported(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    async def start(*, background: bool = False) -> None:
        raise RuntimeError("no database")

    monkeypatch.setattr(core, "start", start)
    sent = await _call(create_app(core.settings, core), {"type": "lifespan"}, [{"type": "lifespan.startup"}])
    assert sent == [{"type": "lifespan.startup.failed", "message": "no database"}]


async def test_websockets_are_closed(core: Core) -> None:
    sent = await _call(create_app(core.settings, core), {"type": "websocket", "path": "/v1/"}, [])
    assert sent == [{"type": "websocket.close", "code": 1000}]


async def test_a_scope_without_raw_path_routes_on_the_encoded_path(core: Core) -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/appdata/kid_missing/c/a%b",
        "query_string": b"",
        "headers": [(b"host", b"kinbase.test")],
    }
    sent = await _call(create_app(core.settings, core), scope, [{"type": "http.request", "body": b""}])
    assert sent[0]["status"] == 404
    assert b"AppNotFound" in sent[1]["body"]


async def test_a_client_gone_mid_body_gets_no_answer(core: Core) -> None:
    app = await core.apps.create("gone")
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"/user/{app.key}",
        "raw_path": f"/user/{app.key}".encode(),
        "query_string": b"",
        "headers": [(b"authorization", b"Basic eA==")],
    }
    sent = await _call(
        create_app(core.settings, core), scope, [{"type": "http.request", "body": b"{", "more_body": True}]
    )
    assert sent[0]["status"] == 401, "credentials are checked before the body is read"


async def test_the_server_counts_its_responses_and_logs_them_at_shutdown(
    core: Core, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: the fuzz campaign compares what its clients received with what the server sent."""
    server = create_app(core.settings, core)

    def http(path: str) -> dict[str, Any]:
        return {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}

    assert (await _call(server, http("/healthz"), []))[0]["status"] == 200
    assert (await _call(server, http("/healthz/nothing"), []))[0]["status"] == 404
    assert (await _call(server, http("/appdata/kid_none"), []))[0]["status"] == 404

    async def down() -> bool:
        return False

    monkeypatch.setattr(core.storage, "ping", down)
    assert (await _call(server, http("/healthz"), []))[0]["status"] == 503
    assert server.responses == {"2xx": 1, "4xx": 2, "5xx": 1}

    async def stop() -> None:
        return None

    monkeypatch.setattr(core, "stop", stop)
    with caplog.at_level("INFO", logger="kinbase.http"):
        await _call(server, {"type": "lifespan"}, [{"type": "lifespan.shutdown"}])
    assert "responses: 1xx=0 2xx=1 3xx=0 4xx=2 5xx=1 failed=0 disconnected=0" in caplog.text
