"""The storage interface every engine implements.

The model (``docs/storage.md``): an **app** owns **parents**; a parent holds **objects**. An object
has an id unique in its parent, a JSON document, a change **stamp** (ms), a creation time, a
creator, **grants** (permission, principal) and, when deleted, stays as a **tombstone** until
purged. Each parent has one strictly increasing stamp, bumped inside every write transaction, so
Kinto ``_since``, Kinvey ``_deltaset`` and ETags are all reads of the same history.

Reads go through a :class:`Reader`, writes through a :class:`Writer` that is one transaction:
committed when its ``async with`` block exits normally, rolled back when it raises. A write is
acknowledged only after the commit returned.

Implementations must pass :class:`kinbase.storage.testing.StorageContract`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from kinbase.query.ast import IndexDef, Query
from kinbase.storage.feed import InvalidationFeed
from kinbase.storage.records import (
    AclFilter,
    AppRecord,
    Builder,
    FindOptions,
    NewVersion,
    ParentRecord,
    PutResult,
    StoredObject,
    SystemColumns,
    WriteContext,
)
from kinbase.types import Path, Stamp

__all__ = [
    "RECORD_SEPARATOR",
    "AclFilter",
    "AppRecord",
    "Builder",
    "FindOptions",
    "IndexDef",
    "NewVersion",
    "ParentRecord",
    "PutResult",
    "Reader",
    "StorageBackend",
    "StoredObject",
    "SystemColumns",
    "WriteContext",
    "Writer",
]

RECORD_SEPARATOR = "\x1e"
"""A separator for :meth:`Reader.find_joined` that no stored text holds: both engines write the
control characters of a JSON string as escapes, and their JSON texts hold no other (U+001E)."""


class Reader(ABC):
    """Read operations. Obtained from :meth:`StorageBackend.reader`."""

    # apps ---------------------------------------------------------------------------------
    @abstractmethod
    async def get_app(self, key: str) -> AppRecord | None:
        """The app with this app key, or None."""

    @abstractmethod
    async def get_app_by_id(self, app_id: int) -> AppRecord | None:
        """The app with this internal id, or None."""

    @abstractmethod
    async def list_apps(self) -> list[AppRecord]:
        """Every app, ordered by creation."""

    @abstractmethod
    async def get_meta(self, key: str) -> str | None:
        """A server-wide value (e.g. the server secret), or None."""

    # parents ------------------------------------------------------------------------------
    @abstractmethod
    async def get_parent(self, app_id: int, kind: str, name: str) -> ParentRecord | None:
        """The parent, or None if it was never written (or was dropped)."""

    @abstractmethod
    async def list_parents(self, app_id: int, kind: str, name_prefix: str = "") -> list[ParentRecord]:
        """Parents of a kind whose name starts with ``name_prefix``, ordered by name."""

    # objects ------------------------------------------------------------------------------
    @abstractmethod
    async def get_object(
        self, parent: ParentRecord, object_id: str, *, include_deleted: bool = False
    ) -> StoredObject | None:
        """One object by id (a tombstone only with ``include_deleted``), or None."""

    @abstractmethod
    async def get_child(
        self, app_id: int, kind: str, parent_name: str, object_id: str, *, include_deleted: bool = False
    ) -> StoredObject | None:
        """One object by its parent's name and its id, in one statement: what
        :meth:`get_parent` then :meth:`get_object` return, without a round trip in between.
        None when the parent or the object does not exist."""

    @abstractmethod
    async def find(
        self, parent: ParentRecord, query: Query, options: FindOptions | None = None
    ) -> list[StoredObject]:
        """Objects matching ``query``, in its order (insertion order when it has none).

        The filter, the order, the window and the ACL are applied by the database. ``query.fields``
        is ignored here (front-ends project).

        Raises:
            InvalidQuery: if the query cannot be compiled for this engine.
        """

    @abstractmethod
    async def find_texts(
        self, parent: ParentRecord, query: Query, options: FindOptions | None = None
    ) -> list[str]:
        """The JSON texts of what :meth:`find` returns, in the same order, rendered by the
        database: an object's stored text, a tombstone's ``{"deleted":true,"ID":"…","STAMP":…}``
        where ``ID`` and ``STAMP`` are the names of ``options.columns`` (one-segment paths,
        required with ``options.include_deleted``). No row becomes a Python object: a page of
        1,000 objects (a Kinto ``_since`` sync) is spliced into the response as it comes.

        Raises:
            InvalidQuery: if the query cannot be compiled for this engine.
            ValueError: with ``options.include_deleted`` but without one-segment ``options.columns.id``
                and ``.stamp`` (a tombstone is rendered with their names).
        """

    @abstractmethod
    async def find_joined(
        self,
        parent: ParentRecord,
        query: Query,
        options: FindOptions | None = None,
        *,
        separator: str = ",",
        watch: tuple[int, str, str] | None = None,
    ) -> tuple[int, str, Stamp | None, Stamp | None]:
        """How many texts :meth:`find_texts` returns, those texts joined with ``separator`` (``,``
        to splice them into a JSON array, or :data:`RECORD_SEPARATOR` to split them again) by the
        database in one value (a page of 1,000 objects is one row, not 1,000: no row becomes a
        Python tuple and string; ``""`` when nothing matches), and the stamp of ``parent`` read by
        the same statement: None when its row is no longer ``parent`` (deleted, detached by
        :meth:`Writer.delete_parent`, or its settings changed since it was read), so a caller may
        pass a cached parent and trust the page only with a stamp. Last, the stamp of the parent
        ``watch`` names (app id, kind, name) read by the same statement (None without ``watch``
        or when there is no such parent): a caller that presumed it learns in the same snapshot
        whether it was right.

        Raises:
            InvalidQuery: if the query cannot be compiled for this engine.
            ValueError: with ``options.include_deleted`` but without one-segment ``options.columns.id``
                and ``.stamp`` (a tombstone is rendered with their names).
        """

    @abstractmethod
    async def count_by(
        self, parent: ParentRecord, keys: Sequence[Path], query: Query, options: FindOptions | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        """How many objects :meth:`find` returns per distinct value of the document paths ``keys``
        (object members only: a segment never addresses an array position), counted by the
        database: ``(the values' JSON texts, count)`` per group, ``"null"`` for a value that is
        missing or null, groups in the order of their first object in :meth:`find`'s order (the
        query has no sort). Values are grouped by their JSON text as the engine renders it.

        Raises:
            InvalidQuery: if the query cannot be compiled for this engine.
        """

    @abstractmethod
    async def count(self, parent: ParentRecord, query: Query, options: FindOptions | None = None) -> int:
        """How many objects match ``query.filter`` (ignores sort, skip and limit)."""

    @abstractmethod
    async def get_grants(self, oid: int) -> list[tuple[str, str]]:
        """The (permission, principal) grants of an object, sorted."""

    @abstractmethod
    async def find_granted(
        self, app_id: int, kinds: Sequence[str], principals: Sequence[str]
    ) -> list[tuple[ParentRecord, StoredObject, list[str]]]:
        """Every live object in parents of these kinds on which one of ``principals`` holds a
        grant, with the permissions held (Kinto ``GET /permissions``)."""


class Writer(Reader):
    """One write transaction. Obtained from :meth:`StorageBackend.writer`."""

    optimistic: bool = False
    """Set by a caller that runs the transaction again on
    :class:`~kinbase.storage.exceptions.StampConflict`: a :meth:`put` with ``new`` and no
    requested stamp may then predict the stamp instead of locking the parent first, and lock it
    only with the statements that travel with the commit (PostgreSQL: the parent's row lock is
    held for no round trip to the client). A wrong prediction fails the transaction with
    StampConflict at its commit (or its next statement that waits for an answer); nothing is
    written. Engines without the path ignore it."""

    needs_oid: bool = True
    """Set False by a caller that does not read the ``oid`` of the new objects it puts: an
    optimistic put of a new object may then leave the oid to the statement that locks the
    parent (PostgreSQL: no reservation before it, one round trip less for a collection without
    indexes), and the :class:`StoredObject` it returns carries oid 0."""

    puts_ahead: bool = False
    """Whether an optimistic :meth:`put` of a new object checks its parent's row (id, version,
    stamp below the prediction) in the statement that writes it (PostgreSQL). A caller may then
    pass a parent it read earlier (a cache of its own) without reading it in this transaction:
    a stale one fails the put with :class:`~kinbase.storage.exceptions.StampConflict`."""

    # apps ---------------------------------------------------------------------------------
    @abstractmethod
    async def create_app(
        self, key: str, name: str, app_secret: str, master_secret: str, settings: Mapping[str, Any]
    ) -> AppRecord:
        """Create an app.

        Raises:
            AlreadyExists: if the app key is taken.
        """

    @abstractmethod
    async def update_app(
        self, app_id: int, *, name: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> AppRecord:
        """Change an app's name or settings and bump its version.

        Raises:
            AppNotFound: if there is no such app.
        """

    @abstractmethod
    async def delete_app(self, app_id: int) -> bool:
        """Delete an app with every parent and object it owns. False if it did not exist."""

    @abstractmethod
    async def set_meta(self, key: str, value: str) -> None:
        """Set a server-wide value."""

    # parents ------------------------------------------------------------------------------
    @abstractmethod
    async def ensure_parent(self, app_id: int, kind: str, name: str) -> ParentRecord:
        """The parent, created (with the current time as its stamp) if missing. Reading it does not
        lock it: the first write to it in this transaction does, so the lock is held briefly."""

    @abstractmethod
    async def lock_parent(self, parent: ParentRecord) -> ParentRecord:
        """Lock the parent for the rest of the transaction and return it as committed (a
        read-modify-write of its settings reads it from here, so a concurrent writer waits).

        Raises:
            CollectionNotFound: if it was dropped meanwhile.
        """

    @abstractmethod
    async def update_parent_settings(self, parent: ParentRecord, settings: Mapping[str, Any]) -> ParentRecord:
        """Replace a parent's settings (bumps its version, not its stamp).

        Note:
            ``settings["indexes"]`` is owned by :meth:`create_index` and :meth:`drop_index`; the
            value given here for that key is ignored.
        """

    @abstractmethod
    async def delete_parent(self, parent: ParentRecord) -> int:
        """Drop a parent with all its objects, tombstones, grants and index entries. Returns the
        number of live objects removed."""

    @abstractmethod
    async def create_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        """Declare a field index on ``path`` and fill it from the existing objects (idempotent).

        With a ``prefix`` (the leading fields), the index is the compound index on
        ``(*prefix, path)``; every method below takes the same ``prefix`` to name it."""

    @abstractmethod
    async def begin_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        """Declare a field index on ``path`` without filling it: from now on every write maintains
        it, but reads do not use it until :meth:`finish_index`. The online build of a live
        collection is ``begin_index``, then :meth:`fill_index` in short transactions of its own,
        then ``finish_index`` (:func:`kinbase.storage.indexing.build_index`). Idempotent: an index
        already declared on ``path`` (ready or not) is left as it is."""

    @abstractmethod
    async def fill_index(
        self,
        parent: ParentRecord,
        path: Path,
        after: tuple[Stamp, int] | None,
        limit: int,
        prefix: tuple[Path, ...] = (),
    ) -> tuple[Stamp, int] | None:
        """Index up to ``limit`` live objects that come after ``after`` in (stamp, oid) order and
        return the position of the last one, or None when none was left.

        Objects written meanwhile get a newer stamp and so come later in that order, and writes
        maintain the index themselves: a build that walks from None to the end misses none.

        Raises:
            NotFound: if no index is declared on ``path``.
        """

    @abstractmethod
    async def finish_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        """Let reads use the index on ``path`` (no-op if it is ready or absent)."""

    @abstractmethod
    async def drop_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        """Remove the field index on ``path`` (no-op if absent)."""

    # objects ------------------------------------------------------------------------------
    @abstractmethod
    async def get_object_for_update(
        self, parent: ParentRecord, object_id: str, *, include_deleted: bool = False
    ) -> StoredObject | None:
        """Lock the parent for the rest of the transaction, then read one of its objects as
        committed: the read of a read-modify-write whose new version is computed outside
        :meth:`put`'s builder (a check that raises, a field carried over, another object written
        from it). A concurrent writer of the parent waits for this transaction, so what it read
        cannot change before the commit. :meth:`get_object` takes no lock: on an engine whose
        writers run concurrently (PostgreSQL), a version computed from it may overwrite a
        write committed in between (a lost update)."""

    @abstractmethod
    async def put(
        self,
        parent: ParentRecord,
        object_id: str,
        build: Builder,
        *,
        requested_stamp: Stamp | None = None,
        new: bool = False,
    ) -> PutResult:
        """Create or replace one object.

        ``new`` tells that no object or tombstone has this id (a fresh random UUID): the lookup of
        the current version is skipped (one statement less inside the parent's lock). A wrong
        ``new`` fails the write with a unique violation.

        The parent's stamp is bumped (see :func:`kinbase.storage.stamps.next_stamp`, which also
        decides whether ``requested_stamp`` is honoured), then ``build`` is called with the new
        stamp and the current version, and its result is stored with its grants and index entries.
        A tombstone with the same id is replaced.

        Raises:
            BaaSError: whatever ``build`` raises; nothing is written.
        """

    @abstractmethod
    async def put_many(self, parent: ParentRecord, items: Sequence[tuple[str, Builder]]) -> list[PutResult]:
        """Create or replace several objects in this transaction, in order (bulk path: imports,
        multi-insert). Equivalent to calling :meth:`put` for each item, with fewer statements.

        Raises:
            InvalidRequest: if an id appears twice in ``items``.
            BaaSError: whatever a builder raises; the caller decides whether to roll back.
        """

    @abstractmethod
    async def delete(
        self,
        parent: ParentRecord,
        object_id: str,
        *,
        check: Callable[[StoredObject | None], None] | None = None,
        requested_stamp: Stamp | None = None,
    ) -> tuple[StoredObject, StoredObject] | None:
        """Replace a live object by a tombstone. Returns (tombstone, deleted object), or None if
        there was no live object. ``check`` is called with the live object (or None) first and may
        raise to abort."""

    @abstractmethod
    async def delete_matching(
        self, parent: ParentRecord, query: Query, options: FindOptions | None = None
    ) -> list[tuple[StoredObject, StoredObject]]:
        """Tombstone every live object that ``query`` selects (its filter, order and window), in
        order. Returns (tombstone, deleted object) pairs."""

    @abstractmethod
    async def purge_tombstones(self, parent: ParentRecord, before: Stamp | None = None) -> int:
        """Forget tombstones older than ``before`` (all if None). Returns how many."""

    @abstractmethod
    async def set_grants(self, oid: int, grants: Iterable[tuple[str, str]]) -> None:
        """Replace the grants of an object (without touching its stamp)."""


class StorageBackend(ABC):
    """A storage engine. One instance per server process, shared by all requests."""

    engine: str
    """``"sqlite"`` or ``"postgresql"``."""

    @abstractmethod
    async def start(self) -> None:
        """Open connections and apply pending migrations."""

    @abstractmethod
    async def stop(self) -> None:
        """Close every connection."""

    @abstractmethod
    async def ping(self) -> bool:
        """True if the database answers (health checks)."""

    def pool_stats(self) -> dict[str, int]:
        """The connections of this process by state (``size``, ``in_use``, ``idle``,
        ``waiting``, ``max``), for the metrics; empty if the engine keeps none."""
        return {}

    def grouped_writer(self, key: Hashable) -> AbstractAsyncContextManager[Writer]:
        """A write transaction that may be shared with other writers of ``key`` (one collection:
        ``(app_id, kind, name)``) queued at the same time, each in a savepoint of its own
        (:mod:`kinbase.storage.group`). The block exits after the shared commit. By default (and
        when group commit is off) an ordinary :meth:`writer`."""
        return self.writer()

    @property
    def identity(self) -> str:
        """Names the database (every process on it gives the same name): the invalidation
        channels of :mod:`kinbase.storage.feed` are named after it."""
        return f"{self.engine}:{id(self)}"

    async def read_meta(self, key: str) -> str | None:
        """``get_meta`` of a reader of its own: the latest committed value. An engine may answer it
        more cheaply than a reader (SQLite: one statement on the loop's connection; the
        invalidation feed of :mod:`kinbase.core.invalidation` reads its sequence so on every
        request)."""
        async with self.reader() as reader:
            return await reader.get_meta(key)

    def commit_marker(self) -> bytes | None:
        """Bytes that change whenever any process commits to the database, read without a
        statement, or None when the engine has no such thing (SQLite: the header of the WAL
        index). Equal markers mean nothing was committed in between, so a :meth:`read_meta` would
        answer as before; different ones mean only that something may have changed."""
        return None

    def invalidation_feed(self, origin: str) -> InvalidationFeed | None:
        """A feed the engine pushes invalidations through (PostgreSQL: ``LISTEN``/``NOTIFY``), or
        None when it has none (the core then keeps a log in the database). ``origin`` names this
        process, whose own messages are not delivered back to it."""
        return None

    @abstractmethod
    def reader(self) -> AbstractAsyncContextManager[Reader]:
        """A reader for one or more reads (each read sees the latest committed data)."""

    @abstractmethod
    def writer(self) -> AbstractAsyncContextManager[Writer]:
        """One write transaction; committed on normal exit, rolled back on an exception.

        Raises:
            BackendUnavailable: if the database stays locked or unreachable.
        """
