"""Issue 16 and 18 through HTTP, on both engines: the regex attack, reducers that cannot starve
logins or each other, the login throttle shared by every worker, and session hygiene."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core import throttle
from kinbase.core.kinvey import reducers
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend
from tests.frontends.kinto.conftest import Kinto, new_app
from tests.frontends.kinvey.conftest import Kinvey, error_of
from tests.reliability.test_storage_budget import _twin

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        login_max_failures=6,
        login_delay_after=3,
        login_address_max_failures=20,
        login_lockout_seconds=60,
    )


@pytest.fixture
def kv(client: httpx.AsyncClient, app: AppRecord) -> Kinvey:
    return Kinvey(client, app)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# -- 1. a regular expression cannot stall the server ------------------------------------------


async def test_the_regex_attack_leaves_a_parallel_get_fast(kv: Kinvey) -> None:
    """Issue 16 item 1: ``^(a+)+$`` over ``"a" * 28 + "!"`` took 3.9 s per entity inside SQLite on
        the event loop (and a backtracking engine never finishes over 3,000). Now three clients send such
    counts over and over while GETs by id answer."""
    user = await kv.user()
    bodies = [{"name": "a" * 28 + "!"} for _ in range(100)] + [{"name": "a" * 3000 + "!"} for _ in range(20)]
    bodies += [{"name": "aaaa"} for _ in range(5)]
    for body in bodies:
        assert (await kv.post("/appdata/{k}/things", user, json=body)).status_code == 201
    target = (await kv.post("/appdata/{k}/things", user, json={"name": "target"})).json()["_id"]
    attack_query = {"query": '{"name": {"$regex": "^(a+)+$"}}'}

    async def timed_gets(n: int) -> list[float]:
        latencies: list[float] = []
        for _ in range(n):
            started = time.perf_counter()
            r = await kv.get(f"/appdata/{{k}}/things/{target}", user)
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 200
            await asyncio.sleep(0.02)
        return sorted(latencies)

    quiet = await timed_gets(10)
    stop = asyncio.Event()
    counts: list[int] = []

    async def attacker() -> None:
        while not stop.is_set():
            r = await kv.get("/appdata/{k}/things/_count", user, params=attack_query)
            assert r.status_code == 200, r.text
            counts.append(r.json()["count"])

    attackers = [asyncio.create_task(attacker()) for _ in range(3)]
    await asyncio.sleep(0.2)
    latencies = await timed_gets(20)
    stop.set()
    await asyncio.gather(*attackers)
    assert counts and set(counts) == {5}
    # The attack used to stall every request for seconds (3.9 s per entity). The bounds leave room
    # for a loaded machine (the under-50 ms figure is measured in docs/reliability.md, not here).
    median, quiet_median = latencies[len(latencies) // 2], quiet[len(quiet) // 2]
    assert median < max(0.1, 5 * quiet_median), (latencies, quiet)
    assert latencies[-1] < max(2.0, 10 * quiet_median), (latencies, quiet)


# -- 3. reducers have their own pool and each its own budget -----------------------------------


async def test_each_reducer_gets_its_whole_cpu_budget(kv: Kinvey, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six reducers needing half the budget each all finish (sharing one process clock, each
    was cut after a fraction of it)."""
    monkeypatch.setattr(reducers, "DEFAULT_TIME_LIMIT", 1.0)
    await kv.post("/appdata/{k}/g", json={"a": 1})
    spin = "function(doc, out) { var t = Date.now(); while (Date.now() - t < 400) {} out.n = 1; }"
    body = {"key": {}, "initial": {}, "reduce": spin}
    responses = await asyncio.gather(*(kv.post("/appdata/{k}/g/_group", json=body) for _ in range(6)))
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    assert all(r.json() == [{"n": 1}] for r in responses)


