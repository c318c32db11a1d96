"""Firebase Cloud Messaging, HTTP v1 API, with a service account.

An OAuth2 access token is obtained with the JWT bearer grant (RFC 7523): a JWT signed with the
service account's RSA key (RS256) is exchanged at ``token_uri`` and cached until a minute before
it expires. Each device gets ``POST /v1/projects/<project>/messages:send``; a ``404`` or an
``UNREGISTERED`` error means the token is gone.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from typing import Any

import httpx
import jwt

from kinbase.core.appconfig.model import FcmConfig
from kinbase.core.push.devices import Device
from kinbase.core.push.messages import PushMessage
from kinbase.core.push.providers import Delivery, PushProvider, each

__all__ = ["FCM_SCOPE", "FcmProvider"]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
FCM_ENDPOINT = "https://fcm.googleapis.com"
_GONE = ("UNREGISTERED", "NOT_FOUND")


class FcmProvider(PushProvider):
    name = "fcm"

    def __init__(
        self, config: FcmConfig, *, verify: ssl.SSLContext | bool = True, timeout: float = 10.0
    ) -> None:
        self._config = config
        self._token_uri = config.token_uri or GOOGLE_TOKEN_URI
        self._endpoint = (config.endpoint or FCM_ENDPOINT).rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout, verify=verify, trust_env=False)
        self._token: tuple[str, float] | None = None

    async def _access_token(self, *, renew: bool = False) -> str:
        if self._token is not None and not renew and self._token[1] > time.time() + 60:
            return self._token[0]
        now = int(time.time())
        claims = {
            "iss": self._config.client_email,
            "scope": FCM_SCOPE,
            "aud": self._token_uri,
            "iat": now,
            "exp": now + 3600,
        }
        assertion = jwt.encode(claims, self._config.private_key, algorithm="RS256")
        reply = await self._http.post(
            self._token_uri,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        )
        body = reply.json() if reply.headers.get("content-type", "").startswith("application/json") else {}
        if reply.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise RuntimeError(
                f"the FCM token exchange answered {reply.status_code}: {body.get('error', '')}"
            )
        self._token = (body["access_token"], time.time() + float(body.get("expires_in", 3600)))
        return self._token[0]

    async def send(self, devices: Sequence[Device], message: PushMessage) -> list[Delivery]:
        try:
            await self._access_token()
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            return [Delivery(d, False, error=f"fcm: {exc}") for d in devices]
        return await each(devices, lambda d: self._one(d, message))

    async def _one(self, device: Device, message: PushMessage, *, retried: bool = False) -> Delivery:
        url = f"{self._endpoint}/v1/projects/{self._config.project_id}/messages:send"
        payload = {"message": {"token": device.token, "data": message.fcm_data()}}
        try:
            token = await self._access_token()
            reply = await self._http.post(url, json=payload, headers={"Authorization": f"Bearer {token}"})
        except (httpx.HTTPError, RuntimeError) as exc:
            return Delivery(device, False, error=f"fcm: {type(exc).__name__}")
        if reply.status_code == 200:
            return Delivery(device, True)
        if reply.status_code == 401 and not retried:
            self._token = None
            return await self._one(device, message, retried=True)
        error = _error_code(reply)
        gone = reply.status_code == 404 or error in _GONE
        return Delivery(device, False, gone=gone, error=f"fcm: {reply.status_code} {error}")

    async def aclose(self) -> None:
        await self._http.aclose()


def _error_code(reply: httpx.Response) -> str:
    try:
        error: Any = reply.json().get("error", {})
    except ValueError:
        return ""
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status", "")) if isinstance(error, dict) else ""
