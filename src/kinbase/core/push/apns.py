"""Apple Push Notification service over HTTP/2 with token-based authentication.

The provider token is a JWT signed with the team's ``.p8`` key (ES256, ``kid`` = key id, ``iss`` =
team id), reused for 50 minutes (Apple refuses tokens older than an hour and throttles new ones
made more often than every 20 minutes). Each device gets ``POST /3/device/<token>`` on one
multiplexed HTTP/2 connection; ``410 Unregistered`` or ``400 BadDeviceToken`` means the token is
gone.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence

import httpx
import jwt

from kinbase.core.appconfig.model import ApnsConfig
from kinbase.core.push.devices import Device
from kinbase.core.push.messages import PushMessage
from kinbase.core.push.providers import Delivery, PushProvider, each

__all__ = ["ApnsProvider"]

PRODUCTION = "https://api.push.apple.com"
SANDBOX = "https://api.sandbox.push.apple.com"
_TOKEN_SECONDS = 50 * 60
_GONE = ("Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic")


class ApnsProvider(PushProvider):
    name = "apns"

    def __init__(
        self, config: ApnsConfig, *, verify: ssl.SSLContext | bool = True, timeout: float = 10.0
    ) -> None:
        self._config = config
        endpoint = config.endpoint or (SANDBOX if config.sandbox else PRODUCTION)
        self._http = httpx.AsyncClient(
            base_url=endpoint, http1=False, http2=True, verify=verify, timeout=timeout, trust_env=False
        )
        self._token: tuple[str, float] | None = None

    def _provider_token(self, *, renew: bool = False) -> str:
        if self._token is None or renew or self._token[1] < time.time():
            signed = jwt.encode(
                {"iss": self._config.team_id, "iat": int(time.time())},
                self._config.private_key,
                algorithm="ES256",
                headers={"kid": self._config.key_id},
            )
            self._token = (signed, time.time() + _TOKEN_SECONDS)
        return self._token[0]

    async def send(self, devices: Sequence[Device], message: PushMessage) -> list[Delivery]:
        try:
            self._provider_token()
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            return [Delivery(d, False, error=f"apns: the signing key is unusable ({exc})") for d in devices]
        return await each(devices, lambda d: self._one(d, message))

    async def _one(self, device: Device, message: PushMessage, *, retried: bool = False) -> Delivery:
        background = message.apns_background
        headers = {
            "authorization": f"bearer {self._provider_token()}",
            "apns-topic": self._config.topic,
            "apns-push-type": "background" if background else "alert",
            "apns-priority": "5" if background else "10",
            "apns-expiration": "0",
        }
        try:
            reply = await self._http.post(
                f"/3/device/{device.token}", json=message.apns_body(), headers=headers
            )
        except httpx.HTTPError as exc:
            return Delivery(device, False, error=f"apns: {type(exc).__name__}")
        if reply.status_code == 200:
            return Delivery(device, True)
        try:
            reason = str(reply.json().get("reason", ""))
        except ValueError:
            reason = ""
        if reply.status_code == 403 and reason == "ExpiredProviderToken" and not retried:
            self._provider_token(renew=True)
            return await self._one(device, message, retried=True)
        gone = reply.status_code == 410 or reason in _GONE
        return Delivery(device, False, gone=gone, error=f"apns: {reply.status_code} {reason}")

    async def aclose(self) -> None:
        await self._http.aclose()