async def test_endless_reducers_do_not_delay_a_login(kv: Kinvey, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16 item 6: 40 endless reducers delayed a password login by 21 s (they shared the
    default thread pool with argon2)."""
    monkeypatch.setattr(reducers, "DEFAULT_TIME_LIMIT", 3.0)
    user = await kv.user("ann", "pw")
    await kv.post("/appdata/{k}/g", json={"a": 1})
    endless = {"key": {}, "initial": {}, "reduce": "function(doc, out) { while (true) {} }"}
    jobs = [asyncio.create_task(kv.post("/appdata/{k}/g/_group", json=endless)) for _ in range(12)]
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
    elapsed = time.perf_counter() - started
    assert r.status_code == 200 and r.json()["_id"] == user.id
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    # Behind the reducers (shared threads) the login would wait for one to hit its 3 s limit.
    assert elapsed < 2.5, elapsed


# -- 6. the login throttle is shared by every worker ------------------------------------------


@pytest.fixture
async def second_worker(storage: StorageBackend, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another server process on the same database: its own storage handle and core."""
    twin = _twin(storage)
    core = Core(settings, twin)
    await core.start()
    transport = httpx.ASGITransport(app=create_app(settings, core))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        yield http
    await twin.stop()


async def test_kinvey_failures_count_across_workers(kv: Kinvey, second_worker: httpx.AsyncClient) -> None:
    other = Kinvey(second_worker, kv.app)
    await kv.user("ann", "pw")
    wrong = {"username": "ann", "password": "no"}
    for n in range(3):
        r = await (kv if n % 2 == 0 else other).post("/user/{k}/login", kv.appauth, json=wrong)
        assert r.status_code == 401
    # The third failure (two through one worker, one through the other) starts the backoff.
    for client in (kv, other):
        r = await client.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
        assert r.status_code == 429 and error_of(r) == "LoginThrottled", r.text
        assert "retry in 1 s" in r.json()["debug"]


async def test_kinvey_backoff_then_lockout(kv: Kinvey, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per user: refused for 1, 2, 4... s after each failure from the third on, locked out at
    the sixth; a refused attempt is not even checked (the right password is refused too)."""
    await kv.user("ann", "pw")
    clock = [time.time_ns() // 1_000_000]
    monkeypatch.setattr(throttle, "now_ms", lambda: clock[0])
    wrong = {"username": "ann", "password": "no"}
    right = {"username": "ann", "password": "pw"}
    refusals = []
    for _ in range(6):
        r = await kv.post("/user/{k}/login", kv.appauth, json=wrong)
        assert r.status_code == 401
        r = await kv.post("/user/{k}/login", kv.appauth, json=right)
        if r.status_code == 429:
            refusals.append(r.json()["debug"])
        else:
            assert r.status_code == 200 and not refusals
        clock[0] += 10_000  # past each backoff, within the window
    wait = "Too many failed logins; retry in {} s."
    assert refusals == [wait.format(s) for s in (1, 2, 4, 60)]
    r = await kv.post("/user/{k}/login", kv.appauth, json=right)
    assert r.status_code == 429 and r.json()["debug"] == wait.format(50)
    clock[0] += 51_000
    r = await kv.post("/user/{k}/login", kv.appauth, json=right)
    assert r.status_code == 200


async def test_one_address_cannot_lock_every_user_out(kv: Kinvey, core: Core) -> None:
    """Failures from one address spread over many usernames lock that address only after the
    (NAT-sized) address limit; other addresses and each user's own count are unaffected."""
    await kv.user("ann", "pw")
    for n in range(19):
        r = await kv.post("/user/{k}/login", kv.appauth, json={"username": f"guess{n}", "password": "x"})
        assert r.status_code == 401
    good = {"username": "ann", "password": "pw"}
    assert (await kv.post("/user/{k}/login", kv.appauth, json=good)).status_code == 200
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "g", "password": "x"})
    assert r.status_code == 401
    r = await kv.post("/user/{k}/login", kv.appauth, json=good)
    assert r.status_code == 429 and error_of(r) == "LoginThrottled"
    transport = httpx.ASGITransport(app=create_app(core.settings, core), client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as elsewhere:
        r = await Kinvey(elsewhere, kv.app).post("/user/{k}/login", kv.appauth, json=good)
        assert r.status_code == 200


async def test_kinto_accounts_are_throttled_across_workers(
    client: httpx.AsyncClient, storage: StorageBackend, second_worker: httpx.AsyncClient
) -> None:
    """Issue 16 item 8: 30 wrong passwords were all 401, then the right one worked."""
    kinto = Kinto(client, await new_app(storage))
    other = Kinto(second_worker, kinto.app)
    await kinto.account("alice")
    for n in range(30):
        r = await (kinto if n % 2 else other).get("/accounts/alice", headers=_basic("alice", f"guess{n}"))
        if r.status_code == 429:
            break
        assert r.status_code == 401
    assert n == 3, "the fourth attempt after three failures is refused"
    body = r.json()
    assert (body["code"], body["errno"], body["error"]) == (429, 117, "Too Many Requests")
    assert r.headers["Retry-After"] == "1"
    for client_ in (kinto, other):
        r = await client_.get("/accounts/alice", headers=_basic("alice", "alice-pw"))
        assert r.status_code == 429 and r.json()["errno"] == 117


async def test_kinto_throttle_costs_no_read_on_cached_credentials(kinto_fast: Kinto, core: Core) -> None:
    r = await kinto_fast.get("/accounts/alice", headers=_basic("alice", "alice-pw"))
    assert r.status_code == 200
    calls = 0
    original = core.kinto.auth.throttle.check

    async def counting(*args: Any) -> None:
        nonlocal calls
        calls += 1
        await original(*args)

    core.kinto.auth.throttle.check = counting  # type: ignore[method-assign]
    for _ in range(20):
        r = await kinto_fast.get("/accounts/alice", headers=_basic("alice", "alice-pw"))
        assert r.status_code == 200
    assert calls <= 1


@pytest.fixture
async def kinto_fast(client: httpx.AsyncClient, storage: StorageBackend) -> Kinto:
    kinto = Kinto(client, await new_app(storage))
    await kinto.account("alice")
    return kinto


# -- 7. a password change revokes the user's other sessions ------------------------------------


async def test_a_password_change_revokes_the_other_sessions(kv: Kinvey) -> None:
    ann = await kv.user("ann", "pw")
    login = {"username": "ann", "password": "pw"}
    second = (await kv.post("/user/{k}/login", kv.appauth, json=login)).json()["_kmd"]["authtoken"]
    third = (await kv.post("/user/{k}/login", kv.appauth, json=login)).json()["_kmd"]["authtoken"]
    r = await kv.put(f"/user/{{k}}/{ann.id}", ann, json={"username": "ann", "password": "new"})
    assert r.status_code == 200 and r.json()["_kmd"]["authtoken"] == ann.token
    assert (await kv.get("/user/{k}/_me", ann)).status_code == 200, "the changing session survives"
    for token in (second, third):
        r = await kv.get("/user/{k}/_me", {"Authorization": f"Kinvey {token}"})
        assert r.status_code == 401 and error_of(r) == "InvalidCredentials"
    # A change by the master secret revokes every session.
    r = await kv.put(f"/user/{{k}}/{ann.id}", json={"username": "ann", "password": "newer"})
    assert r.status_code == 200
    assert (await kv.get("/user/{k}/_me", ann)).status_code == 401
    # Other changes (no password) revoke nothing.
    login = {"username": "ann", "password": "newer"}
    fresh = (await kv.post("/user/{k}/login", kv.appauth, json=login)).json()
    auth = {"Authorization": f"Kinvey {fresh['_kmd']['authtoken']}"}
    assert (await kv.put(f"/user/{{k}}/{ann.id}", json={"username": "ann", "age": 3})).status_code == 200
    assert (await kv.get("/user/{k}/_me", auth)).status_code == 200
