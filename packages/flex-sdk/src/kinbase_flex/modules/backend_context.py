"""``modules.backendContext``: the app key and secrets of the backend that called the service."""

from __future__ import annotations

from typing import Any

__all__ = ["BackendContext"]


class BackendContext:
    """Reads ``X-Kinvey-App-Metadata``."""

    def __init__(self, app_metadata: dict[str, Any]) -> None:
        self._metadata = app_metadata

    def getAppKey(self) -> Any:
        """The app key (``_id``)."""
        return self._metadata.get("_id")

    def getAppSecret(self) -> Any:
        return self._metadata.get("appsecret")

    def getMasterSecret(self) -> Any:
        return self._metadata.get("mastersecret")

    get_app_key = getAppKey
    get_app_secret = getAppSecret
    get_master_secret = getMasterSecret
