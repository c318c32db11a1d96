"""Private records: objects of parents that no API lists or reads (secrets, tokens, links).

Kinvey sessions, MFA authenticators, recovery codes, device tokens and OAuth codes and tokens are
objects of parents of their own kind (``kinvey.sessions``, ``kinvey.mfa_authenticators``,
``kinvey.oauth_tokens``...). No route maps to these kinds, so neither other users nor the master
secret reach them through appdata, user or Kinto reads; only the core services that own them do.
A bearer secret is never stored: its SHA-256 is the object id, so a copy of the database yields
no usable token. Each record carries an ``owner`` grant for the principal it belongs to (a user, an
OAuth token family), so "everything of this owner" is one read or one delete filtered by the
database.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from kinbase.query.ast import Query
from kinbase.storage.base import AclFilter, FindOptions, Reader, StoredObject, Writer

__all__ = ["digest", "fields", "owned", "owner_grants", "revoke_owned"]


def digest(secret: str) -> str:
    """The object id under which a bearer secret is stored (hex SHA-256)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def owner_grants(*principals: str) -> list[tuple[str, str]]:
    """The grants that mark a record as belonging to ``principals``."""
    return [("owner", p) for p in principals]


def _owned_by(principal: str) -> FindOptions:
    return FindOptions(acl=AclFilter(perms=("owner",), principals=(principal,)))


def fields(found: StoredObject) -> dict[str, Any]:
    """The JSON object a record stores."""
    value = orjson.loads(found.data)
    assert isinstance(value, dict)
    return value


async def owned(reader: Reader, app_id: int, kind: str, principal: str) -> list[StoredObject]:
    """The live records of ``kind`` that belong to ``principal``, oldest first."""
    parent = await reader.get_parent(app_id, kind, "")
    if parent is None:
        return []
    return await reader.find(parent, Query(), _owned_by(principal))


async def revoke_owned(writer: Writer, app_id: int, kind: str, principal: str) -> int:
    """Delete every record of ``kind`` that belongs to ``principal``; returns how many."""
    parent = await writer.get_parent(app_id, kind, "")
    if parent is None:
        return 0
    return len(await writer.delete_matching(parent, Query(), _owned_by(principal)))
