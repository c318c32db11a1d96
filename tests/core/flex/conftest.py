from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from tests.support.flex_services import KINDS, FlexProcess


@pytest.fixture
async def core(settings: Settings, storage: StorageBackend) -> AsyncIterator[Core]:
    """The core over the shared storage; its Flex clients are closed at the end of the test."""
    core = Core(settings, storage)
    await core.load_secret()
    yield core
    await core.flex.close()


@pytest.fixture(scope="session", params=KINDS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlexProcess]:
    """The test service of one kind (kinbase-flex, Node kinvey-flex-sdk), started once per test
    process."""
    process = FlexProcess(request.param, tmp_path_factory.mktemp(f"flex-{request.param}")).start()
    yield process
    process.stop()
