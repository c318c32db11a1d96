"""The webhook provider: every message for a device no native provider serves is POSTed as JSON
to a URL of yours, signed: ``X-Kinbase-Signature: sha256=<hex HMAC-SHA256 of the body with the
secret>``. Any 2xx is a delivery; ``410`` means the device is gone."""

from __future__ import annotations

import hashlib
import hmac
import ssl
from collections.abc import Sequence

import httpx
import orjson

from kinbase.core.appconfig.model import WebhookConfig
from kinbase.core.push.devices import Device
from kinbase.core.push.messages import PushMessage
from kinbase.core.push.providers import Delivery, PushProvider, each

__all__ = ["WebhookProvider", "signature"]


def signature(secret: str, body: bytes) -> str:
    """The ``X-Kinbase-Signature`` header value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookProvider(PushProvider):
    name = "webhook"

    def __init__(
        self,
        config: WebhookConfig,
        app_key: str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 10.0,
    ) -> None:
        self._config = config
        self._app_key = app_key
        self._http = httpx.AsyncClient(timeout=timeout, verify=verify, trust_env=False)

    async def send(self, devices: Sequence[Device], message: PushMessage) -> list[Delivery]:
        return await each(devices, lambda d: self._one(d, message))

    async def _one(self, device: Device, message: PushMessage) -> Delivery:
        body = orjson.dumps(
            {
                "appKey": self._app_key,
                "userId": device.user_id,
                "platform": device.platform,
                "deviceId": device.token,
                "service": device.service,
                "message": message.as_json(),
            }
        )
        headers = {
            "Content-Type": "application/json",
            "X-Kinbase-Signature": signature(self._config.secret, body),
        }
        try:
            reply = await self._http.post(self._config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Delivery(device, False, error=f"webhook: {type(exc).__name__}")
        if 200 <= reply.status_code < 300:
            return Delivery(device, True)
        return Delivery(device, False, gone=reply.status_code == 410, error=f"webhook: {reply.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()
