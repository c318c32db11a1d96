"""The engine of Kinto's plural endpoints: GET (list), HEAD (count) and DELETE.

Permission filtering happens in SQL: when the caller may not read every object of the plural
endpoint through inheritance, the read carries an :class:`~kinbase.storage.base.AclFilter` on the
objects' own grants, so ``_limit``, ``Next-Page`` and ``Total-Objects`` count only what the caller
may see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from kinbase.core.kinto.acl import allowed, holders
from kinbase.core.kinto.context import KintoContext, StaleStructure, reading, writing
from kinbase.core.kinto.model import META_KIND, STRUCTURE, Resource, Target
from kinbase.core.kinto.objects import (
    KintoObjects,
    ObjectResult,
    cache_expires,
    check_parents,
    create_permission,
    deny,
)
from kinbase.core.kinto.store import COLUMNS, KintoStore, Loaded
from kinbase.query.ast import And, Node, Query, SortKey
from kinbase.storage.base import (
    RECORD_SEPARATOR,
    AclFilter,
    FindOptions,
    ParentRecord,
    Reader,
    StorageBackend,
)
from kinbase.storage.stamps import now_ms
from kinbase.types import Stamp

__all__ = ["COLUMNS", "KintoListing", "ListResult", "Listing"]


@dataclass(frozen=True, slots=True)
class Listing:
    """What a plural request selects.

    Attributes:
        filter: the querystring filters.
        sort: the order (the front-end appends ``-last_modified``).
        limit: the page size (already capped), None for no limit.
        after: the keyset condition of a page token.
        since, before: ``_since`` / ``_before`` bounds on ``last_modified``.
        include_deleted: list tombstones (any filter on ``last_modified``).
    """

    filter: Node | None = None
    sort: tuple[SortKey, ...] = ()
    limit: int | None = None
    after: Node | None = None
    since: Stamp | None = None
    before: Stamp | None = None
    include_deleted: bool = False

    def query(self, *, extra: int = 0) -> Query:
        nodes = tuple(n for n in (self.filter, self.after) if n is not None)
        node = nodes[0] if len(nodes) == 1 else And(nodes) if nodes else None
        limit = self.limit + extra if self.limit is not None else None
        return Query(filter=node, sort=self.sort, limit=limit)

    def options(self, acl: AclFilter | None, *, deleted: bool | None = None) -> FindOptions:
        return FindOptions(
            acl=acl,
            include_deleted=self.include_deleted if deleted is None else deleted,
            since=self.since,
            before=self.before,
            columns=COLUMNS,
        )


JOINED_FROM = 100
"""A page that may hold more objects than this (``_since`` syncs, pages without ``_limit``) is read
joined by the database with commas when the caller splices it whole
(:meth:`~kinbase.storage.base.Reader.find_joined`: one value instead of a row per object), and read
again row by row only when it is full (its ``Next-Page`` needs the last object). Smaller pages are
joined with :data:`~kinbase.storage.base.RECORD_SEPARATOR` and split again (a full one is their
common case: its last object is at hand). Either way the page's statement reads the parent's
stamp too, so a page starts from the cached parent: one statement."""


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page: the objects' JSON texts (see :meth:`~kinbase.storage.base.Reader.find_texts`;
    tombstones ``{"deleted":true,"id":…,"last_modified":…}``), the plural's stamp, whether more
    follow. ``joined``: the same texts joined with ``,`` by the database (``texts`` is then
    empty), when the caller asked for it and the page is not full."""

    texts: list[str]
    stamp: Stamp
    more: bool
    cache_expires: int | None = None
    joined: str | None = None


@dataclass(frozen=True, slots=True)
class _Scope:
    parent: ParentRecord | None
    acl: AclFilter | None
    can_create: bool
    ancestors: Mapping[str, Loaded]


def _own_perms(resource: Resource, perm: str) -> tuple[str, ...]:
    if resource == "history":
        return ("read",)
    return holders(resource, perm, resource)


