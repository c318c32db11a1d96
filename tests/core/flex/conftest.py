from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend


@pytest.fixture
async def core(settings: Settings, storage: StorageBackend) -> AsyncIterator[Core]:
    """The core over the shared storage; its Flex clients are closed at the end of the test."""
    core = Core(settings, storage)
    await core.load_secret()
    yield core
    await core.flex.close()
