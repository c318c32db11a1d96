"""The permission vocabulary shared by both protocols.

Principals (who):

- ``system.Everyone``: any caller, authenticated or not.
- ``system.Authenticated``: any authenticated user of the app.
- ``user:<id>``: one user (Kinto renders it as ``account:<id>``).
- ``group:<id>``: members of a group (Kinto's group URIs map to ``group:/buckets/<b>/groups/<g>``).
- ``role:<id>``: users holding a role.

Grants (what): each object stores ``(permission, principal)`` rows in the ``grants`` table. Kinvey's
``_acl`` and Kinto's ``permissions`` both compile to them, so list and count queries filter by
permission in SQL (:class:`~kinbase.storage.base.AclFilter`). The master secret bypasses every check.

Permission names used in grants: ``read``, ``write`` (update and delete), ``update``, ``delete``, and
Kinto's ``<resource>:create`` names. ``write`` implies ``read``, ``update`` and ``delete``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kinbase.types import Principal

__all__ = [
    "AUTHENTICATED",
    "EVERYONE",
    "IMPLIED_BY",
    "Principals",
    "group_principal",
    "role_principal",
    "user_principal",
]

EVERYONE: Principal = "system.Everyone"
AUTHENTICATED: Principal = "system.Authenticated"

IMPLIED_BY: dict[str, tuple[str, ...]] = {
    "read": ("read", "write"),
    "update": ("update", "write"),
    "delete": ("delete", "write"),
    "write": ("write",),
}
"""For each permission, the grants that give it (``write`` implies the others)."""


def user_principal(user_id: str) -> Principal:
    return f"user:{user_id}"


def group_principal(group_id: str) -> Principal:
    return f"group:{group_id}"


def role_principal(role_id: str) -> Principal:
    return f"role:{role_id}"


@dataclass(frozen=True, slots=True)
class Principals:
    """Who a request acts as: computed once per request.

    Attributes:
        user_id: the authenticated user, if any.
        principals: every principal of the request, ``system.Everyone`` included.
        is_master: the request used the master secret (every check passes).
    """

    user_id: str | None
    principals: frozenset[Principal]
    is_master: bool = False

    @classmethod
    def anonymous(cls) -> Principals:
        return cls(None, frozenset({EVERYONE}))

    @classmethod
    def master(cls) -> Principals:
        return cls(None, frozenset({EVERYONE}), is_master=True)

    @classmethod
    def for_user(cls, user_id: str, groups: Iterable[str] = (), roles: Iterable[str] = ()) -> Principals:
        members = {EVERYONE, AUTHENTICATED, user_principal(user_id)}
        members.update(group_principal(g) for g in groups)
        members.update(role_principal(r) for r in roles)
        return cls(user_id, frozenset(members))

    def holds(self, permission: str, grants: Iterable[tuple[str, str]]) -> bool:
        """Whether some grant gives ``permission`` to one of these principals."""
        if self.is_master:
            return True
        accepted = IMPLIED_BY.get(permission, (permission,))
        return any(perm in accepted and principal in self.principals for perm, principal in grants)

    def sorted(self) -> tuple[Principal, ...]:
        return tuple(sorted(self.principals))
