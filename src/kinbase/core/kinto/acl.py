"""Kinto's permission model as data: which grants on which ancestor give a permission.

A check gathers the ACLs of the object and its ancestors (a :data:`Chain`) and asks whether one of
the request's principals holds one of the (level, permission) pairs that :data:`INHERITANCE` lists
for the wanted permission, either through a grant or through the settings
(``bucket_create_principals``, ``account_write_principals``, ``<resource>_<perm>_principals``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.model import MEMBER, Resource, from_kinto, to_kinto
from kinbase.types import Principal

__all__ = ["INHERITANCE", "Acl", "Chain", "acl_of", "allowed", "holders", "render_acl", "settings_grant"]

Acl = Mapping[str, frozenset[Principal]]
"""Permission name -> principals holding it (shared vocabulary)."""

Chain = Mapping[str, Acl]
"""Level (``bucket``, ``collection``, ``group``, ``record``, ``account``) -> its ACL."""

INHERITANCE: dict[tuple[Resource, str], dict[str, tuple[str, ...]]] = {
    ("bucket", "create"): {"root": ("bucket:create",)},
    ("bucket", "write"): {"bucket": ("write",)},
    ("bucket", "read"): {"bucket": ("write", "read")},
    ("bucket", "read:attributes"): {"bucket": ("write", "read", "collection:create", "group:create")},
    ("bucket", "collection:create"): {"bucket": ("write", "collection:create")},
    ("bucket", "group:create"): {"bucket": ("write", "group:create")},
    ("group", "write"): {"bucket": ("write",), "group": ("write",)},
    ("group", "read"): {"bucket": ("write", "read"), "group": ("write", "read")},
    ("collection", "write"): {"bucket": ("write",), "collection": ("write",)},
    ("collection", "read"): {"bucket": ("write", "read"), "collection": ("write", "read")},
    ("collection", "read:attributes"): {
        "bucket": ("write", "read"),
        "collection": ("write", "read", "record:create"),
    },
    ("collection", "record:create"): {"bucket": ("write",), "collection": ("write", "record:create")},
    ("record", "write"): {"bucket": ("write",), "collection": ("write",), "record": ("write",)},
    ("record", "read"): {
        "bucket": ("write", "read"),
        "collection": ("write", "read"),
        "record": ("write", "read"),
    },
    ("history", "read"): {"bucket": ("write", "read")},
    ("history", "write"): {"bucket": ("write",)},
    ("account", "create"): {"root": ("account:create",)},
    ("account", "write"): {"account": ("write",)},
    ("account", "read"): {"account": ("write", "read")},
}

_EMPTY: frozenset[Principal] = frozenset()


@lru_cache(maxsize=256)
def _internal(principals: tuple[str, ...]) -> frozenset[Principal]:
    return frozenset(from_kinto(p) for p in principals)


def _settings(config: KintoConfig, level: str, perm: str) -> frozenset[Principal]:
    if level == "root":
        resource, _, verb = perm.partition(":")
        return _internal(config.settings_principals(resource, verb))
    return _internal(config.settings_principals(level, perm))


def settings_grant(config: KintoConfig, principals: frozenset[Principal], resource: str, perm: str) -> bool:
    """Whether the settings' ``<resource>_<perm>_principals`` hold one of ``principals``."""
    return not principals.isdisjoint(_internal(config.settings_principals(resource, perm)))


def allowed(
    config: KintoConfig, principals: frozenset[Principal], resource: Resource, perm: str, chain: Chain
) -> bool:
    """Whether ``principals`` hold ``perm`` on the object whose ancestry is ``chain``."""
    for level, perms in INHERITANCE[(resource, perm)].items():
        acl = chain.get(level, {})
        for name in perms:
            if not principals.isdisjoint(acl.get(name, _EMPTY)):
                return True
            if not principals.isdisjoint(_settings(config, level, name)):
                return True
    return False


def holders(resource: Resource, perm: str, level: str) -> tuple[str, ...]:
    """The grant names on ``level`` that give ``perm`` on ``resource`` (for SQL ACL filters)."""
    return INHERITANCE[(resource, perm)].get(level, ())


def acl_of(grants: Iterable[tuple[str, str]]) -> dict[str, frozenset[Principal]]:
    """The ACL of a list of grants (membership rows excluded)."""
    out: dict[str, set[Principal]] = {}
    for perm, principal in grants:
        if perm != MEMBER:
            out.setdefault(perm, set()).add(principal)
    return {perm: frozenset(ps) for perm, ps in out.items()}


def render_acl(acl: Acl) -> dict[str, list[str]]:
    """The ``permissions`` of a response: Kinto principals, sorted, empty names omitted."""
    return {perm: sorted(to_kinto(p) for p in ps) for perm, ps in sorted(acl.items()) if ps}
