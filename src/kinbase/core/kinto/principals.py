"""The structure version of an app and the principals of a Kinto request.

The structure version is the stamp of the ``kinto.meta``/``structure`` parent, which every change
of a bucket, collection, group or account bumps in its own transaction. Each request reads it once
(one point read); caches keyed by it (group principals here, objects and verified credentials in
the store and the authenticator) are therefore never stale, on any worker of any machine. The
read is skipped when its answer is known not to have moved:

- where the storage has a commit marker (SQLite), while the marker is the one taken before the
  last read: nothing was committed since, by any process;
- elsewhere (PostgreSQL), while the invalidation feed is up and no change of the app's structure
  was heard since the last read: every transaction that bumps the version publishes
  :data:`STRUCTURE_TOPIC` once it committed, and the feed returns only when every listening
  process has dropped its copy (:mod:`kinbase.core.invalidation`), before the change is
  acknowledged.

A group's members are ``member`` grants on the group object, so "which groups is this user in"
is one indexed read of the grants table, run only after a structure change.
"""

from __future__ import annotations

from kinbase.core.apps import APPS
from kinbase.core.invalidation import ALL, Invalidations
from kinbase.core.kinto.context import after_commit
from kinbase.core.kinto.model import KINDS, MEMBER, META_KIND, STRUCTURE
from kinbase.core.kinto.store import KintoStore
from kinbase.core.permissions import AUTHENTICATED, EVERYONE
from kinbase.storage.base import NewVersion, Reader, WriteContext, Writer
from kinbase.types import Principal, Stamp

__all__ = ["ANONYMOUS", "STRUCTURE_TOPIC", "Membership"]

STRUCTURE_TOPIC = "kinto-structure"
"""The invalidation topic of an app's Kinto structure version (key: the app id)."""

_MAX_CACHED = 20_000
ANONYMOUS = frozenset({EVERYONE})


class Membership:
    """The structure version and the request principals."""

    def __init__(self, store: KintoStore, invalidations: Invalidations | None = None) -> None:
        self._store = store
        self._cache: dict[tuple[int, Principal], tuple[Stamp, frozenset[Principal]]] = {}
        self._seen: dict[int, Stamp] = {}
        self._marked: dict[int, tuple[bytes, Stamp]] = {}
        """The version read last per app, with the commit marker taken before that read."""
        self._invalidations = invalidations if invalidations is not None and invalidations.pushed else None
        """The feed through which versions are trusted, where it is pushed (see the module)."""
        self._heard: dict[int, Stamp] = {}
        """The version read last per app, trusted while the feed is up and nothing was heard."""
        self._messages = 0
        """Bumped by every message heard: a version read before one is not trusted."""
        if invalidations is not None:
            invalidations.on(STRUCTURE_TOPIC, self._dropped)
            invalidations.on(APPS, lambda key: self._dropped(ALL))  # a deleted app's id

    def _dropped(self, key: str) -> None:
        self._messages += 1
        if key == ALL or not key.isdigit():
            self._heard.clear()
        else:
            self._heard.pop(int(key), None)

    async def trusted(self, app_id: int) -> Stamp | None:
        """The app's structure version if it is known without a read (the feed's way: see the
        module), else None."""
        invalidations = self._invalidations
        if invalidations is None or self._store.storage.commit_marker() is not None:
            return None
        await invalidations.sync()
        return self._heard.get(app_id) if invalidations.connected else None

    async def version(self, reader: Reader, app_id: int) -> Stamp:
        """The app's structure version (0 before its first structure change)."""
        marker = None
        by_feed = False  # the answer is to be trusted through the feed (read outside a transaction)
        messages = 0
        if not isinstance(reader, Writer):  # a transaction's own bump moves no marker
            marker = self._store.storage.commit_marker()
            if marker is not None:
                marked = self._marked.get(app_id)
                if marked is not None and marked[0] == marker:
                    return self.saw(app_id, marked[1])
            elif self._invalidations is not None:
                trusted = await self.trusted(app_id)
                if trusted is not None:
                    return self.saw(app_id, trusted)
                by_feed, messages = True, self._messages  # after the poll: its messages are in
        parent = await self._store.parent(reader, app_id, META_KIND, STRUCTURE, fresh=True)
        version = parent.stamp if parent is not None else 0
        if marker is not None:
            if len(self._marked) >= _MAX_CACHED and app_id not in self._marked:
                self._marked.clear()
            self._marked[app_id] = (marker, version)
        elif (
            by_feed
            and self._invalidations is not None
            and self._invalidations.connected
            and messages == self._messages  # no change heard while the read ran
        ):
            if len(self._heard) >= _MAX_CACHED and app_id not in self._heard:
                self._heard.clear()
            self._heard[app_id] = version
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
        """Bump the structure version in the current transaction (of
        :func:`~kinbase.core.kinto.context.transaction`), and publish it once it committed."""
        self.publish_on_commit(app_id)
        parent = await self._store.ensure_parent(writer, app_id, META_KIND, STRUCTURE)

        def build(wc: WriteContext) -> NewVersion:
            return NewVersion(data={"last_modified": wc.stamp})

        await writer.put(parent, "version", build)

    def publish_on_commit(self, app_id: int) -> None:
        """Tell every process that the app's structure version moved, once the current
        transaction committed (where the feed is pushed: the processes without a commit marker
        trust their versions through it)."""
        invalidations = self._invalidations
        if invalidations is None:
            return

        async def publish() -> None:
            await invalidations.publish(STRUCTURE_TOPIC, str(app_id))

        after_commit((STRUCTURE_TOPIC, app_id), publish)  # once per transaction and app
