"""TOTP authenticators of users, stored in the private parent ``kinvey.mfa_authenticators``.

A record is ``{"user", "name", "type": "totp", "secret", "verified", "last_step", "expires"}``
under a random id, with an ``owner`` grant for its user. An authenticator counts for login only
once verified with a first code; an unverified one expires after ``UNVERIFIED_TTL_MS``. The TOTP
secret has to be kept readable to check codes: it lives only here, never in the user document,
and no API returns it after the creation answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kinbase.core.ids import object_id
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.mfa import totp
from kinbase.core.permissions import user_principal
from kinbase.core.private import fields, owned, owner_grants, revoke_owned
from kinbase.errors import BaaSError
from kinbase.storage.base import NewVersion, Reader, WriteContext, Writer

__all__ = ["AUTHENTICATORS", "Authenticator", "AuthenticatorStore"]

AUTHENTICATORS = "kinvey.mfa_authenticators"
UNVERIFIED_TTL_MS = 15 * 60 * 1000
_TYPES = ("totp",)


@dataclass(frozen=True, slots=True)
class Authenticator:
    id: str
    user: str
    name: str
    type: str
    verified: bool

    def summary(self) -> dict[str, Any]:
        """What the API lists: ``{id, name, type}`` (never the secret)."""
        return {"id": self.id, "name": self.name, "type": self.type}


def _authenticator(oid: str, record: dict[str, Any]) -> Authenticator:
    return Authenticator(
        oid, str(record["user"]), str(record["name"]), str(record["type"]), record["verified"]
    )


class _Stale(BaaSError):
    """The code's step was used meanwhile (raised inside a builder to abort the write)."""


class AuthenticatorStore:
    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock

    @staticmethod
    def parse_new(body: Any) -> tuple[str, str]:
        """The name and type of a new authenticator from a request body.

        Raises:
            KinveyError: BadRequest for anything but ``{"name"?, "type"?: "totp"}``.
        """
        if not isinstance(body, dict):
            raise KinveyError("BadRequest", "The request body must be a JSON object.")
        name = body.get("name", "TOTP")
        kind = body.get("type", "totp")
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise KinveyError("BadRequest", "name must be a non-empty string of at most 256 characters.")
        if kind not in _TYPES:
            raise KinveyError("BadRequest", "type must be 'totp', the only authenticator type supported.")
        return name.strip(), str(kind)

    async def create(
        self, writer: Writer, app_id: int, user_id: str, name: str, kind: str
    ) -> tuple[str, str]:
        """Store a new unverified authenticator; returns its id and secret."""
        parent = await writer.ensure_parent(app_id, AUTHENTICATORS, "")
        aid, secret = object_id(), totp.new_secret()
        record: dict[str, Any] = {
            "user": user_id,
            "name": name,
            "type": kind,
            "secret": secret,
            "verified": False,
            "last_step": None,
            "expires": self._clock() + UNVERIFIED_TTL_MS,
        }
        await writer.put(
            parent,
            aid,
            lambda ctx: NewVersion(record, creator=user_id, grants=owner_grants(user_principal(user_id))),
        )
        return aid, secret

    def _live(self, record: dict[str, Any]) -> bool:
        return bool(record["verified"]) or int(record.get("expires") or 0) > self._clock()

    async def list(
        self, reader: Reader, app_id: int, user_id: str, *, verified_only: bool = True
    ) -> list[Authenticator]:
        """The user's authenticators (only the verified ones unless told otherwise), oldest first."""
        found = await owned(reader, app_id, AUTHENTICATORS, user_principal(user_id))
        records = [(o.id, fields(o)) for o in found]
        return [
            _authenticator(oid, r)
            for oid, r in records
            if (r["verified"] or not verified_only) and self._live(r)
        ]

    async def get(self, reader: Reader, app_id: int, user_id: str, aid: str) -> Authenticator | None:
        """The live authenticator ``aid`` if it belongs to ``user_id``."""
        parent = await reader.get_parent(app_id, AUTHENTICATORS, "")
        found = await reader.get_object(parent, aid) if parent is not None and aid else None
        if found is None:
            return None
        record = fields(found)
        if record.get("user") != user_id or not self._live(record):
            return None
        return _authenticator(found.id, record)

    async def accept(self, writer: Writer, app_id: int, user_id: str, aid: str, code: str) -> bool:
        """Check ``code`` against the authenticator ``aid``; on success record its step (no
        replay) and mark the authenticator verified. The check is made under the parent's write
        lock, so two requests cannot both spend one code."""
        parent = await writer.get_parent(app_id, AUTHENTICATORS, "")
        if parent is None or not aid:
            return False
        now_s = self._clock() / 1000

        def build(ctx: WriteContext) -> NewVersion:
            if ctx.current is None:
                raise _Stale()
            record = fields(ctx.current)
            if record.get("user") != user_id or not self._live(record):
                raise _Stale()
            step = totp.accepted_step(str(record["secret"]), code, now_s=now_s, last_step=record["last_step"])
            if step is None:
                raise _Stale()
            return NewVersion({**record, "verified": True, "last_step": step, "expires": None})

        try:
            await writer.put(parent, aid, build)
        except _Stale:
            return False
        return True

    async def delete(self, writer: Writer, app_id: int, user_id: str, aid: str) -> bool:
        """Remove the authenticator ``aid`` of ``user_id``; False if it has no such authenticator."""
        parent = await writer.get_parent(app_id, AUTHENTICATORS, "")
        if parent is None or not aid:
            return False
        found = await writer.get_object_for_update(parent, aid)
        if found is None or fields(found).get("user") != user_id:
            return False
        return await writer.delete(parent, aid) is not None

    async def delete_all(self, writer: Writer, app_id: int, user_id: str) -> int:
        return await revoke_owned(writer, app_id, AUTHENTICATORS, user_principal(user_id))
