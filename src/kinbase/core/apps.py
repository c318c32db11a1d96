"""Apps (tenants): creation with generated or explicit credentials, lookup with a short cache.

An app key, app secret and master secret are API credentials, kept as given so that a team leaving
Kinvey can keep the ones compiled into apps already in users' hands. Lookups are cached per
process for ``cache_seconds``; a change made through this service (in any process: a worker, the
CLI) is published on the invalidation feed (:mod:`kinbase.core.invalidation`) and seen at once by
every worker on the same database.
"""

from __future__ import annotations

import hmac
import re
import secrets
import string
import time
from collections.abc import Mapping
from typing import Any, Literal

from kinbase.core.invalidation import ALL, Invalidations
from kinbase.errors import AlreadyExists, AppNotFound, ValidationFailed
from kinbase.storage.base import AppRecord, StorageBackend

__all__ = [
    "APPS",
    "SERVER_APP_KEY",
    "AppService",
    "CredentialKind",
    "check_app_credentials",
    "generate_app_key",
    "generate_secret",
]

CredentialKind = Literal["app", "master"]

APPS = "apps"
"""The invalidation topic of apps (key: the app key)."""

SERVER_APP_KEY = "kinbase:server"
"""The key of the server's own record in the apps table: it owns what belongs to no app (the
operator's console login throttle). No app key can be it (``:`` is not allowed in one), so no API
addresses it, and :meth:`AppService.list` leaves it out."""

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SECRET = re.compile(r"^[\x21-\x7e]{1,256}$")
_ALPHABET = string.ascii_letters + string.digits


def generate_app_key() -> str:
    """A new app key in Kinvey's style: ``kid_`` and 9 random letters and digits."""
    return "kid_" + "".join(secrets.choice(_ALPHABET) for _ in range(9))


def generate_secret() -> str:
    """A new random secret (128 bits, hex)."""
    return secrets.token_hex(16)


class AppService:
    """Create, find, list and delete apps."""

    def __init__(
        self,
        storage: StorageBackend,
        *,
        cache_seconds: float = 2.0,
        invalidations: Invalidations | None = None,
    ) -> None:
        self._storage = storage
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, AppRecord | None]] = {}
        self.invalidations = invalidations if invalidations is not None else Invalidations()
        self.invalidations.on(APPS, self._dropped)
        self._server: AppRecord | None = None

    def _dropped(self, key: str) -> None:
        if key == ALL:
            self._cache.clear()
        else:
            self._cache.pop(key, None)

    async def get(self, key: str) -> AppRecord | None:
        """The app with this key, or None (cached for a short time)."""
        if not _KEY.fullmatch(key):
            return None  # no app can have it (and the storage never sees odd characters)
        await self.invalidations.sync()
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._storage.reader() as reader:
            app = await reader.get_app(key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self._cache_seconds, app)
        return app

    async def changed(self, key: str) -> None:
        """The app ``key`` changed (committed): every worker drops its cached copy."""
        await self.invalidations.publish(APPS, key)

    async def require(self, key: str) -> AppRecord:
        """The app with this key.

        Raises:
            AppNotFound: if there is none.
        """
        app = await self.get(key)
        if app is None:
            raise AppNotFound(f"The app {key!r} was not found.")
        return app

    async def create(
        self,
        name: str,
        *,
        key: str | None = None,
        app_secret: str | None = None,
        master_secret: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> AppRecord:
        """Create an app; credentials not given are generated.

        Raises:
            ValidationFailed: for a malformed name, key or secret.
            AlreadyExists: if the key is taken.
        """
        if not name.strip() or len(name) > 200:
            raise ValidationFailed("The app name must be 1 to 200 characters.")
        key = key or generate_app_key()
        if not _KEY.fullmatch(key):
            raise ValidationFailed(
                f"The app key {key!r} is invalid: use up to 64 letters, digits, '_', '.' or '-'."
            )
        app_secret = app_secret or generate_secret()
        master_secret = master_secret or generate_secret()
        for label, secret in (("app secret", app_secret), ("master secret", master_secret)):
            if not _SECRET.match(secret):
                raise ValidationFailed(
                    f"The {label} must be 1 to 256 printable ASCII characters without spaces."
                )
        if hmac.compare_digest(app_secret, master_secret):
            raise ValidationFailed("The app secret and the master secret must differ.")
        async with self._storage.writer() as writer:
            # New apps index their Kinvey collections automatically (core/kinvey/autoindex.py).
            initial = {"auto_index": True, **dict(settings or {})}
            app = await writer.create_app(key, name.strip(), app_secret, master_secret, initial)
        await self.changed(key)
        return app

    async def list(self) -> list[AppRecord]:
        """Every app (the server's own record left out)."""
        async with self._storage.reader() as reader:
            return [app for app in await reader.list_apps() if _KEY.fullmatch(app.key)]

    async def server(self) -> AppRecord:
        """The server's own record (:data:`SERVER_APP_KEY`), created on first use."""
        if self._server is not None:
            return self._server
        async with self._storage.reader() as reader:
            found = await reader.get_app(SERVER_APP_KEY)
        if found is None:
            try:
                async with self._storage.writer() as writer:
                    found = await writer.create_app(
                        SERVER_APP_KEY, "(server)", generate_secret(), generate_secret(), {}
                    )
            except AlreadyExists:  # another worker created it meanwhile
                async with self._storage.reader() as reader:
                    found = await reader.get_app(SERVER_APP_KEY)
        assert found is not None
        self._server = found
        return found

    async def update_settings(self, key: str, settings: Mapping[str, Any]) -> AppRecord:
        """Replace an app's settings."""
        app = await self.require(key)
        async with self._storage.writer() as writer:
            updated = await writer.update_app(app.id, settings=settings)
        await self.changed(key)
        return updated

    async def delete(self, key: str) -> bool:
        """Delete an app and everything it owns. False if there was no such app."""
        if not _KEY.fullmatch(key):
            return False  # the server's own record is no app
        async with self._storage.writer() as writer:
            app = await writer.get_app(key)
            deleted = app is not None and await writer.delete_app(app.id)
        await self.changed(key)
        return deleted


def check_app_credentials(app: AppRecord, key: str, secret: str) -> CredentialKind | None:
    """Which credential ``key:secret`` is for ``app``: its app secret, its master secret, or neither.

    Comparisons run in constant time.
    """
    if not hmac.compare_digest(key.encode(), app.key.encode()):
        return None
    given = secret.encode()
    if hmac.compare_digest(given, app.master_secret.encode()):
        return "master"
    if hmac.compare_digest(given, app.app_secret.encode()):
        return "app"
    return None
