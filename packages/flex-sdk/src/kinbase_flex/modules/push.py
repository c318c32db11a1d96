"""``modules.push``: send push notifications through the backend (``/push/<appKey>/...``)."""

from __future__ import annotations

from typing import Any

from kinbase_flex._calls import Pending
from kinbase_flex.errors import ModuleError
from kinbase_flex.modules._store import BackendEnv, basic

__all__ = ["Push"]

MISSING_USERS = "You must specify the 'users' parameter to send a push notification"
MISSING_MESSAGE = "You must specify the 'message' parameter to send a push notification"


class Push:
    """``sendMessage``/``send``, ``broadcastMessage``/``broadcast``, ``sendPayload``, ``broadcastPayload``."""

    def __init__(self, env: BackendEnv) -> None:
        self._env = env

    def _fail(self, debug: str, callback: Any) -> Pending[Any]:
        error = ModuleError("PushError", "Invalid Arguments", debug)

        async def raise_error() -> Any:
            raise error

        return self._env.runtime.submit(raise_error, callback)

    def _post(self, route: str, body: dict[str, Any], callback: Any) -> Pending[Any]:
        env = self._env
        if not env.baas_url:
            return self._fail("No baasUrl: X-Kinvey-App-Metadata must carry the backend's baasUrl", callback)
        url = f"{env.baas_url}/push/{env.app_key}/{route}"
        headers = {
            "Content-Type": "application/json",
            "Authorization": basic(env.app_metadata.get("_id"), env.app_metadata.get("mastersecret")),
            "x-kinvey-api-version": "3",
        }
        runtime = env.runtime
        return runtime.submit(
            lambda: runtime.request("POST", url, headers=headers, body=body, error_status=400), callback
        )

    def sendMessage(self, users: Any, message: Any = None, callback: Any = None) -> Pending[Any]:
        """Send ``message`` (text or a payload object) to ``users``: one user entity or a list."""
        if users is None:
            return self._fail(MISSING_USERS, callback or (message if callable(message) else None))
        if message is None or callable(message):
            return self._fail(MISSING_MESSAGE, callback or (message if callable(message) else None))
        recipients = users if isinstance(users, list) else [users]
        return self._post("sendMessage", {"recipients": recipients, "messageContent": message}, callback)

    def broadcastMessage(self, message: Any, callback: Any = None) -> Pending[Any]:
        """Send ``message`` to every device registered with the app."""
        if message is None or callable(message):
            return self._fail(MISSING_MESSAGE, callback or (message if callable(message) else None))
        return self._post("sendBroadcast", {"messageContent": message}, callback)

    def sendPayload(
        self, users: Any, ios_aps: Any, ios_extras: Any, android_payload: Any, callback: Any = None
    ) -> Pending[Any]:
        payload = {"iOSAps": ios_aps, "iOSExtras": ios_extras, "androidPayload": android_payload}
        return self.sendMessage(users, payload, callback)

    def broadcastPayload(
        self, ios_aps: Any, ios_extras: Any, android_payload: Any, callback: Any = None
    ) -> Pending[Any]:
        payload = {"iOSAps": ios_aps, "iOSExtras": ios_extras, "androidPayload": android_payload}
        return self.broadcastMessage(payload, callback)

    send = sendMessage
    broadcast = broadcastMessage
    send_message = sendMessage
    broadcast_message = broadcastMessage
    send_payload = sendPayload
    broadcast_payload = broadcastPayload
