"""What differs between Kinto resources: ids, validation, side effects. The engine
(:mod:`kinbase.core.kinto.objects`) calls these hooks inside the write transaction."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field

from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.errors import InvalidParameter
from kinbase.core.kinto.model import OBJECT_ID, Resource, Target
from kinbase.core.kinto.store import Loaded
from kinbase.storage.base import StoredObject, Writer
from kinbase.types import Document

__all__ = ["Change", "Hooks", "generated_name"]

_FIRST = string.ascii_letters + string.digits
_REST = _FIRST + "_-"


def generated_name() -> str:
    """An 8-character id for a bucket, collection or group created by POST."""
    return secrets.choice(_FIRST) + "".join(secrets.choice(_REST) for _ in range(7))


@dataclass(slots=True)
class Change:
    """One committed change, as the hooks and the history see it."""

    target: Target
    action: str  # "create" | "update" | "delete"
    obj: StoredObject
    data: Document
    acl: dict[str, frozenset[str]]
    ancestors: dict[str, Loaded] = field(default_factory=dict)
    previous: StoredObject | None = None
    """The version replaced or deleted (None on creation)."""


class Hooks:
    """The default behaviour (records without schema)."""

    resource: Resource = "record"
    id_pattern: re.Pattern[str] = OBJECT_ID

    def new_id(self) -> str:
        return generated_name()

    def check_id(self, object_id: str) -> None:
        """Raises InvalidParameter (path) for a malformed id."""
        if not self.id_pattern.match(object_id):
            raise InvalidParameter("path", "id", "Invalid object id")

    async def prepare(
        self,
        ctx: KintoContext,
        writer: Writer,
        target: Target,
        data: Document,
        current: StoredObject | None,
        ancestors: dict[str, Loaded],
    ) -> Document:
        """Validate and complete the new data (without id and last_modified)."""
        return data

    def adjust_acl(self, ctx: KintoContext, target: Target, acl: dict[str, set[str]]) -> None:
        """Complete the ACL about to be stored (accounts give their owner write)."""

    def extra_grants(self, data: Document) -> list[tuple[str, str]]:
        """Hidden grants derived from the data (group membership)."""
        return []

    async def after_write(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        """Side effects in the same transaction (cascades, child parents, membership)."""
