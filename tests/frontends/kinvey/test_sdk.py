"""The official Kinvey JavaScript SDKs against a real kinbase server (uvicorn in a subprocess).

``tests/node`` pins ``kinvey-node-sdk@3.12.5`` (the legacy SDK with ``apiHostname``, API v4) and
the core ``kinvey-js-sdk@7.0.0`` (API v6, pointed at kinbase through an ``httpAdapter``). ``npm ci``
runs once per lock-file version (shared by the xdist workers through a file lock). A missing Node
or npm fails these tests; it never skips them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql as pgsql

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
POSTGRES_URL = os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def node_modules() -> Path:
    lock = NODE_DIR / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    marker = NODE_DIR / "node_modules" / ".kinbase-installed"
    with (NODE_DIR / ".npm-install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not marker.exists() or marker.read_text() != digest:
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
                timeout=600,
            )
            marker.write_text(digest)
    return NODE_DIR / "node_modules"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, key: str, secret: str, master: str) -> None:
        self.url, self.key, self.secret, self.master = url, key, secret, master


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("sdk-server")
    env = {**os.environ, "KINBASE_DATA_DIR": str(data), "KINBASE_LOG_LEVEL": "warning"}
    env.pop("KINBASE_CONFIG", None)
    schema = ""
    if request.param == "postgresql":
        schema = f"kbt_sdk_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))
            conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
        sep = "&" if "?" in POSTGRES_URL else "?"
        env["KINBASE_DATABASE_URL"] = f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    key, secret, master = "kid_" + secrets.token_hex(6), secrets.token_hex(12), secrets.token_hex(12)
    kinbase = [sys.executable, "-m", "kinbase"]
    subprocess.run(
        [
            *kinbase,
            "apps",
            "create",
            "SDK",
            "--app-key",
            key,
            "--app-secret",
            secret,
            "--master-secret",
            master,
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = _free_port()
    log = (data / "server.log").open("w")
    proc = subprocess.Popen([*kinbase, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (data / "server.log").read_text()
            time.sleep(0.1)
        yield Server(url, key, secret, master)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
        if schema:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))


def _run(script: str, server: Server) -> list[str]:
    env = {
        **os.environ,
        "KINBASE_URL": server.url,
        "APP_KEY": server.key,
        "APP_SECRET": server.secret,
        "MASTER_SECRET": server.master,
    }
    done = subprocess.run(
        ["node", script], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_legacy_node_sdk(node_modules: Path, server: Server) -> None:
    """kinvey-node-sdk 3.12.5: ping, users, CRUD, query, count, group, ACLs, Sync store + delta set,
    ``Query.near`` in miles, ``User.lookup``."""
    lines = _run("legacy.js", server)
    assert lines[-1].startswith('{"name":"done","ok":true')


def test_core_js_sdk_with_http_adapter(node_modules: Path, server: Server) -> None:
    """kinvey-js-sdk 7 through the README's httpAdapter: sign-up, login, me, CRUD, multi-insert,
    query with sort/limit/skip, count and remove by query, group, ``Query.near`` in miles, files
    (upload through the resumable URL, download, find, removeById), logout."""
    lines = _run("modern.js", server)
    assert lines[-1] == '{"name":"logout","ok":true}'


def test_node_sdk_files(node_modules: Path, server: Server) -> None:
    """kinvey-node-sdk 3.12.5's Files API: upload through the resumable upload URL, stream,
    download, find with a query, replace, removeById."""
    lines = _run("files.js", server)
    assert lines[-1] == '{"name":"done","ok":true}'
