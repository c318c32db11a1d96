"""Group and role membership, turned into the principals of a user.

A user's principals are ``user:<id>``, ``system.Authenticated``, ``system.Everyone``, ``group:<g>``
for every group that lists it (directly, through ``users.all``, or through a nested group: a group
listed in another group's ``groups`` makes its members members of the parent too), and
``role:<r>`` for every role assigned to it.

Caching: each worker keeps, per app, a snapshot of the memberships built from the
``kinvey.groups`` and ``kinvey.role_members`` parents together with their stamps. A change is
published on the invalidation feed (:mod:`kinbase.core.invalidation`): every worker on the database
drops its snapshot at once. As a second line (a feed message lost), the snapshot is re-validated by
reading the two parents' stamps (two indexed point reads) when it is older than ``check_seconds``
(default 0.5 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson

from kinbase.core.invalidation import ALL, Invalidations
from kinbase.core.permissions import Principals
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord, Reader, StorageBackend

__all__ = ["GROUPS", "MEMBERSHIPS", "ROLE_MEMBERS", "MembershipService"]

GROUPS = "kinvey.groups"
ROLE_MEMBERS = "kinvey.role_members"
MEMBERSHIPS = "kinvey.memberships"
"""The invalidation topic of memberships (key: the app id)."""
_MAX_PRINCIPALS = 10_000
"""The most users' principals one app's snapshot keeps."""


@dataclass(slots=True)
class _Snapshot:
    stamps: tuple[int, int]
    checked: float
    everyone_groups: frozenset[str]
    groups_of: dict[str, frozenset[str]]
    roles_of: dict[str, frozenset[str]]
    principals: dict[str, Principals] = field(default_factory=dict)
    """Those computed from this snapshot, by user id (a new snapshot starts empty)."""


def _refs(value: object) -> list[str]:
    """Ids from a list of KinveyRefs (or of plain id strings)."""
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("_id"), str):
            out.append(item["_id"])
    return out


def _close(direct: dict[str, set[str]], parents_of: dict[str, set[str]]) -> dict[str, set[str]]:
    """Add every ancestor group (nested groups are transitive)."""
    closed: dict[str, set[str]] = {}
    for member, groups in direct.items():
        seen = set(groups)
        stack = list(groups)
        while stack:
            for parent in parents_of.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        closed[member] = seen
    return closed


class MembershipService:
    def __init__(
        self,
        storage: StorageBackend,
        *,
        check_seconds: float = 0.5,
        invalidations: Invalidations | None = None,
    ) -> None:
        self._storage = storage
        self._check = check_seconds
        self._snapshots: dict[int, _Snapshot] = {}
        self._invalidations = invalidations if invalidations is not None else Invalidations()
        self._invalidations.on(MEMBERSHIPS, self._dropped)

    def _dropped(self, key: str) -> None:
        if key == ALL:
            self._snapshots.clear()
        else:
            self._snapshots.pop(int(key), None)

    async def changed(self, app_id: int) -> None:
        """The memberships of ``app_id`` changed (committed): every worker drops its snapshot."""
        await self._invalidations.publish(MEMBERSHIPS, str(app_id))

    async def _stamps(self, reader: Reader, app: AppRecord) -> tuple[int, int]:
        groups = await reader.get_parent(app.id, GROUPS, "")
        roles = await reader.get_parent(app.id, ROLE_MEMBERS, "")
        return (groups.stamp if groups else 0, roles.stamp if roles else 0)

    async def _snapshot(self, app: AppRecord) -> _Snapshot:
        await self._invalidations.sync()
        now = time.monotonic()
        cached = self._snapshots.get(app.id)
        if cached is not None and now - cached.checked < self._check:
            return cached
        async with self._storage.reader() as reader:
            stamps = await self._stamps(reader, app)
            if cached is not None and cached.stamps == stamps:
                cached.checked = now
                return cached
            snapshot = await self._build(reader, app, stamps, now)
        if len(self._snapshots) > 1000:
            self._snapshots.clear()
        self._snapshots[app.id] = snapshot
        return snapshot

    async def _build(self, reader: Reader, app: AppRecord, stamps: tuple[int, int], now: float) -> _Snapshot:
        direct: dict[str, set[str]] = {}
        parents_of: dict[str, set[str]] = {}
        everyone: set[str] = set()
        groups = await reader.get_parent(app.id, GROUPS, "")
        if groups is not None:
            for obj in await reader.find(groups, Query()):
                doc = orjson.loads(obj.data)
                users = doc.get("users") if isinstance(doc.get("users"), dict) else {}
                if users.get("all") is True:
                    everyone.add(obj.id)
                for user_id in _refs(users.get("list")):
                    direct.setdefault(user_id, set()).add(obj.id)
                for child in _refs(doc.get("groups")):
                    parents_of.setdefault(child, set()).add(obj.id)
        everyone_closed = _close({"*": everyone}, parents_of).get("*", set())
        roles_of: dict[str, set[str]] = {}
        members = await reader.get_parent(app.id, ROLE_MEMBERS, "")
        if members is not None:
            for obj in await reader.find(members, Query()):
                doc = orjson.loads(obj.data)
                roles_of.setdefault(str(doc["userId"]), set()).add(str(doc["roleId"]))
        return _Snapshot(
            stamps=stamps,
            checked=now,
            everyone_groups=frozenset(everyone_closed),
            groups_of={k: frozenset(v) for k, v in _close(direct, parents_of).items()},
            roles_of={k: frozenset(v) for k, v in roles_of.items()},
        )

    async def principals(self, app: AppRecord, user_id: str) -> Principals:
        """The principals of ``user_id`` (user, groups with nesting, roles, system ones)."""
        snapshot = await self._snapshot(app)
        found = snapshot.principals.get(user_id)
        if found is None:
            groups = snapshot.groups_of.get(user_id, frozenset()) | snapshot.everyone_groups
            found = Principals.for_user(user_id, groups, snapshot.roles_of.get(user_id, frozenset()))
            if len(snapshot.principals) >= _MAX_PRINCIPALS:
                snapshot.principals.clear()
            snapshot.principals[user_id] = found
        return found

    async def groups_of(self, app: AppRecord, user_id: str) -> frozenset[str]:
        snapshot = await self._snapshot(app)
        return snapshot.groups_of.get(user_id, frozenset()) | snapshot.everyone_groups
