"""Accounts: ``password`` is stored as a bcrypt hash (shown as such), the account's own principal
holds write on it, and a non-admin user may only touch their own account."""

from __future__ import annotations

from kinbase.core.kinto.acl import allowed
from kinbase.core.kinto.auth import PasswordHasher
from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.errors import InvalidParameter
from kinbase.core.kinto.hooks import Change, Hooks
from kinbase.core.kinto.model import ACCOUNT_ID, Target
from kinbase.core.kinto.principals import Membership
from kinbase.core.kinto.store import Loaded
from kinbase.core.permissions import user_principal
from kinbase.jsonutil import loads
from kinbase.storage.base import StoredObject, Writer
from kinbase.types import Document

__all__ = ["AccountHooks", "is_admin"]


def is_admin(ctx: KintoContext) -> bool:
    """Whether the caller holds ``account_write_principals``."""
    return allowed(ctx.config, ctx.principals, "account", "write", {})


class AccountHooks(Hooks):
    resource = "account"
    id_pattern = ACCOUNT_ID

    def __init__(self, hasher: PasswordHasher, membership: Membership) -> None:
        self._hasher = hasher
        self._membership = membership

    def new_id(self) -> str:
        raise InvalidParameter("body", "data.id", "Required")

    async def prepare(
        self,
        ctx: KintoContext,
        writer: Writer,
        target: Target,
        data: Document,
        current: StoredObject | None,
        ancestors: dict[str, Loaded],
    ) -> Document:
        assert target.id is not None
        if ctx.user_id is not None and not is_admin(ctx) and ctx.user_id != f"account:{target.id}":
            raise InvalidParameter("body", "data.id", "Username and account ID do not match.")
        password = data.get("password")
        if not isinstance(password, str):
            raise InvalidParameter("body", "data.password", "Required")
        stored = loads(current.data).get("password") if current is not None else None
        if password != stored:
            data["password"] = await self._hasher.hash(password, ctx.config.bcrypt_rounds)
        return data

    async def after_write(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        await self._membership.changed(writer, ctx.app.id)

    def adjust_acl(self, ctx: KintoContext, target: Target, acl: dict[str, set[str]]) -> None:
        assert target.id is not None
        acl.setdefault("write", set()).add(user_principal(target.id))
