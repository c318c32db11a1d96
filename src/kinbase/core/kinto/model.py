"""How Kinto's resources map onto the storage model, and the vocabulary they share.

Every Kinto object is a storage object under a parent of the app (the Kinto namespace):

============  ====================  =====================  ==================================
resource      parent kind           parent name            object id
============  ====================  =====================  ==================================
bucket        ``kinto.buckets``     ``""``                 bucket id
collection    ``kinto.collections`` bucket id              collection id
group         ``kinto.groups``      bucket id              group id
record        ``kinto.records``     ``bucket/collection``  record id
account       ``kinto.accounts``    ``""``                 account id
history entry ``kinto.history``     bucket id              entry id (a UUID)
============  ====================  =====================  ==================================

An object's data is stored in wire form, with ``id`` and ``last_modified`` embedded, so a read
splices the stored JSON into ``{"data": ...}``. Kinto permissions are grants (``read``, ``write``,
``collection:create``, ``group:create``, ``record:create``) whose principals are in the shared
vocabulary (``account:alice`` is ``user:alice``, a group URI ``/buckets/b/groups/g`` is
``group:/buckets/b/groups/g``). A group's members are also grants: ``member`` rows, which index
membership for the principal lookup. The parent ``kinto.meta``/``structure`` is bumped by every
change of a bucket, collection, group or account (in the same transaction): its stamp is the
app's **structure version**, which every request reads once (on SQLite, only after a commit:
:mod:`.principals`), so workers may cache principals, verified credentials and
bucket/collection/group/account objects and know cheaply, at once and without talking to each
other, when those caches are stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kinbase.core.permissions import AUTHENTICATED, EVERYONE
from kinbase.types import Principal

__all__ = [
    "ACCOUNT_ID",
    "EVERYONE_ID",
    "KINDS",
    "MEMBER",
    "OBJECT_ID",
    "PERMISSIONS",
    "Resource",
    "Target",
    "from_kinto",
    "to_kinto",
]

Resource = Literal["bucket", "collection", "group", "record", "account", "history"]

KINDS: dict[Resource, str] = {
    "bucket": "kinto.buckets",
    "collection": "kinto.collections",
    "group": "kinto.groups",
    "record": "kinto.records",
    "account": "kinto.accounts",
    "history": "kinto.history",
}
META_KIND = "kinto.meta"
STRUCTURE = "structure"
MEMBER = "member"
"""The grant name of group membership (never a permission)."""

PERMISSIONS: dict[Resource, tuple[str, ...]] = {
    "bucket": ("read", "write", "collection:create", "group:create"),
    "collection": ("read", "write", "record:create"),
    "group": ("read", "write"),
    "record": ("read", "write"),
    "account": ("read", "write"),
    "history": ("read",),
}
"""The permission names each resource accepts in its ``permissions``."""

OBJECT_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
ACCOUNT_ID = re.compile(r"^[a-zA-Z0-9][+.@a-zA-Z0-9_-]*$")

_ESCAPED = ("user:", "group:", "role:", "kinto:")


def from_kinto(principal: str) -> Principal:
    """The shared-vocabulary form of a Kinto principal."""
    if principal.startswith("account:"):
        return "user:" + principal[8:]
    if principal.startswith("/buckets/"):
        return "group:" + principal
    if principal.startswith(_ESCAPED):
        # A Kinto principal that happens to look like ours: keep it distinct.
        return "kinto:" + principal
    return principal


def to_kinto(principal: Principal) -> str:
    """The Kinto form of a shared-vocabulary principal."""
    if principal.startswith("user:"):
        return "account:" + principal[5:]
    if principal.startswith("group:"):
        return principal[6:]
    if principal.startswith("kinto:"):
        return principal[6:]
    return principal


SYSTEM = (EVERYONE, AUTHENTICATED)
EVERYONE_ID = EVERYONE


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request points: a resource type and its ids (``id`` None on a plural endpoint)."""

    resource: Resource
    bucket: str = ""
    collection: str = ""
    id: str | None = None

    @property
    def kind(self) -> str:
        return KINDS[self.resource]

    @property
    def parent_name(self) -> str:
        """The storage parent name of the objects of this plural endpoint."""
        if self.resource in ("bucket", "account"):
            return ""
        if self.resource == "record":
            return f"{self.bucket}/{self.collection}"
        return self.bucket

    def with_id(self, object_id: str) -> Target:
        return Target(self.resource, self.bucket, self.collection, object_id)

    @property
    def plural_uri(self) -> str:
        if self.resource == "bucket":
            return "/buckets"
        if self.resource == "account":
            return "/accounts"
        if self.resource == "record":
            return f"/buckets/{self.bucket}/collections/{self.collection}/records"
        plural = {"collection": "collections", "group": "groups", "history": "history"}[self.resource]
        return f"/buckets/{self.bucket}/{plural}"

    @property
    def uri(self) -> str:
        """The object URI (Kinto's ``/buckets/b/collections/c``)."""
        assert self.id is not None
        return f"{self.plural_uri}/{self.id}"

    def ids(self) -> dict[str, str]:
        """The ``*_id`` keys of history and permission entries."""
        out: dict[str, str] = {}
        if self.resource in ("bucket", "collection", "group", "record", "history"):
            out["bucket_id"] = self.bucket if self.resource != "bucket" else self.id or ""
        if self.resource in ("collection", "record"):
            out["collection_id"] = self.collection if self.resource == "record" else self.id or ""
        if self.resource == "group":
            out["group_id"] = self.id or ""
        if self.resource == "record":
            out["record_id"] = self.id or ""
        return out
