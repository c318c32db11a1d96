"""User sessions: opaque random tokens, stored hashed, with expiry and revocation.

A token is 32 random bytes (URL-safe base64). Only its SHA-256 is stored, as the id of an object
of the private parent ``kinvey.sessions``; a stolen database does not yield usable tokens. Each
session carries an ``owner`` grant for its user, so "revoke every session of a user" is one
delete filtered by the database.

Caching: each worker remembers the live sessions it resolved (by app, under the token's SHA-256),
so a request with a known token reads nothing; the expiry is checked on every use. Whatever ends
sessions (:meth:`SessionService.close`, and :meth:`SessionService.close_all` through the user
service: logout, password change or reset, disable, delete, ``_invalidate``) publishes
:data:`SESSIONS` on the invalidation feed (:mod:`kinbase.core.invalidation`) once committed, and
every worker drops the app's sessions before its next request trusts one; so does a change of the
app (:data:`~kinbase.core.apps.APPS`). As a second line (a message lost), an entry is trusted for
at most :data:`TRUST_SECONDS`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.apps import APPS
from kinbase.core.invalidation import ALL, Invalidations
from kinbase.core.permissions import user_principal
from kinbase.query.ast import Query
from kinbase.storage.base import AclFilter, AppRecord, FindOptions, NewVersion, StorageBackend, Writer
from kinbase.storage.stamps import now_ms

__all__ = ["SESSIONS", "Session", "SessionService"]

SESSIONS = "kinvey.sessions"
"""The parent kind of sessions, and the invalidation topic of their cache (key: the app key)."""
DEFAULT_TTL_SECONDS = 90 * 86400
TRUST_SECONDS = 2.0
"""How long a cached session is used before it is read again (if no invalidation came)."""
_MAX_CACHED = 10_000
"""Sessions cached per app (all are dropped when it is reached)."""


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    expires: int


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Cached:
    app_id: int
    session: Session
    until: float


class SessionService:
    def __init__(self, storage: StorageBackend, *, invalidations: Invalidations | None = None) -> None:
        self._storage = storage
        self._cache: dict[str, dict[str, _Cached]] = {}
        self._invalidations = invalidations if invalidations is not None else Invalidations()
        self._invalidations.on(SESSIONS, self._dropped)
        self._invalidations.on(APPS, self._dropped)  # an app deleted or changed: its sessions too

    def _dropped(self, key: str) -> None:
        if key == ALL:
            self._cache.clear()
        else:
            self._cache.pop(key, None)

    async def changed(self, app: AppRecord) -> None:
        """Sessions of ``app`` were closed (committed): every worker drops the app's cached ones."""
        await self._invalidations.publish(SESSIONS, app.key)

    @staticmethod
    def ttl_ms(app: AppRecord) -> int:
        ttl = app.settings.get("session_ttl_seconds")
        return (int(ttl) if isinstance(ttl, int) and ttl > 0 else DEFAULT_TTL_SECONDS) * 1000

    async def open(self, writer: Writer, app: AppRecord, user_id: str) -> str:
        """Create a session for ``user_id`` inside ``writer``'s transaction; returns the token."""
        token = secrets.token_urlsafe(32)
        parent = await writer.ensure_parent(app.id, SESSIONS, "")
        expires = now_ms() + self.ttl_ms(app)
        data: dict[str, Any] = {"user": user_id, "expires": expires}
        await writer.put(
            parent,
            token_id(token),
            lambda ctx: NewVersion(data, creator=user_id, grants=[("owner", user_principal(user_id))]),
        )
        return token

    async def resolve(self, app: AppRecord, token: str) -> Session | None:
        """The live session of ``token``, or None (unknown, revoked or expired)."""
        if not token or len(token) > 512:
            return None
        key = token_id(token)
        await self._invalidations.sync()
        of_app = self._cache.get(app.key)
        cached = of_app.get(key) if of_app is not None else None
        if cached is not None and cached.app_id == app.id and cached.until > time.monotonic():
            return cached.session if cached.session.expires > now_ms() else None
        async with self._storage.reader() as reader:
            found = await reader.get_child(app.id, SESSIONS, "", key)
        if found is None:
            return None
        data = orjson.loads(found.data)
        if int(data.get("expires", 0)) <= now_ms():
            return None
        session = Session(str(data["user"]), int(data["expires"]))
        if of_app is None or len(of_app) >= _MAX_CACHED:
            of_app = self._cache[app.key] = {}
        of_app[key] = _Cached(app.id, session, time.monotonic() + TRUST_SECONDS)
        return session

    async def close(self, app: AppRecord, token: str) -> bool:
        """Revoke one session."""
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, SESSIONS, "")
            closed = parent is not None and await writer.delete(parent, token_id(token)) is not None
        await self.changed(app)
        return closed

    async def close_all(
        self, writer: Writer, app: AppRecord, user_id: str, *, keep: str | None = None
    ) -> int:
        """Revoke every session of ``user_id`` inside ``writer``'s transaction, except the session
        of the token ``keep`` (the one that changed the password). The caller calls
        :meth:`changed` once the transaction committed."""
        parent = await writer.get_parent(app.id, SESSIONS, "")
        if parent is None:
            return 0
        owned = FindOptions(acl=AclFilter(perms=("owner",), principals=(user_principal(user_id),)))
        if keep is None:
            return len(await writer.delete_matching(parent, Query(), owned))
        kept = token_id(keep)
        closed = 0
        for session in await writer.find(parent, Query(), owned):
            if session.id != kept and await writer.delete(parent, session.id) is not None:
                closed += 1
        return closed
