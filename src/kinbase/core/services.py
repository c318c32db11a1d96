"""The core: every service a front-end may call, built over one storage engine."""

from __future__ import annotations

import secrets

from kinbase.core.appconfig import AppConfigService
from kinbase.core.appconfig.auth import ConfigAuthServices
from kinbase.core.apps import AppService
from kinbase.core.files.services import FileServices
from kinbase.core.flex import FlexService
from kinbase.core.flex.auth import FlexAuthCalls
from kinbase.core.flex.calls import FlexCalls
from kinbase.core.flex.resolver import FlexResolver
from kinbase.core.invalidation import create_invalidations
from kinbase.core.kinto.service import KintoService
from kinbase.core.kinvey.services import KinveyServices
from kinbase.core.metrics import Metrics, shared_directory
from kinbase.core.mic.services import MicServices
from kinbase.core.push import PushService
from kinbase.core.schedules import Scheduler
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.blobs import BlobStore, create_blob_store

__all__ = ["DEFAULT_APP_KEY", "Core"]

_SECRET_KEY = "server_secret"
DEFAULT_APP_KEY = "default_app"


class Core:
    """The services of one server process. Front-ends hold a reference to it; it knows no HTTP."""

    def __init__(self, settings: Settings, storage: StorageBackend, blobs: BlobStore | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.metrics = Metrics(storage.pool_stats, shared=shared_directory())
        self.invalidations = create_invalidations(settings, storage)
        self.apps = AppService(
            storage, cache_seconds=settings.app_cache_seconds, invalidations=self.invalidations
        )
        self._secret: bytes | None = None
        self.kinto = KintoService(settings, storage, lambda: self.secret, invalidations=self.invalidations)
        self.kinvey = KinveyServices(settings, storage, lambda: self.secret, invalidations=self.invalidations)
        self.appconfig = AppConfigService(storage, self.apps, self.kinvey.collections)
        self.flex = FlexService(
            settings, self.appconfig, on_call=self.metrics.flex_call, secret=lambda: self.secret
        )
        self.kinvey.pipeline.resolver = FlexResolver(
            self.appconfig,
            FlexCalls(self.flex, self.kinvey.users),
            storage,
            self.kinvey.pipeline.resolver,
        )
        self.push = PushService(storage, self.appconfig)
        self.schedules = Scheduler(
            storage,
            self.apps,
            self.appconfig,
            self.flex,
            refresh_seconds=settings.app_cache_seconds,
            on_run=self.metrics.schedule_run,
        )
        self.mic = MicServices(
            settings,
            storage,
            self.apps,
            self.kinvey,
            lambda: self.secret,
            directory=ConfigAuthServices(self.appconfig),
            flex=FlexAuthCalls(self.flex),
        )
        self.files = FileServices(
            settings,
            storage,
            blobs if blobs is not None else create_blob_store(settings),
            lambda: self.secret,
            self.kinto,
        )

    @property
    def secret(self) -> bytes:
        """The server secret (32 random bytes kept in the database, shared by every worker and
        machine): the key of every HMAC the server computes. Available once started."""
        if self._secret is None:
            raise RuntimeError("the core is not started")
        return self._secret

    async def start(self, *, background: bool = False) -> None:
        """Open the storage (applying pending migrations), load the server secret, open the byte
        store. With ``background`` (a server worker, not a CLI command), also start the scheduler."""
        await self.storage.start()
        await self.invalidations.start()
        await self.load_secret()
        await self.files.start()
        if background and self.settings.schedules_enabled:
            self.schedules.start()
        if background:
            self.metrics.start_sharing()

    async def load_secret(self) -> bytes:
        """Read the server secret, creating it on the first start of a database."""
        async with self.storage.reader() as reader:
            stored = await reader.get_meta(_SECRET_KEY)
        if stored is None:
            async with self.storage.writer() as writer:
                stored = await writer.get_meta(_SECRET_KEY)
                if stored is None:
                    stored = secrets.token_hex(32)
                    await writer.set_meta(_SECRET_KEY, stored)
        self._secret = bytes.fromhex(stored)
        return self._secret

    async def default_app_key(self) -> str | None:
        """The key of the server's default app (served by the Kinto API at ``/v1``), if any."""
        async with self.storage.reader() as reader:
            return await reader.get_meta(DEFAULT_APP_KEY)

    async def set_default_app(self, key: str) -> None:
        """Make the app ``key`` the server's default app (the caller checked that it exists)."""
        async with self.storage.writer() as writer:
            await writer.set_meta(DEFAULT_APP_KEY, key)
        await self.invalidations.publish(DEFAULT_APP_KEY)

    async def stop(self) -> None:
        await self.metrics.stop_sharing()
        await self.schedules.stop()
        await self.flex.close()
        await self.push.close()
        self.kinto.close()
        await self.files.stop()
        self.kinvey.passwords.close()
        await self.invalidations.stop()
        await self.storage.stop()
