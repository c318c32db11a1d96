"""Issue 16, the stateful permission model: a hypothesis ``RuleBasedStateMachine`` creates, shares,
revokes and deletes (Kinvey users, groups, roles and entities; Kinto accounts, groups, collections
and records), and after every step every principal sees exactly what a small model allows through
every read path: Kinvey get, list, ``_count``, ``_group``, ``_deltaset``; Kinto get, list, ``_since``,
``/batch``, ``/permissions``; and nothing of one app through another. On both engines, in-process
(schemathesis's ASGI client: the app runs on its own event loop, started by its lifespan).

A bounded run in the suite; a longer one by one command:
``KINBASE_MODEL_EXAMPLES=100 KINBASE_MODEL_STEPS=30 .venv/bin/python -m pytest -q -p no:cacheprovider
-n 0 -s tests/reliability/test_permission_model.py`` (prints steps, checks and violations)."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.reliability.test_fuzz import Target, target  # noqa: F401  (the fixture)
from tests.support import fuzzing

EXAMPLES = int(os.environ.get("KINBASE_MODEL_EXAMPLES", "4"))
STEPS = int(os.environ.get("KINBASE_MODEL_STEPS", "12"))
USERS = 3
STATS: Counter[str] = Counter()
"""Steps, checks per read path, violations (a violation fails the test at once)."""

_ids = itertools.count()


@dataclass
class KinveyEntity:
    creator: int
    r: set[int] = field(default_factory=set)
    groups: set[int] = field(default_factory=set)
    roles: set[int] = field(default_factory=set)
    deleted: bool = False


@dataclass
class KintoRecord:
    writer: int
    read: set[str] = field(default_factory=set)
    deleted: bool = False


def _check(ok: bool, path: str, detail: Any) -> None:
    STATS[f"checks {path}"] += 1
    if not ok:
        STATS["violations"] += 1
        raise AssertionError(f"{path}: {detail}")


class PermissionModel(RuleBasedStateMachine):
    target: Target

    def __init__(self) -> None:
        super().__init__()
        self.http = fuzzing.Http(self.target.client)
        self.n = next(_ids)
        record = self.target.record
        self.key = record.key
        self.master = fuzzing.basic(record.key, record.master_secret)
        self.entities: dict[str, KinveyEntity] = {}
        self.group_members: list[set[int]] = [set(), set()]
        self.role_holders: list[set[int]] = [set()]
        self.records: dict[str, KintoRecord] = {}
        self.team: set[int] = set()
        self.collection_read: set[str] = set()

    def call(self, method: str, path: str, auth: str | None, json: Any = None) -> requests.Response:
        return self.http(method, path.replace("{k}", self.key), auth, json=json)

    # -- setting up ---------------------------------------------------------------------------
    @initialize()
    def setup(self) -> None:
        n, master = self.n, self.master
        self.coll = f"c{n}"
        appauth = fuzzing.basic(self.key, self.target.record.app_secret)
        self.users: list[tuple[str, str]] = []
        for u in range(USERS):
            body = {"username": f"m{n}u{u}", "password": "pw"}
            r = self.call("POST", "/user/{k}", appauth, body)
            assert r.status_code == 201, r.text
            self.users.append((r.json()["_id"], "Kinvey " + r.json()["_kmd"]["authtoken"]))
        self.gids = [f"m{n}g{g}" for g in range(len(self.group_members))]
        for gid in self.gids:
            assert self.call("PUT", f"/group/{{k}}/{gid}", master, {"users": {"list": []}}).status_code == 201
        self.rids = [f"m{n}r{r}" for r in range(len(self.role_holders))]
        for rid in self.rids:
            assert self.call("POST", "/roles/{k}", master, {"_id": rid, "name": rid}).status_code == 201
        settings_body = {"permissions": {"level": "private"}, "deltaSet": {"enabled": True}}
        assert (
            self.call("PUT", f"/appdata/{{k}}/{self.coll}/_settings", master, settings_body).status_code
            == 200
        )
        r = self.call("GET", f"/appdata/{{k}}/{self.coll}", master)
        self.since = r.headers["X-Kinvey-Request-Start"]
        # Kinto: accounts, a bucket owned by account 0 with a group and a collection where every
        # account may create records.
        base = f"/kinto/{self.key}/v1"
        self.kbase = base
        self.accounts: list[str] = []
        for a in range(USERS):
            name = f"m{n}a{a}"
            r = self.call("PUT", f"{base}/accounts/{name}", None, {"data": {"password": f"{name}-pw"}})
            assert r.status_code == 201, r.text
            self.accounts.append(name)
        self.bucket = f"{base}/buckets/mb{n}"
        owner = self.kauth(0)
        assert self.call("PUT", self.bucket, owner, {}).status_code == 201
        assert (
            self.call("PUT", f"{self.bucket}/groups/team", owner, {"data": {"members": []}}).status_code
            == 201
        )
        create = {"permissions": {"record:create": ["system.Authenticated"]}}
        assert self.call("PUT", f"{self.bucket}/collections/c", owner, create).status_code == 201
        r = self.call("GET", f"{self.bucket}/collections/c/records", owner)
        self.kinto_since = r.headers["ETag"].strip('"')

    def kauth(self, a: int) -> str:
        return fuzzing.basic(self.accounts[a], f"{self.accounts[a]}-pw")

    # -- Kinvey rules -------------------------------------------------------------------------
    def _acl(self, e: KinveyEntity) -> dict[str, Any]:
        return {
            "creator": self.users[e.creator][0],
            "r": [self.users[u][0] for u in sorted(e.r)],
            "groups": {"r": [self.gids[g] for g in sorted(e.groups)]},
            "roles": {"r": [self.rids[r] for r in sorted(e.roles)]},
        }

    @rule(
        creator=st.integers(0, USERS - 1), r=st.sets(st.integers(0, USERS - 1)), g=st.sets(st.integers(0, 1))
    )
    def kinvey_create(self, creator: int, r: set[int], g: set[int]) -> None:
        entity = KinveyEntity(creator, r, g)
        body = {"n": len(self.entities), "_acl": self._acl(entity)}
        resp = self.call("POST", f"/appdata/{{k}}/{self.coll}", self.users[creator][1], body)
        assert resp.status_code == 201, resp.text
        self.entities[resp.json()["_id"]] = entity

    def _live(self) -> list[str]:
        return sorted(e for e, v in self.entities.items() if not v.deleted)

    def _rewrite(self, eid: str) -> None:
        body = {"n": 0, "_acl": self._acl(self.entities[eid])}
        r = self.call("PUT", f"/appdata/{{k}}/{self.coll}/{eid}", self.master, body)
        assert r.status_code == 200, r.text

    @rule(data=st.data(), kind=st.sampled_from(["r", "groups", "roles"]), share=st.booleans())
    def kinvey_share_or_revoke(self, data: st.DataObject, kind: str, share: bool) -> None:
        live = self._live()
        if not live:
            return
        eid = data.draw(st.sampled_from(live))
        size = {"r": USERS, "groups": len(self.gids), "roles": len(self.rids)}[kind]
        who = data.draw(st.integers(0, size - 1))
        members: set[int] = getattr(self.entities[eid], kind)
        (members.add if share else members.discard)(who)
        self._rewrite(eid)

    @rule(data=st.data())
    def kinvey_delete(self, data: st.DataObject) -> None:
        live = self._live()
        if live:
            eid = data.draw(st.sampled_from(live))
            assert self.call("DELETE", f"/appdata/{{k}}/{self.coll}/{eid}", self.master).status_code == 200
            self.entities[eid].deleted = True

    @rule(u=st.integers(0, USERS - 1), g=st.integers(0, 1), join=st.booleans())
    def kinvey_membership(self, u: int, g: int, join: bool) -> None:
        (self.group_members[g].add if join else self.group_members[g].discard)(u)
        body = {"users": {"list": [self.users[m][0] for m in sorted(self.group_members[g])]}}
        assert self.call("PUT", f"/group/{{k}}/{self.gids[g]}", self.master, body).status_code == 200

    @rule(u=st.integers(0, USERS - 1), grant=st.booleans())
    def kinvey_role(self, u: int, grant: bool) -> None:
        path = f"/user/{{k}}/{self.users[u][0]}/roles/{self.rids[0]}"
        r = self.call("PUT" if grant else "DELETE", path, self.master, {} if grant else None)
        assert r.status_code in (204, 404) if not grant else r.status_code == 204, r.text
        (self.role_holders[0].add if grant else self.role_holders[0].discard)(u)

    # -- Kinto rules --------------------------------------------------------------------------
    @rule(a=st.integers(0, USERS - 1))
    def kinto_create(self, a: int) -> None:
        r = self.call("POST", f"{self.bucket}/collections/c/records", self.kauth(a), {"data": {"a": a}})
        assert r.status_code == 201, r.text
        self.records[r.json()["data"]["id"]] = KintoRecord(a)

    def _principals(self) -> list[str]:
        return [f"account:{name}" for name in self.accounts] + ["/buckets/team"]

    def _principal(self, p: str) -> str:
        return p.replace("/buckets/team", f"/buckets/mb{self.n}/groups/team")

    @rule(data=st.data(), share=st.booleans(), whole_collection=st.booleans())
    def kinto_share_or_revoke(self, data: st.DataObject, share: bool, whole_collection: bool) -> None:
        who = data.draw(st.sampled_from(self._principals()))
        live = sorted(r for r, v in self.records.items() if not v.deleted)
        if whole_collection or not live:
            readers = self.collection_read
            path = f"{self.bucket}/collections/c"
        else:
            rid = data.draw(st.sampled_from(live))
            readers = self.records[rid].read
            path = f"{self.bucket}/collections/c/records/{rid}"
        (readers.add if share else readers.discard)(who)
        body = {"permissions": {"read": sorted(self._principal(p) for p in readers)}}
        r = self.call("PATCH", path, self.kauth(0), body)
        assert r.status_code == 200, r.text

    @rule(data=st.data())
    def kinto_delete(self, data: st.DataObject) -> None:
        live = sorted(r for r, v in self.records.items() if not v.deleted)
        if live:
            rid = data.draw(st.sampled_from(live))
            r = self.call("DELETE", f"{self.bucket}/collections/c/records/{rid}", self.kauth(0))
            assert r.status_code == 200, r.text
            self.records[rid].deleted = True

    @rule(a=st.integers(0, USERS - 1), join=st.booleans())
    def kinto_membership(self, a: int, join: bool) -> None:
        (self.team.add if join else self.team.discard)(a)
        members = [f"account:{self.accounts[m]}" for m in sorted(self.team)]
        r = self.call("PUT", f"{self.bucket}/groups/team", self.kauth(0), {"data": {"members": members}})
        assert r.status_code == 200, r.text

    # -- what every principal sees ------------------------------------------------------------
    def kinvey_readable(self, u: int) -> set[str]:
        groups = {g for g, members in enumerate(self.group_members) if u in members}
        roles = {r for r, holders in enumerate(self.role_holders) if u in holders}
        return {
            eid
            for eid, e in self.entities.items()
            if not e.deleted and (e.creator == u or u in e.r or e.groups & groups or e.roles & roles)
        }

    def kinto_visible(self, a: int) -> set[str]:
        mine = {f"account:{self.accounts[a]}"} | ({"/buckets/team"} if a in self.team else set())
        if a == 0 or mine & self.collection_read:
            return {r for r, v in self.records.items() if not v.deleted}
        return {r for r, v in self.records.items() if not v.deleted and (v.writer == a or mine & v.read)}

    @invariant()
    def everyone_sees_exactly_what_the_model_allows(self) -> None:
        if not hasattr(self, "users"):
            return
        STATS["steps"] += 1
        coll = f"/appdata/{{k}}/{self.coll}"
        for u, (_, token) in enumerate(self.users):
            want = self.kinvey_readable(u)
            got = {d["_id"] for d in self.call("GET", coll, token).json()}
            _check(got == want, "kinvey list", (u, got, want))
            count = self.call("GET", f"{coll}/_count", token).json()["count"]
            _check(count == len(want), "kinvey _count", (u, count, want))
            body = {"key": {}, "initial": {"count": 0}, "reduce": "function(doc, out) { out.count++; }"}
            groups = self.call("POST", f"{coll}/_group", token, body).json()
            _check(sum(g["count"] for g in groups) == len(want), "kinvey _group", (u, groups, want))
            delta = self.call("GET", f"{coll}/_deltaset?since={self.since}", token).json()
            changed = {d["_id"] for d in delta["changed"]}
            _check(changed == want, "kinvey _deltaset", (u, changed, want))
            for eid in self.entities:
                status = self.call("GET", f"{coll}/{eid}", token).status_code
                _check((status == 200) == (eid in want), "kinvey get", (u, eid, status, want))
            other = self.http("GET", f"/appdata/{self.target.other.key}/{self.coll}", token).status_code
            _check(other == 401, "kinvey other app", (u, other))
        records = f"{self.bucket}/collections/c/records"
        for a in range(USERS):
            auth, want = self.kauth(a), self.kinto_visible(a)
            r = self.call("GET", records, auth)
            got = {d["id"] for d in r.json()["data"]} if r.status_code == 200 else set()
            _check(got == want, "kinto list", (a, r.status_code, got, want))
            r = self.call("GET", f"{records}?_since={self.kinto_since}", auth)
            live = (
                {d["id"] for d in r.json()["data"] if not d.get("deleted")} if r.status_code == 200 else set()
            )
            _check(live == want, "kinto _since", (a, live, want))
            rids = sorted(self.records)
            batch = {
                "requests": [{"method": "GET", "path": f"{records}/{rid}"[len(self.kbase) :]} for rid in rids]
            }
            if rids:
                answers = self.call("POST", f"{self.kbase}/batch", auth, batch).json()["responses"]
                for rid, answer in zip(rids, answers, strict=True):
                    ok = (answer["status"] == 200) == (rid in want)
                    _check(ok, "kinto batch get", (a, rid, answer["status"], want))
            for rid in rids:
                status = self.call("GET", f"{records}/{rid}", auth).status_code
                _check((status == 200) == (rid in want), "kinto get", (a, rid, status, want))
            entries = self.call("GET", f"{self.kbase}/permissions", auth).json()["data"]
            listed = {
                e["id"]
                for e in entries
                if e.get("resource_name") == "record" and e.get("bucket_id") == f"mb{self.n}"
            }
            explicit = {
                rid
                for rid, v in self.records.items()
                if not v.deleted and (v.writer == a or f"account:{self.accounts[a]}" in v.read)
            }
            _check(explicit <= listed <= want, "kinto /permissions", (a, listed, explicit, want))


@pytest.mark.timeout(1200)
def test_every_principal_sees_exactly_what_the_model_allows(target: Target) -> None:  # noqa: F811
    PermissionModel.target = target
    STATS.clear()
    run = PermissionModel.TestCase
    run.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    run().runTest()
    print("permission model:", dict(sorted(STATS.items())))
    assert STATS["violations"] == 0
    assert STATS["steps"] >= EXAMPLES
    assert all(
        STATS[f"checks {p}"] > 0 for p in ("kinvey list", "kinvey _deltaset", "kinto list", "kinto _since")
    )
