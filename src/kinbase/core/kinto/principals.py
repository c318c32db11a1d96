"""The principals of a Kinto request, with group membership cached per worker.

A group's members are ``member`` grants on the group object, so "which groups is this user in"
is one indexed read of the grants table. The result is cached per (app, user) together with the
stamp of the ``kinto.meta``/``membership`` parent, which every group change bumps in its own
transaction: each request reads that stamp (one point read), so a group change is seen at once by
every worker of every machine, and the membership read runs only after a change.
"""

from __future__ import annotations

from kinbase.core.kinto.model import KINDS, MEMBER, MEMBERSHIP, META_KIND
from kinbase.core.kinto.store import KintoStore
from kinbase.core.permissions import AUTHENTICATED, EVERYONE
from kinbase.storage.base import NewVersion, Reader, WriteContext, Writer
from kinbase.types import Principal, Stamp

__all__ = ["ANONYMOUS", "Membership"]

_MAX_CACHED = 20_000
ANONYMOUS = frozenset({EVERYONE})


class Membership:
    """Computes request principals and invalidates them on group changes."""

    def __init__(self, store: KintoStore) -> None:
        self._store = store
        self._cache: dict[tuple[int, Principal], tuple[Stamp, frozenset[Principal]]] = {}

    async def principals(self, reader: Reader, app_id: int, user: Principal | None) -> frozenset[Principal]:
        """``system.Everyone``, and for a user ``system.Authenticated``, the user and its groups."""
        if user is None:
            return ANONYMOUS
        version_parent = await self._store.parent(reader, app_id, META_KIND, MEMBERSHIP, fresh=True)
        version = version_parent.stamp if version_parent is not None else 0
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
        """Record, in the current transaction, that some group changed."""
        parent = await self._store.ensure_parent(writer, app_id, META_KIND, MEMBERSHIP)

        def build(wc: WriteContext) -> NewVersion:
            return NewVersion(data={"last_modified": wc.stamp})

        await writer.put(parent, "version", build)
