"""The core with its file services over every database engine and every byte store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.blobs import BlobStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), upload_stall_seconds=1, file_gc_seconds=0)


@pytest.fixture
async def core(settings: Settings, storage: StorageBackend, blob_store: BlobStore) -> AsyncIterator[Core]:
    """The core over the shared storage engine and byte store (both already started)."""
    the_core = Core(settings, storage, blobs=blob_store)
    await the_core.load_secret()
    yield the_core
    await the_core.files.ledger.close()
