"""``modules.requestContext``: who made the request, its custom request properties and client version."""

from __future__ import annotations

import base64
import math
import re
from typing import Any

__all__ = ["ClientAppVersion", "RequestContext", "security_context"]

_DIGITS = re.compile(r"^\d+$")


def security_context(authorization: Any, app_metadata: dict[str, Any]) -> str:
    """``user``, ``app``, ``master`` or ``unknown``, from the original ``Authorization`` header.

    Basic credentials whose user is the app key are the app or the master secret; any other
    credentials (a ``Kinvey`` session token, a user's Basic credentials) are a user's.
    """
    if not isinstance(authorization, str):
        return "unknown"
    parts = authorization.split(" ")
    if len(parts) < 2:
        return "unknown"
    encoded = parts[1]
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=False)
        decoded = "".join(chr(byte & 0x7F) for byte in raw)
    except ValueError:
        decoded = ""
    credentials = decoded.split(":")
    if credentials[0] != app_metadata.get("_id"):
        return "user"
    if len(credentials) > 1:
        if credentials[1] == app_metadata.get("appsecret"):
            return "app"
        if credentials[1] == app_metadata.get("mastersecret"):
            return "master"
    return "unknown"


class ClientAppVersion:
    """``requestContext.clientAppVersion``: the ``X-Kinvey-Client-App-Version`` of the request.

    ``majorVersion()``, ``minorVersion()`` and ``patchVersion()`` give the dot-separated fields as
    numbers, or ``nan`` when a field is missing or has a non-digit character (as JavaScript's NaN).
    """

    def __init__(self, version: Any) -> None:
        self._string: str | None = None
        self._parts: list[float | int] = [math.nan, math.nan, math.nan]
        if isinstance(version, str) and version:
            self._string = version
            for index, part in enumerate(version.split(".")[:3]):
                if _DIGITS.match(part):
                    self._parts[index] = int(part)

    def stringValue(self) -> str | None:
        return self._string

    def majorVersion(self) -> float | int:
        return self._parts[0]

    def minorVersion(self) -> float | int:
        return self._parts[1]

    def patchVersion(self) -> float | int:
        return self._parts[2]

    string_value = stringValue
    major_version = majorVersion
    minor_version = minorVersion
    patch_version = patchVersion


class RequestContext:
    """The user, security context, custom request properties and client app version of a request."""

    def __init__(
        self,
        *,
        username: Any,
        user_id: Any,
        app_key: Any,
        security_context: str,
        custom_request_properties: dict[str, Any],
        client_app_version: Any,
        request_id: Any,
        on_change: Any = None,
    ) -> None:
        self._username = username
        self._user_id = user_id
        self._app_key = app_key
        self._security_context = security_context
        self._properties = custom_request_properties
        self._request_id = request_id
        self._on_change = on_change
        self.clientAppVersion = ClientAppVersion(client_app_version)
        self.client_app_version = self.clientAppVersion

    def getAuthenticatedUsername(self) -> Any:
        return self._username

    def getAuthenticatedUserId(self) -> Any:
        """The user's id; the app key when the request was made with the app or master secret."""
        if not self._user_id and self._security_context in ("app", "master"):
            return self._app_key
        return self._user_id

    def getSecurityContext(self) -> str:
        """``user``, ``app``, ``master`` or ``unknown``."""
        return self._security_context

    def getRequestId(self) -> Any:
        """``X-Kinvey-Request-Id`` of the request."""
        return self._request_id

    def getCustomRequestProperty(self, property_name: str) -> Any:
        """The custom request property, or ``None``."""
        return self._properties.get(property_name)

    def setCustomRequestProperty(self, property_name: str, property_value: Any) -> Any:
        """Set a custom request property. After ``next()`` the backend sees the new properties in
        ``request.headers["x-kinvey-custom-request-properties"]``, so a post hook can read them."""
        self._properties[property_name] = property_value
        if self._on_change is not None:
            self._on_change()
        return property_value

    def getCustomRequestProperties(self) -> dict[str, Any]:
        return self._properties

    # The reference spells it so in one place; keep it so ported code runs.
    setCustomReqeustProperty = setCustomRequestProperty

    get_authenticated_username = getAuthenticatedUsername
    get_authenticated_user_id = getAuthenticatedUserId
    get_security_context = getSecurityContext
    get_request_id = getRequestId
    get_custom_request_property = getCustomRequestProperty
    set_custom_request_property = setCustomRequestProperty
    get_custom_request_properties = getCustomRequestProperties
