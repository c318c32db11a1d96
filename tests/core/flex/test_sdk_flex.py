"""The official kinvey-node-sdk against a real kinbase server whose app is bound to a real Flex
service (the test service written with kinbase-flex and with the Node kinvey-flex-sdk): a custom
endpoint, a Flex-backed collection saved and queried, a collection with a pre-save hook
(``tests/node/flex.js``). SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.frontends.kinvey.test_sdk import NODE_DIR, POSTGRES_URL, node_modules  # noqa: F401
from tests.support.flex_services import FLEX_SECRET, FlexProcess
from tests.support.server import kinbase_cli, run_server


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a kinbase server on a fresh database of one engine."""
    env = {"KINBASE_DATA_DIR": str(tmp_path / "data"), "KINBASE_LOG_LEVEL": "warning"}
    if request.param == "sqlite":
        yield env
        return
    schema = f"kbt_sdkflex_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))
        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield {**env, "KINBASE_DATABASE_URL": f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"}
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))


CONFIG = """
[flex_services.svc]
url = "{url}"
secret = "{secret}"

[endpoints.checkout]
service = "svc"
function = "echo"

[collections.things]
data_link = {{ service = "svc", service_object = "things" }}

[collections.notes.hooks]
pre_save = {{ service = "svc", function = "preSave" }}
"""


def test_the_node_sdk_with_flex_business_logic(
    node_modules: Path,  # noqa: F811
    service: FlexProcess,
    database: dict[str, str],
    tmp_path: Path,
) -> None:
    key, secret, master = "kid_" + secrets.token_hex(6), secrets.token_hex(12), secrets.token_hex(12)
    created = kinbase_cli(
        "apps",
        "create",
        "SDK",
        "--app-key",
        key,
        "--app-secret",
        secret,
        "--master-secret",
        master,
        env=database,
    )
    assert created.returncode == 0, created.stderr
    config = tmp_path / "app.toml"
    config.write_text(CONFIG.format(url=service.url, secret=FLEX_SECRET))
    applied = kinbase_cli("apply", key, str(config), env=database)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with run_server(workdir=tmp_path, env=database, startup_timeout=150) as server:
        env = {
            **os.environ,
            "KINBASE_URL": server.url,
            "APP_KEY": key,
            "APP_SECRET": secret,
            "MASTER_SECRET": master,
        }
        done = subprocess.run(
            ["node", "flex.js"],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr + server.log()
    assert done.stdout.splitlines()[-1] == '{"name":"done","ok":true}'
