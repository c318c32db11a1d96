"""The permission property test: random users, groups, roles, ACLs and collection levels; for every
user, list, count, get, update and delete answer exactly what a small reference of the rules
allows, on SQLite and PostgreSQL. Zero leaks is the bar."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql as pgsql

from kinbase.app import create_app
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.sqlite import SQLiteStorage

POSTGRES_URL = os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
LEVELS = ("private", "shared", "readonly", "full")


@dataclass
class Scenario:
    users: int
    groups: list[tuple[set[int], bool, set[int]]]  # (user members, all users, child groups)
    roles: list[set[int]]  # users holding each role
    level: str
    level_first: bool
    entities: list[dict[str, Any]] = field(default_factory=list)  # creator + acl (indexes)
    deleters: list[int] = field(default_factory=list)
    bulk_deleter: int = 0
    user_acls: list[dict[str, Any]] = field(default_factory=list)  # one per user (its own _acl)
    user_deleter: int = 0


def subsets(n: int) -> st.SearchStrategy[set[int]]:
    return st.sets(st.integers(0, n - 1), max_size=n) if n else st.just(set())


@st.composite
def acls(draw: st.DrawFn, users: int, n_groups: int, n_roles: int) -> dict[str, Any]:
    flag = st.sampled_from([None, True, False])
    return {
        "gr": draw(flag),
        "gw": draw(flag),
        "r": draw(subsets(users)),
        "w": draw(subsets(users)),
        "groups": {"r": draw(subsets(n_groups)), "w": draw(subsets(n_groups))},
        "roles": {k: draw(subsets(n_roles)) for k in ("r", "u", "d")},
    }


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    users = draw(st.integers(2, 4))
    n_groups = draw(st.integers(0, 3))
    groups = [
        (draw(subsets(users)), draw(st.booleans()) and draw(st.booleans()), draw(subsets(n_groups)))
        for _ in range(n_groups)
    ]
    roles = [draw(subsets(users)) for _ in range(draw(st.integers(0, 2)))]
    scenario = Scenario(users, groups, roles, draw(st.sampled_from(LEVELS)), draw(st.booleans()))
    for _ in range(draw(st.integers(1, 6))):
        acl = draw(acls(users, n_groups, len(roles)))
        scenario.entities.append({"creator": draw(st.integers(0, users - 1)), "acl": acl})
    scenario.deleters = [draw(st.integers(0, users - 1)) for _ in scenario.entities]
    scenario.bulk_deleter = draw(st.integers(0, users - 1))
    scenario.user_acls = [draw(acls(users, n_groups, len(roles))) for _ in range(users)]
    scenario.user_deleter = draw(st.integers(0, users - 1))
    return scenario


# -- the reference ------------------------------------------------------------------------------


def groups_of(s: Scenario, user: int) -> set[int]:
    member = {g for g, (users, everyone, _) in enumerate(s.groups) if everyone or user in users}
    changed = True
    while changed:
        changed = False
        for g, (_, _, children) in enumerate(s.groups):
            if g not in member and children & member:
                member.add(g)
                changed = True
    return member


def allowed(s: Scenario, user: int, entity: dict[str, Any], action: str, level: str | None = None) -> bool:
    level = level or s.level
    if action != "read" and level == "readonly":
        return False
    if entity["creator"] == user:
        return True
    acl = entity["acl"]
    groups = groups_of(s, user)
    roles = {r for r, holders in enumerate(s.roles) if user in holders}
    writes = (
        (acl["gw"] if acl["gw"] is not None else level == "full")
        or user in acl["w"]
        or bool(acl["groups"]["w"] & groups)
    )
    if action == "read":
        reads = acl["gr"] if acl["gr"] is not None else level != "private"
        return bool(
            writes or reads or user in acl["r"] or acl["groups"]["r"] & groups or acl["roles"]["r"] & roles
        )
    return bool(writes or acl["roles"]["u" if action == "update" else "d"] & roles)


# -- running a scenario over HTTP ---------------------------------------------------------------


def wire_acl(s: Scenario, acl: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "r": sorted(ids[u] for u in acl["r"]),
        "w": sorted(ids[u] for u in acl["w"]),
        "groups": {k: sorted(f"g{g}" for g in acl["groups"][k]) for k in ("r", "w")},
        "roles": {k: sorted(f"role{r}" for r in acl["roles"][k]) for k in ("r", "u", "d")},
    }
    for flag in ("gr", "gw"):
        if acl[flag] is not None:
            out[flag] = acl[flag]
    return out


async def run(storage: StorageBackend, tmp: Path, s: Scenario) -> None:
    config = Settings(data_dir=str(tmp), password_hash_time_cost=1, password_hash_memory_kib=8)
    core = Core(config, storage)
    await core.load_secret()
    app = await core.apps.create("prop")
    transport = httpx.ASGITransport(app=create_app(config, core))
    master = {
        "Authorization": "Basic " + base64.b64encode(f"{app.key}:{app.master_secret}".encode()).decode()
    }
    appauth = {"Authorization": "Basic " + base64.b64encode(f"{app.key}:{app.app_secret}".encode()).decode()}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        async def call(method: str, path: str, auth: dict[str, str], body: Any = None) -> httpx.Response:
            return await http.request(method, path.replace("{k}", app.key), json=body, headers=auth)

        ids: list[str] = []
        tokens: list[dict[str, str]] = []
        for u in range(s.users):
            await call("POST", "/user/{k}", appauth, {"username": f"u{u}", "password": "pw"})
            r = await call("POST", "/user/{k}/login", appauth, {"username": f"u{u}", "password": "pw"})
            ids.append(r.json()["_id"])
            tokens.append({"Authorization": "Kinvey " + r.json()["_kmd"]["authtoken"]})
        for g, (members, everyone, children) in enumerate(s.groups):
            body = {
                "users": {"all": everyone, "list": [ids[u] for u in members]},
                "groups": [f"g{c}" for c in children],
            }
            assert (await call("PUT", f"/group/{{k}}/g{g}", master, body)).status_code == 201
        for r_, holders in enumerate(s.roles):
            await call("POST", "/roles/{k}", master, {"_id": f"role{r_}", "name": f"role {r_}"})
            for u in holders:
                assert (
                    await call("PUT", f"/user/{{k}}/{ids[u]}/roles/role{r_}", master, {})
                ).status_code == 204
        level = {"permissions": {"level": s.level}}
        if s.level_first:
            await call("PUT", "/appdata/{k}/c/_settings", master, level)
        docs: list[dict[str, Any]] = []
        for n, entity in enumerate(s.entities):
            acl = {**wire_acl(s, entity["acl"], ids), "creator": ids[entity["creator"]]}
            r = await call("PUT", f"/appdata/{{k}}/c/e{n}", master, {"n": n, "_acl": acl})
            assert r.status_code == 201, r.text
            docs.append(r.json())
        if not s.level_first:
            await call("PUT", "/appdata/{k}/c/_settings", master, level)

        for u in range(s.users):
            readable = {f"e{n}" for n, e in enumerate(s.entities) if allowed(s, u, e, "read")}
            r = await call("GET", "/appdata/{k}/c", tokens[u])
            assert {d["_id"] for d in r.json()} == readable, (u, r.json())
            r = await call("GET", "/appdata/{k}/c/_count", tokens[u])
            assert r.json() == {"count": len(readable)}
            for n, entity in enumerate(s.entities):
                r = await call("GET", f"/appdata/{{k}}/c/e{n}", tokens[u])
                assert r.status_code == (200 if f"e{n}" in readable else 401), (u, n)
                r = await call("PUT", f"/appdata/{{k}}/c/e{n}", tokens[u], docs[n])
                expected = 200 if allowed(s, u, entity, "update") else 401
                assert r.status_code == expected, (u, n, r.text)
                if r.status_code == 401:
                    assert r.json()["error"] == "InsufficientCredentials"
        remaining = set(range(len(s.entities)))
        for n, (entity, u) in enumerate(zip(s.entities, s.deleters, strict=True)):
            if n % 2:
                continue
            r = await call("DELETE", f"/appdata/{{k}}/c/e{n}", tokens[u])
            ok = allowed(s, u, entity, "delete")
            assert r.status_code == (200 if ok else 401), (u, n)
            if ok:
                remaining.discard(n)
        u = s.bulk_deleter
        expected_bulk = {n for n in remaining if allowed(s, u, s.entities[n], "delete")}
        r = await call("DELETE", "/appdata/{k}/c", tokens[u])
        if s.level == "readonly":
            assert r.status_code == 401 and r.json()["error"] == "InsufficientCredentials"
        else:
            assert r.json() == {"count": len(expected_bulk)}
        r = await call("GET", "/appdata/{k}/c", master)
        assert {d["_id"] for d in r.json()} == {f"e{n}" for n in remaining - expected_bulk}
        await check_users(s, call, master, ids, tokens)
    await core.apps.delete(app.key)


Call = Callable[..., Awaitable[httpx.Response]]


async def check_users(
    s: Scenario, call: Call, master: dict[str, str], ids: list[str], tokens: list[dict[str, str]]
) -> None:
    """The same rules on the users themselves (the users collection is ``shared``; each user is
    its own creator): list, ``_count``, ``_lookup``, get, update, then one soft delete."""
    users = [{"creator": v, "acl": acl} for v, acl in enumerate(s.user_acls)]
    docs = []
    for v, user in enumerate(users):
        current = (await call("GET", f"/user/{{k}}/{ids[v]}", master)).json()
        body = {**current, "_acl": wire_acl(s, user["acl"], ids)}
        r = await call("PUT", f"/user/{{k}}/{ids[v]}", master, body)
        assert r.status_code == 200, r.text
        docs.append(r.json())
    for u in range(s.users):
        readable = {ids[v] for v, user in enumerate(users) if allowed(s, u, user, "read", "shared")}
        r = await call("GET", "/user/{k}", tokens[u])
        assert {d["_id"] for d in r.json()} == readable, (u, r.json())
        r = await call("GET", "/user/{k}/_count", tokens[u])
        assert r.json() == {"count": len(readable)}
        r = await call("POST", "/user/{k}/_lookup", tokens[u], {"username": {"$gte": ""}})
        assert {d["_id"] for d in r.json()} == readable
        for v, user in enumerate(users):
            r = await call("GET", f"/user/{{k}}/{ids[v]}", tokens[u])
            assert r.status_code == (200 if ids[v] in readable else 401), (u, v)
            r = await call("PUT", f"/user/{{k}}/{ids[v]}", tokens[u], docs[v])
            assert r.status_code == (200 if allowed(s, u, user, "update", "shared") else 401), (u, v)
    u = s.user_deleter
    target = (u + 1) % s.users
    r = await call("DELETE", f"/user/{{k}}/{ids[target]}", tokens[u])
    ok = allowed(s, u, users[target], "delete", "shared")
    assert r.status_code == (204 if ok else 401), r.text
    r = await call("GET", "/user/{k}/_count", master)
    assert r.json() == {"count": s.users}, "soft delete keeps the user for the master"
    r = await call("GET", "/user/{k}", tokens[u])
    visible = {d["_id"] for d in r.json()}
    assert (ids[target] in visible) == (not ok and allowed(s, u, users[target], "read", "shared"))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_permissions_match_the_reference(engine: str, tmp_path: Path) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"kbt_prop_{worker}_{os.getpid()}"

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(scenarios())
    def check(s: Scenario) -> None:
        async def main() -> None:
            storage: StorageBackend
            if engine == "sqlite":
                storage = SQLiteStorage(tmp_path / "prop.db")
            else:
                storage = PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=2, schema=schema)
            await storage.start()
            try:
                await run(storage, tmp_path, s)
            finally:
                await storage.stop()

        asyncio.run(main())

    try:
        check()
    finally:
        if engine == "postgresql":  # the examples share it; dropped once they ran
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))
