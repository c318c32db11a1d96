"""Push devices: the tokens apps register for their users (``POST /push/:appKey/register-device``).

A device is ``{platform, deviceId, service, framework}`` as the SDKs send it (``specs/kinvey.md``
§6.6), registered for the user of the session. It is a private record of the parent
``kinbase.push_devices`` (no API lists it), keyed by the digest of platform and token, with an
``owner`` grant for its user: a token belongs to one user at a time (registering it for another
user moves it), a user's devices are one indexed read, and a token a provider reports as gone is
removed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.private import digest, fields, owned, owner_grants
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend
from kinbase.storage.stamps import now_ms

__all__ = ["DEVICES", "PLATFORMS", "Device", "DeviceService", "parse_device"]

DEVICES = "kinbase.push_devices"
PLATFORMS = ("ios", "android")


@dataclass(frozen=True, slots=True)
class Device:
    user_id: str
    platform: str
    token: str
    service: str = ""
    framework: str = ""

    @property
    def key(self) -> str:
        return digest(f"{self.platform}:{self.token}")


def parse_device(user_id: str, body: Any) -> Device:
    """The device of a register/unregister request body.

    Raises:
        KinveyError: IncompleteRequestBody / BadRequest for a body without a platform and token.
    """
    if not isinstance(body, Mapping):
        raise KinveyError("IncompleteRequestBody", 'Send {"platform": "ios"|"android", "deviceId": "..."}.')
    platform, token = body.get("platform"), body.get("deviceId")
    if not isinstance(platform, str) or platform.lower() not in PLATFORMS:
        raise KinveyError("BadRequest", "platform must be 'ios' or 'android'.")
    if not isinstance(token, str) or not 1 <= len(token) <= 4096 or not token.isprintable():
        raise KinveyError("BadRequest", "deviceId must be the device's push token (1 to 4096 characters).")
    service, framework = (str(body.get(k) or "")[:100] for k in ("service", "framework"))
    return Device(user_id, platform.lower(), token, service, framework)


def _device(data: Mapping[str, Any]) -> Device:
    return Device(
        str(data["userId"]),
        str(data["platform"]),
        str(data["deviceId"]),
        str(data.get("service", "")),
        str(data.get("framework", "")),
    )


class DeviceService:
    """Register, find and forget push devices."""

    def __init__(self, storage: StorageBackend) -> None:
        self._storage = storage

    async def register(self, app: AppRecord, device: Device) -> None:
        """Register ``device`` for its user (idempotent; moves a token from another user)."""
        record: dict[str, Any] = {
            "userId": device.user_id,
            "platform": device.platform,
            "deviceId": device.token,
            "service": device.service,
            "framework": device.framework,
            "registered": now_ms(),
        }
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, DEVICES, "")
            await writer.put(
                parent,
                device.key,
                lambda ctx: NewVersion(record, grants=owner_grants(f"user:{device.user_id}")),
            )

    async def unregister(self, app: AppRecord, device: Device) -> bool:
        """Forget the token if it is registered for this user; False if it was not."""
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, DEVICES, "")
            current = await writer.get_object_for_update(parent, device.key) if parent is not None else None
            if parent is None or current is None or fields(current).get("userId") != device.user_id:
                return False
            await writer.delete(parent, device.key)
        return True

    async def remove(self, app: AppRecord, devices: list[Device]) -> None:
        """Forget tokens a provider reported as no longer valid."""
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, DEVICES, "")
            if parent is not None:
                for device in devices:
                    await writer.delete(parent, device.key)

    async def of_users(self, app: AppRecord, user_ids: list[str]) -> list[Device]:
        """The devices registered for these users."""
        found: list[Device] = []
        async with self._storage.reader() as reader:
            for user_id in dict.fromkeys(user_ids):
                found.extend(
                    _device(fields(o)) for o in await owned(reader, app.id, DEVICES, f"user:{user_id}")
                )
        return found

    async def every(self, app: AppRecord, page: int = 500) -> AsyncIterator[list[Device]]:
        """Every registered device of the app, a page at a time."""
        skip = 0
        while True:
            async with self._storage.reader() as reader:
                parent = await reader.get_parent(app.id, DEVICES, "")
                rows = await reader.find(parent, Query(skip=skip, limit=page)) if parent is not None else []
            if not rows:
                return
            yield [_device(fields(o)) for o in rows]
            skip += len(rows)
