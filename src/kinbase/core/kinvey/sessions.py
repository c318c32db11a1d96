"""User sessions: opaque random tokens, stored hashed, with expiry and revocation.

A token is 32 random bytes (URL-safe base64). Only its SHA-256 is stored, as the id of an object
of the private parent ``kinvey.sessions``; a stolen database does not yield usable tokens. Each
session carries an ``owner`` grant for its user, so "revoke every session of a user" is one
delete filtered by the database. Resolving a token is one indexed read on every request (no
cache), so a logout or a revocation is effective at once in every worker.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.permissions import user_principal
from kinbase.query.ast import Query
from kinbase.storage.base import AclFilter, AppRecord, FindOptions, NewVersion, StorageBackend, Writer
from kinbase.storage.stamps import now_ms

__all__ = ["SESSIONS", "Session", "SessionService"]

SESSIONS = "kinvey.sessions"
DEFAULT_TTL_SECONDS = 90 * 86400


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    expires: int


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionService:
    def __init__(self, storage: StorageBackend) -> None:
        self._storage = storage

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
        async with self._storage.reader() as reader:
            found = await reader.get_child(app.id, SESSIONS, "", token_id(token))
        if found is None:
            return None
        data = orjson.loads(found.data)
        if int(data.get("expires", 0)) <= now_ms():
            return None
        return Session(str(data["user"]), int(data["expires"]))

    async def close(self, app: AppRecord, token: str) -> bool:
        """Revoke one session."""
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, SESSIONS, "")
            return parent is not None and await writer.delete(parent, token_id(token)) is not None

    async def close_all(
        self, writer: Writer, app: AppRecord, user_id: str, *, keep: str | None = None
    ) -> int:
        """Revoke every session of ``user_id`` inside ``writer``'s transaction, except the session
        of the token ``keep`` (the one that changed the password)."""
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
