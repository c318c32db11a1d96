"""Recovery codes and device tokens: bearer secrets of a user, stored only as digests.

**Recovery codes** (``kinvey.mfa_recovery``): ten one-time codes of 80 random bits, shown as
``xxxx-xxxx-xxxx-xxxx``, issued when a user's first authenticator is verified and on request.
Each is stored under the SHA-256 of ``user id + code``, so redeeming one is a single delete by id:
it succeeds once. Their plain text exists only in the answer that issues them.

**Device tokens** (``kinvey.mfa_devices``): issued by a completed MFA login with
``createDeviceToken``; a later password login of the same user that presents one skips the second
factor until it expires. Stored under the SHA-256 of the token with the user and the expiry.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from kinbase.core.permissions import user_principal
from kinbase.core.private import digest, fields, owned, owner_grants, revoke_owned
from kinbase.storage.base import NewVersion, Reader, Writer

__all__ = ["DEVICES", "RECOVERY", "DeviceTokens", "RecoveryCodes", "normalize_code"]

RECOVERY = "kinvey.mfa_recovery"
DEVICES = "kinvey.mfa_devices"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed by people
_GROUPS, _GROUP_LEN = 4, 4


def normalize_code(code: str) -> str:
    """A recovery code as stored: lower case, without spaces and dashes."""
    return "".join(c for c in code.lower() if c not in " -\t")


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP_LEN))
    return "-".join(raw[i : i + _GROUP_LEN] for i in range(0, len(raw), _GROUP_LEN))


def _code_id(user_id: str, code: str) -> str:
    return digest(f"{user_id}\0{normalize_code(code)}")


class RecoveryCodes:
    def __init__(self, count: int = 10) -> None:
        self.count = count

    async def replace(self, writer: Writer, app_id: int, user_id: str) -> list[str]:
        """Revoke the user's recovery codes and issue a new set; returns their plain text."""
        await revoke_owned(writer, app_id, RECOVERY, user_principal(user_id))
        parent = await writer.ensure_parent(app_id, RECOVERY, "")
        codes = [_new_code() for _ in range(self.count)]
        grants = owner_grants(user_principal(user_id))
        for code in codes:
            await writer.put(
                parent,
                _code_id(user_id, code),
                lambda ctx: NewVersion({"user": user_id}, creator=user_id, grants=grants),
            )
        return codes

    async def remaining(self, reader: Reader, app_id: int, user_id: str) -> int:
        """How many unused recovery codes the user holds."""
        return len(await owned(reader, app_id, RECOVERY, user_principal(user_id)))

    async def redeem(self, writer: Writer, app_id: int, user_id: str, code: str) -> bool:
        """Spend one recovery code of ``user_id``; False if it is unknown or spent already."""
        if not 8 <= len(normalize_code(code)) <= 64:
            return False
        parent = await writer.get_parent(app_id, RECOVERY, "")
        if parent is None:
            return False
        return await writer.delete(parent, _code_id(user_id, code)) is not None

    async def revoke(self, writer: Writer, app_id: int, user_id: str) -> int:
        return await revoke_owned(writer, app_id, RECOVERY, user_principal(user_id))


class DeviceTokens:
    def __init__(self, clock: Callable[[], int], ttl_ms: int) -> None:
        self._clock = clock
        self._ttl_ms = ttl_ms

    async def issue(self, writer: Writer, app_id: int, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        parent = await writer.ensure_parent(app_id, DEVICES, "")
        record: dict[str, Any] = {"user": user_id, "expires": self._clock() + self._ttl_ms}
        await writer.put(
            parent,
            digest(token),
            lambda ctx: NewVersion(record, creator=user_id, grants=owner_grants(user_principal(user_id))),
        )
        return token

    async def valid(self, reader: Reader, app_id: int, user_id: str, token: object) -> bool:
        """Whether ``token`` is a live device token of ``user_id``."""
        if not isinstance(token, str) or not token or len(token) > 512:
            return False
        found = await reader.get_child(app_id, DEVICES, "", digest(token))
        if found is None:
            return False
        record = fields(found)
        return record.get("user") == user_id and int(record.get("expires") or 0) > self._clock()

    async def revoke(self, writer: Writer, app_id: int, user_id: str) -> int:
        return await revoke_owned(writer, app_id, DEVICES, user_principal(user_id))
