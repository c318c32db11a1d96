"""Shared fixtures: every storage engine over a real connection, fresh apps per test.

PostgreSQL and Redis are required: when they are unreachable the tests that need them fail.
Each pytest-xdist worker works in its own PostgreSQL schema, dropped at the end.
"""

from __future__ import annotations

import base64
import os
import random
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import psycopg_pool.base
import pytest
from psycopg import sql as pgsql

from kinbase.app import create_app
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.blobs import BlobStore
from kinbase.storage.blobs.local import LocalBlobStore
from kinbase.storage.blobs.s3 import MIN_PART_SIZE, S3BlobStore
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.sqlite import SQLiteStorage
from tests.support.seaweedfs import ACCESS_KEY, SECRET_KEY, SeaweedFS, run_seaweedfs

# psycopg_pool jitters its connections' lifetimes with the global `random` from the pool's own
# tasks; hypothesis checks the global state around every draw of the tests that run a server in
# the same process (schemathesis, the permission model) and took those draws for a strategy using
# `random` (HypothesisDeprecationWarning, an error here). The pool gets a generator of its own.
psycopg_pool.base.random = random.Random().random  # type: ignore[attr-defined]

POSTGRES_URL = os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ENGINES = ["sqlite", "postgresql"]
BLOB_STORES = ["local", "s3"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def worker_id_safe(request: pytest.FixtureRequest) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
def pg_schema(worker_id_safe: str) -> Iterator[str]:
    """A PostgreSQL schema private to this test process."""
    schema = f"kbt_{worker_id_safe}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))
    yield schema
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))


@pytest.fixture(scope="session")
async def sqlite_storage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StorageBackend]:
    # Group commit on, as a server has it by default (settings.sqlite_group_commit).
    storage = SQLiteStorage(Path(tmp_path_factory.mktemp("sqlite")) / "kinbase.db", group_commit=True)
    await storage.start()
    yield storage
    await storage.stop()


@pytest.fixture(scope="session")
async def postgresql_storage(pg_schema: str) -> AsyncIterator[StorageBackend]:
    storage = PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=8, schema=pg_schema, group_commit=True)
    await storage.start()
    # App ids of this engine start far from SQLite's: both engines of a test process share one
    # byte store (keys begin with the app id), and the same id on both would share keys.
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(
            pgsql.SQL("ALTER TABLE {}.apps ALTER COLUMN id RESTART WITH 1000000").format(
                pgsql.Identifier(pg_schema)
            )
        )
    yield storage
    await storage.stop()


@pytest.fixture(params=ENGINES, scope="session")
def storage(request: pytest.FixtureRequest) -> StorageBackend:
    """A started storage engine, shared by the tests of this process (each test uses its own app)."""
    engine: StorageBackend = request.getfixturevalue(f"{request.param}_storage")
    return engine


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A real S3-compatible server (SeaweedFS) for this test process; started on first use."""
    with run_seaweedfs(Path(tmp_path_factory.mktemp("seaweedfs"))) as server:
        yield server


@pytest.fixture(scope="session")
async def local_blob_store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BlobStore]:
    store = LocalBlobStore(Path(tmp_path_factory.mktemp("blobs")))
    await store.start()
    yield store
    await store.stop()


@pytest.fixture(scope="session")
async def s3_blob_store(seaweedfs: SeaweedFS, worker_id_safe: str) -> AsyncIterator[BlobStore]:
    store = S3BlobStore(
        bucket="kinbase-tests",
        endpoint_url=seaweedfs.endpoint,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        prefix=f"{worker_id_safe}/",
        part_size=MIN_PART_SIZE,
    )
    await store.start()
    yield store
    await store.stop()


@pytest.fixture(params=BLOB_STORES, scope="session")
def blob_store(request: pytest.FixtureRequest) -> BlobStore:
    """A started byte store (local files or S3), shared by the tests of this process."""
    store: BlobStore = request.getfixturevalue(f"{request.param}_blob_store")
    return store


@pytest.fixture
def blob_prefix() -> str:
    """A key prefix of its own for one test."""
    return f"t{secrets.token_hex(6)}/"


@pytest.fixture
async def app(storage: StorageBackend) -> AppRecord:
    """A fresh app: every object a test writes lives under it, so tests never see each other."""
    async with storage.writer() as w:
        return await w.create_app(
            "kid_" + secrets.token_hex(8), "Test app", secrets.token_hex(16), secrets.token_hex(16), {}
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with a private data directory."""
    return Settings(data_dir=str(tmp_path / "data"))


async def _started(core: Core) -> Core:
    await core.load_secret()
    await core.files.store.start()  # the local byte store under data_dir (its directories)
    return core


@pytest.fixture
async def core(settings: Settings, storage: StorageBackend) -> Core:
    """The core over the shared (already started) storage engine."""
    return await _started(Core(settings, storage))


@pytest.fixture
async def client(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the kinbase ASGI app in-process (the storage is already started)."""
    asgi = create_app(core.settings, core)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        yield http


@pytest.fixture
def basic() -> Callable[[str, str], dict[str, str]]:
    """Build a Basic ``Authorization`` header."""

    def header(user: str, password: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    return header
