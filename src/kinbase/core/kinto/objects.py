"""The engine of Kinto's object endpoints: GET, PUT, PATCH, DELETE on one object and POST on a
plural endpoint, for every resource. Resource differences live in :class:`~.hooks.Hooks`.

Every write runs in one transaction: the ancestors are read, the object's parent is locked (so
writers of one parent serialise and never reuse a stamp), the current object is read, then the
permission, the parents' existence and the preconditions are checked in Kinto's order before
anything is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kinbase.core.kinto.acl import Acl, allowed, render_acl
from kinbase.core.kinto.context import KintoContext, reading, writing
from kinbase.core.kinto.errors import InvalidParameter, MissingObject, MissingParent, ObjectChanged
from kinbase.core.kinto.history import History
from kinbase.core.kinto.hooks import Change, Hooks
from kinbase.core.kinto.model import PERMISSIONS, Resource, Target, from_kinto, to_kinto
from kinbase.core.kinto.patch import apply_json_patch, merge_patch
from kinbase.core.kinto.store import KintoStore, Loaded, tombstone_json
from kinbase.errors import BaaSError, NotAuthenticated, PermissionDenied
from kinbase.jsonutil import dumps_str, loads
from kinbase.storage.base import NewVersion, ParentRecord, StorageBackend, WriteContext, Writer
from kinbase.storage.exceptions import StampConflict
from kinbase.types import Document, Principal, Stamp

__all__ = [
    "Body",
    "Conditions",
    "KintoObjects",
    "ObjectResult",
    "Patch",
    "Watcher",
    "chain_of",
    "check_parents",
    "create_permission",
    "deny",
]

Precondition = Stamp | Literal["*"] | None
Watcher = Callable[[KintoContext, Writer, Change], Awaitable[None]]
"""Told of every change inside its transaction, after the resource's hooks (it may raise to abort)."""


@dataclass(frozen=True, slots=True)
class Body:
    """The ``data`` and ``permissions`` of a request body (None when absent)."""

    data: Document | None = None
    permissions: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Conditions:
    """``If-Match`` / ``If-None-Match``: a timestamp, ``*`` or nothing."""

    if_match: Precondition = None
    if_none_match: Precondition = None


@dataclass(frozen=True, slots=True)
class Patch:
    """A PATCH: ``json`` (shallow merge), ``merge`` (RFC 7396) or ``json-patch`` (RFC 6902)."""

    kind: Literal["json", "merge", "json-patch"]
    body: Body
    ops: Any = None
    behavior: Literal["full", "light", "diff"] = "full"


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """An object as a response shows it: its data as JSON text, its stamp and its permissions."""

    data: str
    stamp: Stamp
    permissions: dict[str, list[str]] | None
    created: bool = False
    cache_expires: int | None = None
    """For anonymous reads of records: the collection's ``cache_expires`` (seconds)."""


def cache_expires(ctx: KintoContext, target: Target, ancestors: Mapping[str, Loaded]) -> int | None:
    """How long an anonymous read of records may be cached: the collection's ``cache_expires``,
    else the ``cache_expires_seconds`` setting (None: no caching)."""
    if ctx.authenticated or target.resource != "record":
        return None
    collection = ancestors.get("collection")
    if collection is not None and collection.obj is not None:
        value = collection.document().get("cache_expires")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return ctx.config.cache_expires_seconds if ctx.config.cache_expires_seconds >= 0 else None


def deny(ctx: KintoContext) -> BaaSError:
    """401 for an anonymous caller, 403 for an authenticated one."""
    if ctx.authenticated:
        return PermissionDenied("This user cannot access this resource.")
    return NotAuthenticated("Please authenticate yourself to use this endpoint.")


def create_permission(resource: Resource) -> tuple[Resource, str]:
    """The (resource, permission) pair that allows creating an object of ``resource``."""
    table: dict[Resource, tuple[Resource, str]] = {
        "bucket": ("bucket", "create"),
        "collection": ("bucket", "collection:create"),
        "group": ("bucket", "group:create"),
        "record": ("collection", "record:create"),
        "account": ("account", "create"),
        "history": ("history", "write"),
    }
    return table[resource]


