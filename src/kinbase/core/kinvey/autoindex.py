"""Automatic indexes for Kinvey collections (``auto_index``, issue 20).

Every Kinvey list and count reports its **shape** (:func:`shape_of`: the fields pinned by equality,
the first sort field, a range field) and how long it took (:meth:`AutoIndexer.observe`, a dict
update on the request path). The index a shape needs is its equality fields (sorted) followed by
its sort field, or else its range field: ``{"status": "todo"}`` sorted by ``n`` needs
``(status, n)``, a compound index, which walks the filter and the order at once.

With ``auto_index`` on for the collection (the default of apps created since, see
:data:`AUTO_INDEX_DEFAULT`), a shape that was seen ``auto_index_min_queries`` times taking
``auto_index_slow_ms`` or more on average, and that no index of the collection serves, gets its
index: built online (:func:`kinbase.storage.indexing.build_index`) in a background task, and
listed in the collection's ``auto_indexes`` setting with when it was created and last used.

An automatic index that no query used for ``auto_index_idle_hours`` is dropped (declared indexes
are the operator's and never dropped). Use is kept in memory per worker and written to the
collection at most every :data:`FLUSH_SECONDS`, when the collection is read; so is the idle check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kinbase.core.kinvey.collections import DECLARED_INDEXES, index_keys
from kinbase.core.kinvey.entities import APPDATA
from kinbase.errors import BaaSError
from kinbase.query.ast import And, Eq, In, Node, Query, Range
from kinbase.storage.base import AppRecord, ParentRecord, StorageBackend
from kinbase.storage.indexing import build_index
from kinbase.storage.stamps import now_ms
from kinbase.types import Path

__all__ = ["AUTO_INDEXES", "AUTO_INDEX_DEFAULT", "AutoIndexer", "Shape", "auto_index_on", "shape_of"]

AUTO_INDEXES: Final = "auto_indexes"
"""The collection setting listing the automatic indexes: ``[{"fields": [...], "created": ms,
"used": ms}]``."""

AUTO_INDEX_DEFAULT: Final = "auto_index"
"""The app setting holding the default of ``auto_index`` for its collections (set on new apps)."""

FLUSH_SECONDS: Final = 60.0
"""How often a worker writes the last use of a collection's automatic indexes and checks them."""

MAX_EQUALITY_FIELDS: Final = 3
_SYSTEM: Final = {("_id",), ("_acl",), ("_kmd",)}

_log = logging.getLogger(__name__)

IndexKey = tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Shape:
    """What a query asks of a collection, as far as an index can answer it."""

    equal: tuple[Path, ...]
    sort: Path | None
    range: Path | None

    def index(self) -> IndexKey | None:
        """The fields of the index this shape needs (None: no index would help)."""
        last = self.sort or self.range
        equal = tuple(p for p in self.equal if p != last)[:MAX_EQUALITY_FIELDS]
        if last is not None:
            return (*equal, last)
        return equal or None


def _indexable(path: Path) -> bool:
    return bool(path) and path[:1] not in _SYSTEM and not any(p.startswith("$") for p in path)


def shape_of(query: Query) -> Shape:
    """The shape of ``query``: equality (scalar ``Eq``/``$in``) and range fields of its top-level
    conditions, and its first sort field."""
    node = query.filter
    children: tuple[Node, ...] = node.children if isinstance(node, And) else (node,) if node else ()
    equal: set[Path] = set()
    ranged: Path | None = None
    for child in children:
        path = getattr(child, "path", None)
        if not isinstance(path, tuple) or not _indexable(path):
            continue
        if (isinstance(child, Eq) and not isinstance(child.value, dict | list)) or (
            isinstance(child, In)
            and child.values
            and not any(isinstance(v, dict | list) for v in child.values)
        ):
            equal.add(path)
        elif isinstance(child, Range) and ranged is None:
            ranged = path
    sort = query.sort[0].path if query.sort and _indexable(query.sort[0].path) else None
    return Shape(tuple(sorted(equal)), sort, ranged)


def auto_index_on(app: AppRecord, settings: Mapping[str, Any]) -> bool:
    """Whether automatic indexing is on for a collection: its own ``auto_index``, else the app's
    default (on for apps created since automatic indexing exists)."""
    own = settings.get("auto_index")
    if own is not None:
        return bool(own)
    return bool(app.settings.get(AUTO_INDEX_DEFAULT, False))


def _fields_of(raw: Any) -> IndexKey:
    return tuple(tuple(p) for p in raw)


@dataclass(slots=True)
class _Stats:
    count: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class _Collection:
    shapes: dict[IndexKey, _Stats] = field(default_factory=dict)
    used: dict[IndexKey, int] = field(default_factory=dict)
    flushed: float = 0.0
    building: set[IndexKey] = field(default_factory=set)


