"""Starting kinbase (either engine, N workers, this checkout or ``--before-src``), the real Kinto
26.5.0 (PostgreSQL, uWSGI with 3 processes, the setup of ``kinto_compare.py``) and the raw ASGI
ceiling (a hello-world returning fixed bytes on kinbase's server stack)."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.common import PG_ADMIN, VENV_PYTHON, WORK, Server, free_port, fresh_database
from kinto_compare import KINTO_INI, KINTO_WSGI, ensure_kinto_venv

KINVEY_APP = "kid_bench"
POOL_MAX = 8
"""``postgres_pool_max`` of every kinbase server of the suite (the default is 16)."""
KINTO_CONFIG = "[kinto]\naccount_write_principals = ['account:admin']\nhistory = false\n"


@dataclass
class KinbaseStore:
    """The database one or more kinbase servers share (an SQLite data dir or a PostgreSQL database)."""

    engine: str
    label: str
    src: Path | None = None
    data_dir: Path | None = None
    database_url: str = ""
    app_secret: str = ""
    master_secret: str = ""

    def env(self) -> dict[str, str]:
        env = {
            "KINBASE_LOG_LEVEL": "warning",
            "KINBASE_DATA_DIR": str(self.data_dir),
            # the login workload measures the hash: no verified-password cache (Kinvey only)
            "KINBASE_PASSWORD_CACHE_SECONDS": "0",
        }
        if self.database_url:
            env["KINBASE_DATABASE_URL"] = self.database_url
            # Every PostgreSQL server of the suite shares one PostgreSQL (max_connections 100 here):
            # four kinbase workers at the default 16 (+ 8 planned + the listener) with Parse and
            # Kinto's uWSGI processes ran out of connections ("too many clients"). 8 + 4 per
            # worker leave room for all; wrk's 32 connections queue in the pool either way.
            env["KINBASE_POSTGRES_POOL_MAX"] = str(POOL_MAX)
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src / "src")
        return env

    def cli(self, *args: str, timeout: float = 3600) -> str:
        command = [str(VENV_PYTHON), "-m", "kinbase", "--config", str(self.config), *args]
        done = subprocess.run(
            command, env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"kinbase {' '.join(args)} failed: {done.stdout[-500:]} {done.stderr[-2000:]}")
        return done.stdout

    @property
    def config(self) -> Path:
        return WORK / f"kinbase-{self.label}.toml"

    def version(self) -> str:
        code = "import kinbase, sys; sys.stdout.write(kinbase.__version__)"
        out = subprocess.run(
            [str(VENV_PYTHON), "-c", code], env={**os.environ, **self.env()}, capture_output=True, text=True
        )
        where = self.src if self.src is not None else Path("checkout")
        return f"kinbase {out.stdout.strip()} ({where.name})"


def create_store(engine: str, label: str, src: Path | None) -> KinbaseStore:
    """A fresh database; :func:`create_app` adds the Kinvey app once a server made the default app."""
    store = KinbaseStore(engine, label, src)
    store.data_dir = WORK / f"data-{label}"
    subprocess.run(["rm", "-rf", str(store.data_dir)], check=True)
    store.data_dir.mkdir(parents=True)
    if engine == "postgresql":
        store.database_url = f"{PG_ADMIN}/{fresh_database('kinbase_bench')}"
    store.config.write_text(KINTO_CONFIG)
    return store


def create_app(store: KinbaseStore) -> None:
    """The Kinvey app ``kid_bench`` with random secrets (after the first start: the Kinto API at /v1
    serves the default app, which the first start creates only on an empty database)."""
    store.app_secret, store.master_secret = secrets.token_hex(12), secrets.token_hex(12)
    store.cli(
        "apps",
        "create",
        "Bench",
        "--app-key",
        KINVEY_APP,
        "--app-secret",
        store.app_secret,
        "--master-secret",
        store.master_secret,
    )


def start_kinbase(store: KinbaseStore, name: str, workers: int = 1) -> tuple[Server, str]:
    """``kinbase serve`` on ``store``; returns the server and its base URL."""
    port = free_port()
    command = [str(VENV_PYTHON), "-m", "kinbase", "--config", str(store.config), "serve"]
    command += ["--port", str(port), "--workers", str(workers)]
    server = Server(name, command, env=store.env())
    base = f"http://127.0.0.1:{port}"
    server.wait_http(base + "/healthz")
    return server, base


def start_kinto() -> tuple[Server, str, str, str]:
    """The real Kinto on a fresh PostgreSQL database under uWSGI; returns server, /v1 URL, version
    and the database's name."""
    venv = ensure_kinto_venv()
    database = fresh_database("kinto_bench")
    url = f"{PG_ADMIN}/{database}"
    port = free_port()
    ini, wsgi = WORK / "kinto.ini", WORK / "kinto-app.wsgi"
    wsgi.write_text(KINTO_WSGI)
    ini.write_text(KINTO_INI.format(url=url, secret=secrets.token_hex(32), port=port, wsgi=wsgi))
    subprocess.run(
        [str(venv / "bin" / "kinto"), "migrate", "--ini", str(ini)], check=True, capture_output=True
    )
    command = [str(venv / "bin" / "uwsgi"), "--ini", str(ini), "--die-on-term"]
    server = Server("kinto", command, env={"KINTO_INI": str(ini)})
    base = f"http://127.0.0.1:{port}/v1"
    server.wait_http(base + "/__heartbeat__")
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import kinto; print(kinto.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return server, base, f"Kinto {version} (PostgreSQL, uWSGI 3 processes)", database


CEILING_APP = """\
BODY = {body!r}
HEADERS = {headers!r}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({{"type": "lifespan.startup.complete"}})
            elif message["type"] == "lifespan.shutdown":
                await send({{"type": "lifespan.shutdown.complete"}})
                return
    await send({{"type": "http.response.start", "status": 200, "headers": HEADERS}})
    await send({{"type": "http.response.body", "body": BODY}})
"""


def start_ceiling(body: bytes, headers: dict[str, str]) -> tuple[Server, str]:
    """A raw ASGI hello-world answering every request with ``body`` and ``headers`` (the bytes of a
    kinbase Kinvey GET by id), on uvicorn with uvloop and httptools, one worker, as kinbase runs."""
    kept = {k: v for k, v in headers.items() if k not in ("content-length", "date", "server", "connection")}
    pairs = [(k.encode(), v.encode()) for k, v in kept.items()]
    pairs.append((b"content-length", str(len(body)).encode()))
    (WORK / "ceiling_app.py").write_text(CEILING_APP.format(body=body, headers=pairs))
    port = free_port()
    command = [
        str(VENV_PYTHON),
        "-m",
        "uvicorn",
        "ceiling_app:app",
        "--app-dir",
        str(WORK),
        "--port",
        str(port),
    ]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    server = Server("asgi-ceiling", command)
    base = f"http://127.0.0.1:{port}"
    server.wait_http(base + "/")
    return server, base