def chain_of(ancestors: Mapping[str, Loaded], own: Loaded | None = None, level: str = "") -> dict[str, Acl]:
    chain = {lvl: loaded.acl for lvl, loaded in ancestors.items()}
    if own is not None:
        chain[level] = own.acl
    return chain


def check_parents(target: Target, ancestors: Mapping[str, Loaded]) -> None:
    """Raise MissingParent for the first ancestor that does not exist."""
    bucket = ancestors.get("bucket")
    if bucket is not None and not bucket.exists:
        raise MissingParent("bucket", target.bucket)
    collection = ancestors.get("collection")
    if collection is not None and not collection.exists:
        raise MissingParent("collection", target.collection)


def check_conditions(own: Loaded, cond: Conditions) -> None:
    """Raise ObjectChanged when If-Match / If-None-Match fail on a write."""
    stamp = own.obj.stamp if own.obj is not None else None
    if cond.if_match is not None and (stamp is None or (cond.if_match != "*" and cond.if_match != stamp)):
        raise ObjectChanged(own.obj.data if own.obj is not None else None, stamp)
    if cond.if_none_match == "*" and own.obj is not None:
        raise ObjectChanged(own.obj.data, stamp)


def parse_acl(resource: Resource, permissions: Any) -> dict[str, set[Principal]]:
    """Validate a ``permissions`` body member and turn it into an ACL (shared vocabulary).

    Raises:
        InvalidParameter: an unknown permission name or a principal list that is not strings.
    """
    if not isinstance(permissions, Mapping):
        raise InvalidParameter("body", "permissions", "Must be an object")
    known = PERMISSIONS[resource]
    acl: dict[str, set[Principal]] = {}
    for name, principals in permissions.items():
        if name not in known:
            raise InvalidParameter("body", "permissions", f'"{name}" is not one of {", ".join(known)}')
        if principals is None:
            continue
        if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
            raise InvalidParameter("body", f"permissions.{name}", "Must be a list of principals")
        acl[name] = {from_kinto(p) for p in principals}
    return acl


def _copy_acl(acl: Acl) -> dict[str, set[Principal]]:
    return {perm: set(ps) for perm, ps in acl.items()}


