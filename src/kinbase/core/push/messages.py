"""A push message as Kinvey's push module sends it, and what each provider receives.

``messageContent`` is a string (a simple message) or ``{"iOSAps", "iOSExtras", "androidPayload"}``
(``sendPayload``/``broadcastPayload``). A simple message reaches iOS as ``aps.alert`` and Android
as the data field ``msg`` (what the Kinvey SDKs' push receivers read); a payload gives iOS
``aps`` = ``iOSAps`` plus the ``iOSExtras`` keys, and Android the ``androidPayload`` fields as FCM
data (FCM data values are strings: other values are sent as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kinbase.core.kinvey.errors import KinveyError

__all__ = ["PushMessage"]

_MAX_TEXT = 4096


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise KinveyError("BadRequest", f"{name} must be an object.")
    return dict(value)


@dataclass(frozen=True, slots=True)
class PushMessage:
    text: str | None = None
    ios_aps: Mapping[str, Any] = field(default_factory=dict)
    ios_extras: Mapping[str, Any] = field(default_factory=dict)
    android_payload: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, content: Any) -> PushMessage:
        """The message of a ``messageContent``.

        Raises:
            KinveyError: BadRequest for anything but a non-empty string or a payload object.
        """
        if isinstance(content, str):
            if not content or len(content) > _MAX_TEXT:
                raise KinveyError("BadRequest", f"messageContent must be 1 to {_MAX_TEXT} characters.")
            return cls(text=content)
        if isinstance(content, Mapping) and any(
            k in content for k in ("iOSAps", "iOSExtras", "androidPayload")
        ):
            return cls(
                ios_aps=_object(content.get("iOSAps"), "iOSAps"),
                ios_extras=_object(content.get("iOSExtras"), "iOSExtras"),
                android_payload=_object(content.get("androidPayload"), "androidPayload"),
            )
        raise KinveyError(
            "BadRequest", 'messageContent must be a string or {"iOSAps", "iOSExtras", "androidPayload"}.'
        )

    def apns_body(self) -> dict[str, Any]:
        if self.text is not None:
            return {"aps": {"alert": self.text}}
        return {**self.ios_extras, "aps": dict(self.ios_aps)}

    @property
    def apns_background(self) -> bool:
        """A silent notification (``content-available`` without alert, badge or sound)."""
        aps = self.apns_body()["aps"]
        return bool(aps.get("content-available")) and not any(k in aps for k in ("alert", "badge", "sound"))

    def fcm_data(self) -> dict[str, str]:
        if self.text is not None:
            return {"msg": self.text}
        return {
            str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in self.android_payload.items()
        }

    def as_json(self) -> Any:
        """The message as the app sent it (for the webhook provider)."""
        if self.text is not None:
            return self.text
        return {
            "iOSAps": dict(self.ios_aps),
            "iOSExtras": dict(self.ios_extras),
            "androidPayload": dict(self.android_payload),
        }
