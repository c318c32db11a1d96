"""The kinbase command: first start, app management, configuration errors, use while serving."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql as pgsql

from tests.conftest import POSTGRES_URL
from tests.support.server import free_port, kinbase_cli, run_server

pytestmark = pytest.mark.slow


def _creds(output: str) -> dict[str, str]:
    found = dict(re.findall(r"^(app key|app secret|master secret):\s+(\S+)$", output, re.M))
    return {"key": found["app key"], "secret": found["app secret"], "master": found["master secret"]}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """Global CLI arguments selecting a fresh database of each engine."""
    if request.param == "sqlite":
        yield ["--data-dir", str(tmp_path / "data")]
        return
    schema = f"kbt_cli_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield ["--database-url", f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))


def test_first_start_prints_the_default_app_once(tmp_path: Path, database: list[str]) -> None:
    with run_server(*database, workdir=tmp_path) as server:
        creds = _creds(server.log())
        response = httpx.get(f"{server.url}/appdata/{creds['key']}", auth=(creds["key"], creds["secret"]))
        assert response.status_code == 200 and response.json()["appName"] == "Default"
        master = httpx.get(f"{server.url}/appdata/{creds['key']}", auth=(creds["key"], creds["master"]))
        assert master.status_code == 200
    with run_server(*database, workdir=tmp_path) as server:
        assert "app secret" not in server.log()
    listed = kinbase_cli(*database, "apps", "list", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.split() == [creds["key"], "Default"]


def test_apps_commands_while_the_server_runs(tmp_path: Path, database: list[str]) -> None:
    with run_server(*database, workdir=tmp_path) as server:
        created = kinbase_cli(
            *database,
            "apps",
            "create",
            "Legacy",
            "--app-key",
            "kid_HkI2u1vGZ",
            "--app-secret",
            "legacy-secret",
            "--master-secret",
            "legacy-master",
            cwd=tmp_path,
        )
        assert created.returncode == 0, created.stderr
        assert _creds(created.stdout) == {
            "key": "kid_HkI2u1vGZ",
            "secret": "legacy-secret",
            "master": "legacy-master",
        }
        response = httpx.get(f"{server.url}/appdata/kid_HkI2u1vGZ", auth=("kid_HkI2u1vGZ", "legacy-secret"))
        assert response.status_code == 200 and response.json()["kinvey"] == "hello Legacy"

        shown = kinbase_cli(*database, "apps", "show", "kid_HkI2u1vGZ", cwd=tmp_path)
        assert "Legacy" in shown.stdout and "legacy-secret" not in shown.stdout
        secret = kinbase_cli(*database, "apps", "show", "kid_HkI2u1vGZ", "--secrets", cwd=tmp_path)
        assert "legacy-master" in secret.stdout

        again = kinbase_cli(*database, "apps", "create", "Dup", "--app-key", "kid_HkI2u1vGZ", cwd=tmp_path)
        assert again.returncode != 0 and "already exists" in again.stderr

        deleted = kinbase_cli(*database, "apps", "delete", "kid_HkI2u1vGZ", "--yes", cwd=tmp_path)
        assert deleted.returncode == 0, deleted.stderr
        deadline = time.monotonic() + 10
        while True:
            response = httpx.get(
                f"{server.url}/appdata/kid_HkI2u1vGZ", auth=("kid_HkI2u1vGZ", "legacy-secret")
            )
            if response.status_code == 404 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert response.status_code == 404 and response.json()["error"] == "AppNotFound"
    missing = kinbase_cli(*database, "apps", "delete", "kid_nope", "--yes", cwd=tmp_path)
    assert missing.returncode != 0 and "no app" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apps", "create", "X", "--app-key", "bad key!"], "The app key 'bad key!' is invalid"),
        (["apps", "create", "X", "--app-secret", "same", "--master-secret", "same"], "must differ"),
        (["apps", "show", "kid_missing"], "was not found"),
    ],
)
def test_cli_errors_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    result = kinbase_cli("--data-dir", str(tmp_path / "d"), *args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_configuration_error_stops_the_server(tmp_path: Path) -> None:
    result = kinbase_cli("serve", env={"KINBASE_PORT": "eighty"}, cwd=tmp_path)
    assert result.returncode != 0
    assert "setting 'port' (from $KINBASE_PORT): expected an integer" in result.stderr
    assert "Traceback" not in result.stderr
    bad_url = kinbase_cli("--database-url", "mysql://x", "migrate", cwd=tmp_path)
    assert bad_url.returncode != 0 and "is not supported" in bad_url.stderr


def test_migrate_and_settings(tmp_path: Path) -> None:
    migrated = kinbase_cli("--data-dir", str(tmp_path / "d"), "migrate", cwd=tmp_path)
    assert migrated.returncode == 0 and "up to date" in migrated.stdout
    shown = kinbase_cli("--data-dir", str(tmp_path / "d"), "settings", cwd=tmp_path)
    assert "port = 8080" in shown.stdout


def test_shared_options_also_follow_the_command_name(tmp_path: Path) -> None:
    """``kinbase CMD --data-dir D`` is ``kinbase --data-dir D CMD``; given in both places, the one
    after the command name wins."""
    here, there = str(tmp_path / "here"), str(tmp_path / "there")
    created = kinbase_cli(
        "--data-dir",
        there,
        "apps",
        "create",
        "After",
        "--app-key",
        "kid_after",
        "--data-dir",
        here,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert "kid_after" in kinbase_cli("--data-dir", here, "apps", "list", cwd=tmp_path).stdout
    assert "kid_after" not in kinbase_cli("apps", "list", "--data-dir", there, cwd=tmp_path).stdout
    shown = kinbase_cli("settings", "--data-dir", here, cwd=tmp_path)
    assert f"data_dir = '{here}'" in shown.stdout
    config = tmp_path / "kinbase.toml"
    config.write_text("port = 9191\n")
    assert "port = 9191" in kinbase_cli("settings", "--config", str(config), cwd=tmp_path).stdout


def test_serve_takes_the_data_dir_after_the_command_name(tmp_path: Path) -> None:
    data = tmp_path / "served"
    port = free_port()
    result = kinbase_cli(
        "serve", "--data-dir", str(data), "--port", str(port), env={"KINBASE_HOST": "256.0.0.1"}, cwd=tmp_path
    )
    # The bad host stops the server after the first start has created its database in ``data``.
    assert result.returncode != 0
    assert "kid_" in kinbase_cli("--data-dir", str(data), "apps", "list", cwd=tmp_path).stdout


def test_files_commands(tmp_path: Path, database: list[str]) -> None:
    created = kinbase_cli(*database, "apps", "create", "Files", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = _creds(created.stdout)["key"]
    usage = kinbase_cli(*database, "files", "usage", key, cwd=tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.strip() == "used: 0 bytes; quota: none; largest file: 5368709120 bytes"
    collected = kinbase_cli(*database, "files", "gc", cwd=tmp_path)
    assert collected.returncode == 0, collected.stderr
    assert "0 orphaned files deleted" in collected.stdout
    missing = kinbase_cli(*database, "files", "usage", "kid_nope", cwd=tmp_path)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_apps_default_serves_an_app_at_v1(tmp_path: Path, database: list[str]) -> None:
    """A database whose apps were all made with ``apps create`` gets a ``/v1`` app, and another
    one later while the server runs."""
    for key in ("kid_first", "kid_second"):
        made = kinbase_cli(*database, "apps", "create", key, "--app-key", key, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
    missing = kinbase_cli(*database, "apps", "default", "kid_missing", cwd=tmp_path)
    assert missing.returncode != 0 and "was not found" in missing.stderr
    chosen = kinbase_cli(*database, "apps", "default", "kid_first", cwd=tmp_path)
    assert chosen.returncode == 0 and "kid_first" in chosen.stdout, chosen.stderr
    with run_server(*database, workdir=tmp_path) as server:
        assert "app secret" not in server.log(), "no Default app was created: one was chosen"
        for key in ("kid_first", "kid_second"):
            account = {"data": {"password": "pw"}}
            r = httpx.put(f"{server.url}/kinto/{key}/v1/accounts/{key}-user", json=account)
            assert r.status_code == 201, r.text
        r = httpx.get(f"{server.url}/v1/accounts/kid_first-user", auth=("kid_first-user", "pw"))
        assert r.status_code == 200 and r.json()["data"]["id"] == "kid_first-user"
        switched = kinbase_cli(*database, "apps", "default", "kid_second", cwd=tmp_path)
        assert switched.returncode == 0, switched.stderr
        deadline = time.monotonic() + 10
        while True:
            r = httpx.get(f"{server.url}/v1/accounts/kid_second-user", auth=("kid_second-user", "pw"))
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        r = httpx.get(f"{server.url}/v1/accounts/kid_first-user", auth=("kid_first-user", "pw"))
        assert r.status_code == 401