class KintoObjects:
    """Single-object operations on every Kinto resource."""

    def __init__(
        self, storage: StorageBackend, store: KintoStore, history: History, hooks: Mapping[Resource, Hooks]
    ) -> None:
        self.storage = storage
        self.store = store
        self.history = history
        self.hooks = hooks
        self.watchers: list[Watcher] = []

    async def _changed(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        await self.hooks[change.target.resource].after_write(ctx, writer, change)
        for watch in self.watchers:
            await watch(ctx, writer, change)
        await self.history.record(ctx, writer, change)

    # -- helpers -------------------------------------------------------------------------------
    async def _lock(
        self, ctx: KintoContext, writer: Writer, target: Target, ancestors: Mapping[str, Loaded]
    ) -> ParentRecord | None:
        if any(not a.exists for a in ancestors.values()):
            return None
        return await self.store.ensure_parent(writer, ctx.app.id, target.kind, target.parent_name)

    def _authorize(self, ctx: KintoContext, resource: Resource, perm: str, chain: Mapping[str, Acl]) -> None:
        if not allowed(ctx.config, ctx.principals, resource, perm, chain):
            raise deny(ctx)

    async def store_object(
        self,
        ctx: KintoContext,
        writer: Writer,
        parent: ParentRecord,
        target: Target,
        data: Document,
        acl: dict[str, set[Principal]],
        ancestors: Mapping[str, Loaded],
        requested: Stamp | None = None,
        *,
        new: bool = False,
    ) -> tuple[ObjectResult, Document]:
        """Write the object (id and last_modified embedded), run the hooks and the history."""
        assert target.id is not None
        hooks = self.hooks[target.resource]
        if ctx.config.explicit_permissions and ctx.user_principal is not None:
            acl.setdefault("write", set()).add(ctx.user_principal)
        hooks.adjust_acl(ctx, target, acl)
        acl = {perm: ps for perm, ps in acl.items() if ps}
        grants = [(perm, p) for perm, ps in acl.items() for p in ps] + hooks.extra_grants(data)
        body = {k: v for k, v in data.items() if k not in ("id", "last_modified")}
        built: list[Document] = []
        object_id = target.id

        def build(wc: WriteContext) -> NewVersion:
            doc: Document = {**body, "id": object_id, "last_modified": wc.stamp}
            built.append(doc)
            return NewVersion(data=doc, creator=ctx.user_id, grants=grants)

        result = await writer.put(parent, object_id, build, requested_stamp=requested, new=new)
        frozen = {perm: frozenset(ps) for perm, ps in acl.items()}
        change = Change(
            target,
            "create" if result.created else "update",
            result.object,
            built[0],
            frozen,
            dict(ancestors),
            previous=result.previous,
        )
        await self._changed(ctx, writer, change)
        return ObjectResult(
            result.object.data, result.object.stamp, render_acl(frozen), result.created
        ), built[0]

    # -- GET ------------------------------------------------------------------------------------
    async def get(self, ctx: KintoContext, target: Target) -> ObjectResult:
        assert target.id is not None
        self.hooks[target.resource].check_id(target.id)
        async with reading(self.storage, ctx) as reader:
            ancestors = await self.store.ancestors(reader, ctx.app.id, target, ctx.cached)
            own = await self.store.load(reader, ctx.app.id, target, ctx.cached)
        perm = "read:attributes" if target.resource in ("bucket", "collection") else "read"
        self._authorize(ctx, target.resource, perm, chain_of(ancestors, own, target.resource))
        check_parents(target, ancestors)
        if own.obj is None:
            raise MissingObject(target.resource, target.id)
        expires = cache_expires(ctx, target, ancestors)
        return ObjectResult(own.obj.data, own.obj.stamp, render_acl(own.acl), cache_expires=expires)

    # -- PUT ------------------------------------------------------------------------------------
    async def put(self, ctx: KintoContext, target: Target, body: Body, cond: Conditions) -> ObjectResult:
        assert target.id is not None
        hooks = self.hooks[target.resource]
        hooks.check_id(target.id)
        async with writing(self.storage, ctx) as writer:
            ancestors = await self.store.ancestors(writer, ctx.app.id, target, ctx.cached)
            parent = await self._lock(ctx, writer, target, ancestors)
            own = (
                await self.store.load(writer, ctx.app.id, target) if parent is not None else Loaded(None, {})
            )
            if own.obj is None or cond.if_none_match == "*":
                resource, perm = create_permission(target.resource)
                self._authorize(ctx, resource, perm, chain_of(ancestors))
            else:
                self._authorize(ctx, target.resource, "write", chain_of(ancestors, own, target.resource))
            check_parents(target, ancestors)
            assert parent is not None
            check_conditions(own, cond)
            if body.data is not None and "id" in body.data and body.data["id"] != target.id:
                raise InvalidParameter("body", "data.id", "Object id does not match existing object")
            data = dict(body.data) if body.data is not None else own.document() if own.exists else {}
            acl = (
                parse_acl(target.resource, body.permissions)
                if body.permissions is not None
                else _copy_acl(own.acl)
            )
            data = await hooks.prepare(ctx, writer, target, data, own.obj, ancestors)
            result, _ = await self.store_object(
                ctx, writer, parent, target, data, acl, ancestors, _requested(body.data)
            )
            return result

    async def _existing(
        self, ctx: KintoContext, writer: Writer, target: Target, cond: Conditions
    ) -> tuple[dict[str, Loaded], ParentRecord, Loaded]:
        """The object a PATCH or DELETE changes, under its parent's lock: its ancestors, its parent
        and itself, once the caller may write it and its preconditions hold.

        Raises:
            the Kinto error for a missing parent or object, a refusal, or a failed precondition.
        """
        assert target.id is not None
        ancestors = await self.store.ancestors(writer, ctx.app.id, target, ctx.cached)
        parent = await self._lock(ctx, writer, target, ancestors)
        own = await self.store.load(writer, ctx.app.id, target) if parent is not None else Loaded(None, {})
        if own.obj is None:
            self._authorize(ctx, target.resource, "read", chain_of(ancestors))
        else:
            self._authorize(ctx, target.resource, "write", chain_of(ancestors, own, target.resource))
        check_parents(target, ancestors)
        if own.obj is None:
            raise MissingObject(target.resource, target.id)
        assert parent is not None
        check_conditions(own, cond)
        return ancestors, parent, own

    # -- PATCH ----------------------------------------------------------------------------------
    async def patch(self, ctx: KintoContext, target: Target, patch: Patch, cond: Conditions) -> ObjectResult:
        assert target.id is not None
        hooks = self.hooks[target.resource]
        hooks.check_id(target.id)
        if patch.kind != "json-patch" and patch.body.data is None and patch.body.permissions is None:
            raise InvalidParameter("body", "data", "Provide at least one of data or permissions")
        async with writing(self.storage, ctx) as writer:
            ancestors, parent, own = await self._existing(ctx, writer, target, cond)
            current = own.document()
            data, acl, changes = _apply_patch(target.resource, patch, current, own.acl)
            if "id" in data and data["id"] != target.id:
                raise InvalidParameter("body", "data.id", "Object id does not match existing object")
            data = await hooks.prepare(ctx, writer, target, data, own.obj, ancestors)
            requested = _requested(patch.body.data) if patch.kind != "json-patch" else None
            result, stored = await self.store_object(
                ctx, writer, parent, target, data, acl, ancestors, requested
            )
        if patch.behavior == "full" or changes is None:
            return result
        if patch.behavior == "light":
            shown = {k: stored[k] for k in changes if k in stored}
        else:
            shown = {k: stored[k] for k in changes if k in stored and changes[k] != stored[k]}
        return ObjectResult(dumps_str(shown), result.stamp, result.permissions, False)

    # -- DELETE ---------------------------------------------------------------------------------
    async def delete(
        self, ctx: KintoContext, target: Target, cond: Conditions, requested: Stamp | None = None
    ) -> ObjectResult:
        assert target.id is not None
        hooks = self.hooks[target.resource]
        hooks.check_id(target.id)
        async with writing(self.storage, ctx) as writer:
            ancestors, parent, own = await self._existing(ctx, writer, target, cond)
            return await self.remove(ctx, writer, parent, target, own, ancestors, requested)

    async def remove(
        self,
        ctx: KintoContext,
        writer: Writer,
        parent: ParentRecord,
        target: Target,
        own: Loaded,
        ancestors: Mapping[str, Loaded],
        requested: Stamp | None = None,
    ) -> ObjectResult:
        """Tombstone an object (already authorized) and run the hooks and the history."""
        assert target.id is not None
        pair = await writer.delete(parent, target.id, requested_stamp=requested)
        assert pair is not None
        tombstone = pair[0]
        text = tombstone_json(target.id, tombstone.stamp)
        change = Change(
            target, "delete", tombstone, loads(text), dict(own.acl), dict(ancestors), previous=pair[1]
        )
        await self._changed(ctx, writer, change)
        return ObjectResult(text, tombstone.stamp, None)

    # -- POST -----------------------------------------------------------------------------------
    async def post(self, ctx: KintoContext, plural: Target, body: Body, cond: Conditions) -> ObjectResult:
        hooks = self.hooks[plural.resource]
        data = dict(body.data or {})
        posted = data.get("id")
        if posted is not None:
            if not isinstance(posted, str):
                raise InvalidParameter("body", "data.id", "Invalid object id")
            hooks.check_id(posted)
            target = plural.with_id(posted)
        else:
            target = plural.with_id(hooks.new_id())
        # a generated UUID (records) cannot exist yet: skip the lookup inside the lock
        fresh = posted is None and target.resource == "record"
        if fresh and ctx.tx is None and not ctx.config.history:
            # optimistic: the record's stamp is predicted and the collection locked only with
            # the commit (Writer.optimistic); on a wrong prediction, once more, locking first.
            # Not with the history on: its entry is a second put, in another parent.
            try:
                return await self._post(ctx, target, data, body, cond, posted, fresh, optimistic=True)
            except StampConflict:
                pass
        return await self._post(ctx, target, data, body, cond, posted, fresh)

    async def _post(
        self,
        ctx: KintoContext,
        target: Target,
        data: Document,
        body: Body,
        cond: Conditions,
        posted: str | None,
        fresh: bool,
        *,
        optimistic: bool = False,
    ) -> ObjectResult:
        hooks = self.hooks[target.resource]
        group = (ctx.app.id, target.kind, target.parent_name) if target.resource == "record" else None
        async with writing(self.storage, ctx, group) as writer:
            writer.optimistic = optimistic
            ancestors = await self.store.ancestors(writer, ctx.app.id, target, ctx.cached)
            parent = None
            if optimistic and writer.puts_ahead and all(a.exists for a in ancestors.values()):
                # the collection as this worker last read it, unread: the put checks its row in
                # its own statement (Writer.puts_ahead); a stale one fails it with StampConflict,
                # and the retry reads and locks it first. A new record's answer is its text.
                writer.needs_oid = False
                parent = self.store.cached_parent(ctx.app.id, target.kind, target.parent_name)
            if parent is None:
                parent = await self._lock(ctx, writer, target, ancestors)
            own = Loaded(None, {})
            if posted is not None and parent is not None:
                own = await self.store.load(writer, ctx.app.id, target)
            if own.obj is not None:
                self._authorize(ctx, target.resource, "read", chain_of(ancestors, own, target.resource))
            else:
                resource, perm = create_permission(target.resource)
                self._authorize(ctx, resource, perm, chain_of(ancestors))
            check_parents(target, ancestors)
            assert parent is not None
            check_conditions(own, cond)
            if own.obj is not None:
                return ObjectResult(own.obj.data, own.obj.stamp, render_acl(own.acl))
            acl = parse_acl(target.resource, body.permissions) if body.permissions is not None else {}
            data = await hooks.prepare(ctx, writer, target, data, None, ancestors)
            result, _ = await self.store_object(
                ctx, writer, parent, target, data, acl, ancestors, _requested(body.data), new=fresh
            )
            return result


def _requested(data: Mapping[str, Any] | None) -> Stamp | None:
    value = data.get("last_modified") if data is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _apply_patch(
    resource: Resource, patch: Patch, current: Document, acl: Acl
) -> tuple[Document, dict[str, set[Principal]], dict[str, Any] | None]:
    """The patched data and ACL, and the changes the client asked for (for Response-Behavior)."""
    new_acl = _copy_acl(acl)
    if patch.kind == "json-patch":
        kinto_acl = {perm: sorted(to_kinto(p) for p in ps) for perm, ps in acl.items()}
        kinto_acl.setdefault("read", [])
        kinto_acl.setdefault("write", [])
        result = apply_json_patch({"data": current, "permissions": kinto_acl}, patch.ops)
        data = result.get("data")
        if not isinstance(data, dict):
            raise InvalidParameter("body", "data", "JSON Patch operation failed: data must be an object")
        new_acl = parse_acl(resource, result.get("permissions") or {})
        return data, new_acl, None
    changes = patch.body.data or {}
    if patch.kind == "merge":
        data = merge_patch(current, changes)
        if patch.body.permissions is not None:
            kinto_acl = {perm: sorted(to_kinto(p) for p in ps) for perm, ps in acl.items()}
            merged = merge_patch(kinto_acl, patch.body.permissions)
            new_acl = parse_acl(resource, merged)
    else:
        data = {**current, **changes}
        if patch.body.permissions is not None:
            new_acl.update(parse_acl(resource, patch.body.permissions))
    return data, new_acl, dict(changes)
