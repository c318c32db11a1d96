"""The core: every service a front-end may call, built over one storage engine."""

from __future__ import annotations

from kinbase.core.apps import AppService
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend

__all__ = ["Core"]


class Core:
    """The services of one server process. Front-ends hold a reference to it; it knows no HTTP."""

    def __init__(self, settings: Settings, storage: StorageBackend) -> None:
        self.settings = settings
        self.storage = storage
        self.apps = AppService(storage, cache_seconds=settings.app_cache_seconds)

    async def start(self) -> None:
        """Open the storage (applying pending migrations)."""
        await self.storage.start()

    async def stop(self) -> None:
        await self.storage.stop()
