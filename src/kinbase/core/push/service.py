"""Push: device registration and sending through the providers an app configures.

``[push.fcm]`` serves Android devices, ``[push.apns]`` iOS devices, and ``[push.webhook]`` every
device whose platform has no native provider configured. Tokens a provider reports as gone are
forgotten. The providers of an app are built from its configuration on first use and rebuilt when
it changes (their connections are kept alive in between).
"""

from __future__ import annotations

import ssl
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kinbase.core.appconfig import AppConfigService
from kinbase.core.appconfig.model import PushConfig
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.push.apns import ApnsProvider
from kinbase.core.push.devices import Device, DeviceService
from kinbase.core.push.fcm import FcmProvider
from kinbase.core.push.messages import PushMessage
from kinbase.core.push.providers import PushProvider
from kinbase.core.push.webhook import WebhookProvider
from kinbase.storage.base import AppRecord, StorageBackend

__all__ = ["PushReport", "PushService", "recipient_ids"]


@dataclass(slots=True)
class PushReport:
    """What a send did: devices reached, not reached (with why), tokens forgotten."""

    sent: int = 0
    failed: int = 0
    removed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "removed": self.removed, "errors": self.errors[:20]}


def recipient_ids(recipients: Any) -> list[str]:
    """The user ids of ``recipients``: user entities (with ``_id``) or ids, one or a list.

    Raises:
        KinveyError: BadRequest if a recipient has no id.
    """
    items = recipients if isinstance(recipients, list) else [recipients]
    ids = []
    for item in items:
        user_id = item.get("_id") if isinstance(item, Mapping) else item
        if not isinstance(user_id, str) or not user_id:
            raise KinveyError("BadRequest", "recipients must be user entities (with _id) or user ids.")
        ids.append(user_id)
    return ids


class PushService:
    """Register devices and send messages, per app."""

    def __init__(
        self, storage: StorageBackend, appconfig: AppConfigService, *, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.devices = DeviceService(storage)
        self._appconfig = appconfig
        self._verify = verify
        self._providers: dict[int, tuple[PushConfig | None, dict[str, PushProvider]]] = {}

    async def _for(self, app: AppRecord) -> dict[str, PushProvider]:
        """The app's providers by platform (``"*"``: the webhook for the others)."""
        config = (await self._appconfig.current(app)).push
        cached = self._providers.get(app.id)
        if cached is not None and cached[0] == config:
            return cached[1]
        if cached is not None:
            for provider in set(cached[1].values()):
                await provider.aclose()
        providers: dict[str, PushProvider] = {}
        if config is not None:
            if config.fcm is not None:
                providers["android"] = FcmProvider(config.fcm, verify=self._verify)
            if config.apns is not None:
                providers["ios"] = ApnsProvider(config.apns, verify=self._verify)
            if config.webhook is not None:
                providers["*"] = WebhookProvider(config.webhook, app.key, verify=self._verify)
        self._providers[app.id] = (config, providers)
        return providers

    async def send(self, app: AppRecord, user_ids: Sequence[str], message: PushMessage) -> PushReport:
        """Send ``message`` to every device of these users."""
        return await self._deliver(app, await self.devices.of_users(app, list(user_ids)), message)

    async def broadcast(self, app: AppRecord, message: PushMessage) -> PushReport:
        """Send ``message`` to every device registered with the app."""
        report = PushReport()
        async for page in self.devices.every(app):
            part = await self._deliver(app, page, message)
            report.sent += part.sent
            report.failed += part.failed
            report.removed += part.removed
            report.errors.extend(part.errors)
        return report

    async def _deliver(self, app: AppRecord, devices: list[Device], message: PushMessage) -> PushReport:
        providers = await self._for(app)
        batches: dict[PushProvider | None, list[Device]] = defaultdict(list)
        for device in devices:
            batches[providers.get(device.platform) or providers.get("*")].append(device)
        report = PushReport()
        gone: list[Device] = []
        for provider, batch in batches.items():
            if provider is None:
                report.failed += len(batch)
                report.errors.append(
                    f"no push provider is configured for {batch[0].platform} ({len(batch)} devices)"
                )
                continue
            for delivery in await provider.send(batch, message):
                if delivery.ok:
                    report.sent += 1
                    continue
                report.failed += 1
                if delivery.error:
                    report.errors.append(delivery.error)
                if delivery.gone:
                    gone.append(delivery.device)
        if gone:
            await self.devices.remove(app, gone)
            report.removed = len(gone)
        return report

    async def close(self) -> None:
        providers, self._providers = self._providers, {}
        for _config, by_platform in providers.values():
            for provider in set(by_platform.values()):
                await provider.aclose()
