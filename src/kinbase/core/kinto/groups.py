"""Groups: ``members`` are principals; membership is stored as ``member`` grants and every change
bumps the membership version so request principals follow at once."""

from __future__ import annotations

from kinbase.core.kinto.collections import bucket_schema
from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.errors import InvalidParameter
from kinbase.core.kinto.hooks import Change, Hooks
from kinbase.core.kinto.model import MEMBER, Target, from_kinto
from kinbase.core.kinto.principals import Membership
from kinbase.core.kinto.schema import validate
from kinbase.core.kinto.store import Loaded
from kinbase.core.permissions import EVERYONE
from kinbase.storage.base import StoredObject, Writer
from kinbase.types import Document

__all__ = ["GroupHooks"]


class GroupHooks(Hooks):
    resource = "group"

    def __init__(self, membership: Membership) -> None:
        self._membership = membership

    async def prepare(
        self,
        ctx: KintoContext,
        writer: Writer,
        target: Target,
        data: Document,
        current: StoredObject | None,
        ancestors: dict[str, Loaded],
    ) -> Document:
        members = data.get("members", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InvalidParameter("body", "data.members", "Must be a list of principals")
        for member in members:
            assert isinstance(member, str)
            if member == EVERYONE or member.startswith("/buckets/"):
                raise InvalidParameter("body", "data.members", f"{member!r} is not a valid member")
        data["members"] = list(dict.fromkeys(members))
        if ctx.config.schema_validation:
            schema = bucket_schema(ancestors, "group:schema")
            if schema is not None:
                validate(data, schema)
        return data

    def extra_grants(self, data: Document) -> list[tuple[str, str]]:
        members = data.get("members", [])
        assert isinstance(members, list)
        return [(MEMBER, from_kinto(str(m))) for m in members]

    async def after_write(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        await self._membership.changed(writer, ctx.app.id)
