"""Benchmark: Kinvey login and authenticated GET by id under concurrent load, with wrk.

    .venv/bin/python benchmarks/kinvey_auth.py [--engine sqlite|postgresql] [--workers 1]
        [--duration 10] [--connections 32] [--rounds 1] [--before-src DIR]

Starts a real server (``kinbase serve``, default settings: argon2id t=5 m=7 MiB) on a free
port over a fresh database, creates an app, 50 users and 100 entities, then runs wrk against:

1. ``GET /appdata/:k/books/:id`` with ``Authorization: Kinvey <token>`` (session + ACL check),
2. ``GET /appdata/:k/books/:id`` with ``Basic username:password`` (API v5; cached verification),
3. ``POST /user/:k/login`` for one user (the verified-password cache makes repeats skip argon2),
4. ``POST /user/:k/login`` rotating over 49 other users (argon2 until each is cached).

Prints req/s and latency percentiles (p50, p99) per scenario (medians over ``--rounds``). With
``--before-src DIR`` (a kinbase source tree, e.g. ``git archive main src | tar -x -C DIR``) a second
server runs that tree side by side, scenarios alternate between the two within each round, and the
after / before ratio is printed: on a shared machine compare those ratios, not absolute figures.
wrk comes from Debian (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

LUA_LOGIN = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "{auth}"
local users = {{{users}}}
local i = 0
request = function()
  i = i + 1
  local name = users[(i % #users) + 1]
  return wrk.format(nil, nil, nil, '{{"username":"' .. name .. '","password":"pw"}}')
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status, summary.requests))
end
"""

LUA_GET = """
wrk.headers["Authorization"] = "{auth}"
wrk.headers["X-Kinvey-API-Version"] = "{version}"
local ids = {{{ids}}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/appdata/{key}/books/" .. ids[(i % #ids) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status, summary.requests))
end
"""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def wrk(
    url: str, script: str, duration: int, connections: int, workdir: Path
) -> tuple[float, float, float, int, int]:
    path = workdir / f"bench-{secrets.token_hex(4)}.lua"
    path.write_text(script)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "-s", str(path), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"RESULT (\S+) (\S+) (\S+) (\d+) (\d+)", out)
    assert found, out
    rps, p50, p99, errors, total = found.groups()
    return float(rps), float(p50), float(p99), int(errors), int(total)


class Target:
    """A running server over a fresh database, seeded with an app, 50 users and 100 entities."""

    def __init__(self, label: str, args: argparse.Namespace, src: Path | None, workdir: Path) -> None:
        self.label = label
        self.schema: str | None = None
        data = workdir / f"data-{label}"
        env = {**os.environ, "KINBASE_DATA_DIR": str(data), "KINBASE_LOG_LEVEL": "warning"}
        if src is not None:
            env["PYTHONPATH"] = str(src / "src")
        if args.engine == "postgresql":
            import psycopg
            from psycopg import sql as pgsql

            self.schema = f"kbench_{os.getpid()}_{label}"
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(self.schema)))
            sep = "&" if "?" in PG_URL else "?"
            env["KINBASE_DATABASE_URL"] = f"{PG_URL}{sep}options=-csearch_path%3D{self.schema}"
        kinbase = [sys.executable, "-m", "kinbase"]
        key, secret, master = "kid_bench", secrets.token_hex(12), secrets.token_hex(12)
        subprocess.run(
            [
                *kinbase,
                "apps",
                "create",
                "Bench",
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
        )
        port = 20000 + secrets.randbelow(20000)
        self.server = subprocess.Popen(
            [*kinbase, "serve", "--port", str(port), "--workers", str(args.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        app_auth = basic(key, secret)
        with httpx.Client(base_url=base, timeout=60) as http:
            names = [f"user{i}" for i in range(50)]
            for name in names:
                http.post(
                    f"/user/{key}",
                    json={"username": name, "password": "pw"},
                    headers={"Authorization": app_auth},
                )
            login = http.post(
                f"/user/{key}/login",
                json={"username": "user0", "password": "pw"},
                headers={"Authorization": app_auth},
            ).json()
            token = login["_kmd"]["authtoken"]
            ids = [
                http.post(
                    f"/appdata/{key}/books",
                    json={"n": n, "title": f"Book {n}", "pad": "x" * 200},
                    headers={"Authorization": f"Kinvey {token}"},
                ).json()["_id"]
                for n in range(100)
            ]
        quoted_ids = ",".join(f'"{i}"' for i in ids)
        self.scenarios = [
            (
                "GET by id, Kinvey session token",
                base,
                LUA_GET.format(auth=f"Kinvey {token}", version="6", key=key, ids=quoted_ids),
            ),
            (
                "GET by id, Basic username:password (v5)",
                base,
                LUA_GET.format(auth=basic("user0", "pw"), version="5", key=key, ids=quoted_ids),
            ),
            (
                "login, one user (cached verification)",
                f"{base}/user/{key}/login",
                LUA_LOGIN.format(auth=app_auth, users='"user0"'),
            ),
            (
                "login, 50 users rotating (argon2 when not cached)",
                f"{base}/user/{key}/login",
                LUA_LOGIN.format(auth=app_auth, users=",".join(f'"{n}"' for n in names[1:])),
            ),
        ]

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(timeout=15)
        if self.schema is not None:
            import psycopg
            from psycopg import sql as pgsql

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(
                    pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(self.schema))
                )


PG_URL = os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the order of the servers alternates")
    parser.add_argument("--before-src", type=Path, help="also run this kinbase source tree, side by side")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="kinbase-bench-"))
    targets: list[Target] = []
    try:
        if args.before_src is not None:
            targets.append(Target("before", args, args.before_src, workdir))
        targets.append(Target("after" if args.before_src is not None else "this", args, None, workdir))
        results: dict[tuple[str, str], list[tuple[float, float, float, int, int]]] = {}
        for round_ in range(args.rounds):
            for index, (name, _, _) in enumerate(targets[0].scenarios):
                order = targets if round_ % 2 == 0 else list(reversed(targets))
                for target in order:
                    _, url, script = target.scenarios[index]
                    results.setdefault((target.label, name), []).append(
                        wrk(url, script, args.duration, args.connections, workdir)
                    )
        print(
            f"engine={args.engine} workers={args.workers} connections={args.connections} "
            f"duration={args.duration}s rounds={args.rounds} (medians)"
        )
        print(f"{'scenario':52} {'server':7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
        for name, _, _ in targets[0].scenarios:
            rates = {}
            for target in targets:
                runs = results[(target.label, name)]
                rps = statistics.median(r[0] for r in runs)
                p50 = statistics.median(r[1] for r in runs)
                p99 = statistics.median(r[2] for r in runs)
                errors = sum(r[3] for r in runs)
                rates[target.label] = rps
                print(f"{name:52} {target.label:7} {rps:9.0f} {p50:8.2f} {p99:8.2f} {errors:8d}")
            if "before" in rates:
                print(f"{'':52} {'after / before':>16} {rates['after'] / (rates['before'] or 1.0):9.2f}x")
    finally:
        for target in targets:
            target.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