class KintoListing:
    """Plural reads and deletes."""

    def __init__(self, storage: StorageBackend, store: KintoStore, objects: KintoObjects) -> None:
        self.storage = storage
        self.store = store
        self.objects = objects

    async def _scope(
        self, ctx: KintoContext, reader: Reader, plural: Target, perm: str, *, fresh: bool = True
    ) -> _Scope:
        ancestors = await self.store.ancestors(reader, ctx.app.id, plural, ctx.cached)
        chain = {lvl: a.acl for lvl, a in ancestors.items()}
        full = allowed(ctx.config, ctx.principals, plural.resource, perm, chain)
        resource, create = create_permission(plural.resource)
        can_create = allowed(ctx.config, ctx.principals, resource, create, chain)
        if any(not a.exists for a in ancestors.values()):
            if not full and not can_create:
                raise deny(ctx)
            check_parents(plural, ancestors)
        acl = None
        if not full:
            acl = AclFilter(_own_perms(plural.resource, perm), tuple(sorted(ctx.principals)))
        parent = await self.store.parent(reader, ctx.app.id, plural.kind, plural.parent_name, fresh=fresh)
        return _Scope(parent, acl, can_create, ancestors)

    async def _confirm(self, ctx: KintoContext, reader: Reader) -> None:
        """Read the structure version ``ctx`` presumed; :class:`StaleStructure` if it moved."""
        found = await self.store.parent(reader, ctx.app.id, META_KIND, STRUCTURE, fresh=True)
        if (found.stamp if found is not None else 0) != ctx.version:
            raise StaleStructure

    async def _initialised(self, ctx: KintoContext, plural: Target) -> ParentRecord:
        """A never-written plural endpoint gets its timestamp on first access, as in Kinto."""
        async with writing(self.storage, ctx) as writer:
            return await self.store.ensure_parent(writer, ctx.app.id, plural.kind, plural.parent_name)

    async def _check_shared(self, ctx: KintoContext, reader: Reader, scope: _Scope) -> None:
        """Without read on the parent, nothing shared and no create permission: 401/403."""
        if scope.can_create or scope.parent is None or scope.acl is None:
            if scope.parent is None and not scope.can_create and scope.acl is not None:
                raise deny(ctx)
            return
        shared = await reader.find(scope.parent, Query(limit=1), FindOptions(acl=scope.acl, columns=COLUMNS))
        if not shared:
            raise deny(ctx)

    async def page(
        self,
        ctx: KintoContext,
        plural: Target,
        listing: Listing,
        *,
        perm: str = "read",
        joined: bool = False,
    ) -> ListResult:
        """A page of the plural endpoint; ``joined``: the caller splices the texts whole, so a
        long page may come back as :attr:`ListResult.joined`."""
        long_page = joined and (listing.limit is None or listing.limit > JOINED_FROM)
        found: list[str] = []
        body: str | None = None
        stamp: Stamp | None = None
        # A long page is joined by the database (one value); a short one too, with a separator
        # its texts are split at again (the Next-Page token of a full page needs the last one).
        separator = "," if long_page else RECORD_SEPARATOR
        async with reading(self.storage, ctx) as reader:
            # The page starts from the cached parent: its statement reads the parent's stamp too
            # (one statement fewer), and tells when the parent is not the cached one.
            scope = await self._scope(ctx, reader, plural, perm, fresh=False)
            parent = scope.parent
            query, options = listing.query(extra=1), listing.options(scope.acl)
            if ctx.presumed and parent is None:
                await self._confirm(ctx, reader)
            if parent is not None:
                # with a presumed structure version, the page's statement reads it too
                watch = (ctx.app.id, META_KIND, STRUCTURE) if ctx.presumed else None
                count, text, stamp, version = await reader.find_joined(
                    parent, query, options, separator=separator, watch=watch
                )
                if watch is not None and (version or 0) != ctx.version:
                    raise StaleStructure
                if stamp is None:  # deleted, recreated or changed since cached: read it again
                    parent = await self.store.parent(
                        reader, ctx.app.id, plural.kind, plural.parent_name, fresh=True
                    )
                    scope = replace(scope, parent=parent)
                    if parent is not None:
                        count, text, stamp, _ = await reader.find_joined(
                            parent, query, options, separator=separator
                        )
                if parent is not None:
                    if not long_page:
                        found = text.split(RECORD_SEPARATOR) if count else []
                    elif listing.limit is None or count <= listing.limit:
                        body = text
                    else:  # full: the Next-Page token needs the last object
                        found = await reader.find_texts(parent, query, options)
            if parent is None or (not (found or body) and listing.after is None):
                await self._check_shared(ctx, reader, scope)
        if parent is None:
            parent = await self._initialised(ctx, plural)
        more = listing.limit is not None and len(found) > listing.limit
        expires = cache_expires(ctx, plural, scope.ancestors)
        page = found[: listing.limit] if more else found
        return ListResult(page, parent.stamp if stamp is None else stamp, more, expires, body)

    async def count(self, ctx: KintoContext, plural: Target, listing: Listing) -> tuple[int, Stamp]:
        """``Total-Objects`` and the plural's stamp."""
        async with reading(self.storage, ctx) as reader:
            scope = await self._scope(ctx, reader, plural, "read")
            parent = scope.parent
            total = 0
            if parent is not None:
                total = await reader.count(parent, Query(filter=listing.filter), listing.options(scope.acl))
                if total == 0:
                    await self._check_shared(ctx, reader, scope)
            else:
                await self._check_shared(ctx, reader, scope)
        if parent is None:
            parent = await self._initialised(ctx, plural)
        return total, parent.stamp

    async def stamp(self, ctx: KintoContext, plural: Target) -> Stamp:
        """The plural's stamp (for If-Match on plural endpoints); the current time when it was
        never written (nothing is created here: the parent may not exist)."""
        async with reading(self.storage, ctx) as reader:
            parent = await self.store.parent(reader, ctx.app.id, plural.kind, plural.parent_name, fresh=True)
        return parent.stamp if parent is not None else now_ms()

    async def delete(
        self, ctx: KintoContext, plural: Target, listing: Listing
    ) -> tuple[list[ObjectResult], bool]:
        """Delete a page of objects (those the caller may write); returns their tombstones."""
        results: list[ObjectResult] = []
        async with writing(self.storage, ctx) as writer:
            scope = await self._scope(ctx, writer, plural, "write")
            if scope.parent is None:
                return [], False
            parent = await self.store.ensure_parent(writer, ctx.app.id, plural.kind, plural.parent_name)
            victims = await writer.find(
                parent, listing.query(extra=1), listing.options(scope.acl, deleted=False)
            )
            if not victims and listing.after is None:
                await self._check_shared(ctx, writer, scope)
            more = listing.limit is not None and len(victims) > listing.limit
            for victim in victims[: listing.limit] if more else victims:
                target = plural.with_id(victim.id)
                own = await self.store.load(writer, ctx.app.id, target)
                if own.obj is None:
                    continue
                results.append(await self.objects.remove(ctx, writer, parent, target, own, scope.ancestors))
        return results, more
