"""Auth services (OAuth clients) and identities: the typed values the authorization server works on.

An app declares its auth services in its configuration (``[auth.<id>]`` of ``kinbase apply``); each
is one OAuth client of kinbase's authorization server. ``default`` is the app's default service,
whose ``client_id`` is the app key; any other service ``<id>`` has the ``client_id``
``APP_KEY.<id>`` (the SDKs' ``micId``). A service names its identity source: a FlexAuth handler of
a Flex service registered for the app, or kinbase's own user store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kinbase.core.kinvey.social import Identity
from kinbase.storage.base import AppRecord

__all__ = [
    "DEFAULT_SERVICE",
    "AuthService",
    "AuthServiceDirectory",
    "FlexAuthSource",
    "Identity",
    "IdentitySource",
    "StaticAuthServices",
    "UserStoreSource",
]

DEFAULT_SERVICE = "default"


@dataclass(frozen=True, slots=True)
class FlexAuthSource:
    """Identities checked by the FlexAuth handler ``handler`` of the Flex service ``service``."""

    service: str
    handler: str


@dataclass(frozen=True, slots=True)
class UserStoreSource:
    """Identities checked against kinbase's own users of the app (username and password)."""


IdentitySource = FlexAuthSource | UserStoreSource


@dataclass(frozen=True, slots=True)
class AuthService:
    """One auth service of an app: an OAuth client with its redirect URIs and identity source.

    Attributes:
        id: ``"default"`` or the service's name (``[auth.<id>]``).
        source: where usernames and passwords are checked.
        redirect_uris: the exact redirect URIs the authorization-code flow may send a code to.
            A service without any can only use the ``password`` and ``refresh_token`` grants.
    """

    id: str
    source: IdentitySource
    redirect_uris: tuple[str, ...] = ()

    def client_id(self, app_key: str) -> str:
        """The OAuth ``client_id`` of this service in the app ``app_key``."""
        return app_key if self.id == DEFAULT_SERVICE else f"{app_key}.{self.id}"

    def allows_redirect(self, uri: str) -> bool:
        """Whether ``uri`` is exactly one of the registered redirect URIs."""
        return uri in self.redirect_uris


class AuthServiceDirectory(Protocol):
    """Where the authorization server finds an app's auth services (the app configuration)."""

    async def auth_service(self, app: AppRecord, service_id: str) -> AuthService | None:
        """The auth service ``service_id`` of ``app``, or None if the app declares none by that id."""
        ...


class StaticAuthServices:
    """An :class:`AuthServiceDirectory` over a fixed mapping of app keys to services."""

    def __init__(self, services: Mapping[str, Sequence[AuthService]] | None = None) -> None:
        self._services: dict[str, dict[str, AuthService]] = {}
        for key, declared in (services or {}).items():
            for service in declared:
                self.add(key, service)

    def add(self, app_key: str, service: AuthService) -> None:
        self._services.setdefault(app_key, {})[service.id] = service

    async def auth_service(self, app: AppRecord, service_id: str) -> AuthService | None:
        return self._services.get(app.key, {}).get(service_id)