class AutoIndexer:
    """Records query shapes per collection and keeps the automatic indexes (one per worker)."""

    def __init__(
        self,
        storage: StorageBackend,
        *,
        min_queries: int = 20,
        slow_seconds: float = 0.01,
        idle_seconds: float = 7 * 86_400.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._storage = storage
        self.min_queries = min_queries
        self.slow_seconds = slow_seconds
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._wall_ms = wall_ms
        self._collections: dict[int, _Collection] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the request path ---------------------------------------------------------------------
    def observe(self, app: AppRecord, parent: ParentRecord, query: Query, seconds: float) -> None:
        """Record one read of ``parent`` (cheap: a few dict operations; any index work is a
        background task)."""
        key = shape_of(query).index()
        state = self._collections.get(parent.id)
        if state is None:
            state = self._collections[parent.id] = _Collection(flushed=self._clock())
        autos = parent.settings.get(AUTO_INDEXES) or ()
        if key is not None:
            if any(_fields_of(a["fields"]) == key for a in autos):
                state.used[key] = self._wall_ms()
            if not any(i.fields == key for i in parent.indexes) and auto_index_on(app, parent.settings):
                stats = state.shapes.setdefault(key, _Stats())
                stats.count += 1
                stats.seconds += seconds
                if (
                    stats.count >= self.min_queries
                    and stats.seconds / stats.count >= self.slow_seconds
                    and key not in state.building
                ):
                    state.building.add(key)
                    self._spawn(self._create(app, parent.name, parent.id, key))
        if autos and self._clock() - state.flushed >= FLUSH_SECONDS:
            state.flushed = self._clock()
            self._spawn(self._maintain(app, parent.name, parent.id))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the background work started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- background work ----------------------------------------------------------------------
    async def _create(self, app: AppRecord, name: str, parent_id: int, key: IndexKey) -> None:
        state = self._collections[parent_id]
        try:
            async with self._storage.writer() as writer:
                parent = await writer.get_parent(app.id, APPDATA, name)
                if parent is None or parent.id != parent_id or any(i.fields == key for i in parent.indexes):
                    return
                settings = dict(parent.settings)
                stamp = self._wall_ms()
                entry = {"fields": [list(p) for p in key], "created": stamp, "used": stamp}
                others = [a for a in settings.get(AUTO_INDEXES, []) if _fields_of(a["fields"]) != key]
                settings[AUTO_INDEXES] = [*others, entry]
                parent = await writer.update_parent_settings(parent, settings)
                await writer.begin_index(parent, key[-1], key[:-1])  # in the same transaction
            await build_index(self._storage, app.id, APPDATA, name, key[-1], prefix=key[:-1])
            _log.info("automatic index on %s of %s/%s", key, app.key, name)
            state.shapes.pop(key, None)
        except BaaSError:  # a background task: log, never break the request path
            _log.exception("automatic index on %s of %s/%s failed", key, app.key, name)
        finally:
            state.building.discard(key)

    async def _maintain(self, app: AppRecord, name: str, parent_id: int) -> None:
        """Write the last use of the automatic indexes; drop those idle for too long."""
        state = self._collections[parent_id]
        try:
            async with self._storage.writer() as writer:
                parent = await writer.get_parent(app.id, APPDATA, name)
                if parent is None or parent.id != parent_id:
                    return
                now = self._wall_ms()
                kept: list[dict[str, Any]] = []
                dropped: list[IndexKey] = []
                existing = {i.fields for i in parent.indexes}
                for auto in parent.settings.get(AUTO_INDEXES, []):
                    key = _fields_of(auto["fields"])
                    if key not in existing:
                        continue  # dropped meanwhile (declared, then no longer declared)
                    used = max(int(auto.get("used", 0)), state.used.get(key, 0))
                    if now - used > self.idle_seconds * 1000:
                        dropped.append(key)
                    else:
                        kept.append({**auto, "used": used})
                settings = dict(parent.settings)
                settings[AUTO_INDEXES] = kept
                if kept != parent.settings.get(AUTO_INDEXES):
                    parent = await writer.update_parent_settings(parent, settings)
                declared = index_keys(settings.get(DECLARED_INDEXES, []))
                for key in dropped:
                    if key not in declared:
                        parent = await writer.drop_index(parent, key[-1], key[:-1])
                    state.used.pop(key, None)
                    _log.info("automatic index on %s of %s/%s dropped (unused)", key, app.key, name)
        except BaaSError:
            _log.exception("automatic index upkeep of %s/%s failed", app.key, name)
