"""The structure version of an app and the principals of a Kinto request.

The structure version is the stamp of the ``kinto.meta``/``structure`` parent, which every change
of a bucket, collection, group or account bumps in its own transaction. Each request reads it once
(one point read); caches keyed by it (group principals here, objects and verified credentials in
the store and the authenticator) are therefore never stale, on any worker of any machine. Where
the storage has a commit marker (SQLite), the read is skipped while the marker is the one taken
before the last read: nothing was committed since, by any process.

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
        self._seen: dict[int, Stamp] = {}
        self._marked: dict[int, tuple[bytes, Stamp]] = {}
        """The version read last per app, with the commit marker taken before that read."""

    async def version(self, reader: Reader, app_id: int) -> Stamp:
        """The app's structure version (0 before its first structure change)."""
        marker = None
        if not isinstance(reader, Writer):  # a transaction's own bump moves no marker
            marker = self._store.storage.commit_marker()
            if marker is not None:
                marked = self._marked.get(app_id)
                if marked is not None and marked[0] == marker:
                    return self.saw(app_id, marked[1])
        parent = await self._store.parent(reader, app_id, META_KIND, STRUCTURE, fresh=True)
        version = parent.stamp if parent is not None else 0
        if marker is not None:
            if len(self._marked) >= _MAX_CACHED and app_id not in self._marked:
                self._marked.clear()
            self._marked[app_id] = (marker, version)
        self.saw(app_id, version)
        return version

    def watch(self, app_id: int) -> tuple[int, str, str]:
        """The parent whose stamp is the app's structure version (``Reader.find_joined``'s
        ``watch``)."""
        return (app_id, META_KIND, STRUCTURE)

    def saw(self, app_id: int, version: Stamp | None) -> Stamp:
        """Remember the version a statement read (None: no structure parent yet, version 0)."""
        seen = version or 0
        if len(self._seen) >= _MAX_CACHED and app_id not in self._seen:
            self._seen.clear()
        self._seen[app_id] = seen
        return seen

    def last_seen(self, app_id: int) -> Stamp | None:
        """The version this worker read last for the app (None: never read), to presume."""
        return self._seen.get(app_id)

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
