"""The structure version of an app and the principals of a Kinto request.

The structure version is the stamp of the ``kinto.meta``/``structure`` parent, which every change
of a bucket, collection, group or account bumps in its own transaction. Each request reads it once
(one point read); caches keyed by it (group principals here, objects and verified credentials in
the store and the authenticator) are therefore never stale, on any worker of any machine.

A group's members are ``member`` grants on the group object, so "which groups is this user in"
is one indexed read of the grants table, run only after a structure change.
"""

from __future__ import annotations

from kinbase.core.kinto.model import KINDS, MEMBER, META_KIND, STRUCTURE
from kinbase.core.kinto.store import KintoStore
from kinbase.core.permissions import AUTHENTICATED, EVERYONE
from kinbase.storage.base import NewVersion, Reader, WriteContext, Writer
from kinbase.types import Principal, Stamp

__all__ = ["ANONYMOUS", "Membership"]

_MAX_CACHED = 20_000
ANONYMOUS = frozenset({EVERYONE})


class Membership:
    """The structure version and the request principals."""

    def __init__(self, store: KintoStore) -> None:
        self._store = store
        self._cache: dict[tuple[int, Principal], tuple[Stamp, frozenset[Principal]]] = {}

    async def version(self, reader: Reader, app_id: int) -> Stamp:
        """The app's structure version (0 before its first structure change)."""
        parent = await self._store.parent(reader, app_id, META_KIND, STRUCTURE, fresh=True)
        return parent.stamp if parent is not None else 0

    async def principals(
        self, reader: Reader, app_id: int, user: Principal | None, version: Stamp
    ) -> frozenset[Principal]:
        """``system.Everyone``, and for a user ``system.Authenticated``, the user and its groups."""
        if user is None:
            return ANONYMOUS
        cached = self._cache.get((app_id, user))
        if cached is not None and cached[0] == version:
            return cached[1]
        rows = await reader.find_granted(app_id, [KINDS["group"]], [user, AUTHENTICATED])
        groups = {
            f"group:/buckets/{parent.name}/groups/{obj.id}" for parent, obj, perms in rows if MEMBER in perms
        }
        result = frozenset({EVERYONE, AUTHENTICATED, user, *groups})
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[(app_id, user)] = (version, result)
        return result

    async def changed(self, writer: Writer, app_id: int) -> None:
        """Bump the structure version in the current transaction."""
        parent = await self._store.ensure_parent(writer, app_id, META_KIND, STRUCTURE)

        def build(wc: WriteContext) -> NewVersion:
            return NewVersion(data={"last_modified": wc.stamp})

        await writer.put(parent, "version", build)
