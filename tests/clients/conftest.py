"""A real kinbase server process per storage engine for the client tests (module scope)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.conftest import POSTGRES_URL
from tests.support.server import run_server

CONFIG = """
[kinto]
bcrypt_rounds = 4
account_write_principals = ["account:admin"]
flush_endpoint = true
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def kinto_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:<port>/v1``) of a kinbase server on one engine."""
    workdir: Path = tmp_path_factory.mktemp("kinto-server")
    config = workdir / "kinbase.toml"
    config.write_text(CONFIG)
    args = ["--config", str(config), "--data-dir", str(workdir / "data")]
    schema = None
    if request.param == "postgresql":
        schema = f"kbc_{secrets.token_hex(6)}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
        separator = "&" if "?" in POSTGRES_URL else "?"
        args += ["--database-url", f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"]
    try:
        with run_server(*args, workdir=workdir) as server:
            yield server.url + "/v1"
    finally:
        if schema is not None:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))
