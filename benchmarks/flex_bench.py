"""Flex benchmark: a custom endpoint through kinbase vs the same Flex function called directly, and
a save into a collection with a pre-save hook vs one without, with the same load generator (wrk).

    .venv/bin/python benchmarks/flex_bench.py --kinds node,python --duration 5

For each kind of Flex service (the test service of ``tests/core/flex``: ``node`` is written with the
official ``kinvey-flex-sdk``, ``python`` with ``kinbase-flex``) one service process runs, and one
``kinbase serve`` (one worker, SQLite by default, ``--engine postgresql``) whose app declares:

- ``[endpoints.bench]`` bound to the service's ``echo`` function;
- ``[collections.hooked.hooks] pre_save`` bound to its ``preSave`` (adds ``stamped: true``);
- ``plain``, a collection without hooks.

Workloads (wrk, 2 threads, ``--connections``):

- **direct**: ``POST <service>/_flexFunctions/echo`` with the envelope and headers kinbase would send;
- **endpoint**: ``POST /rpc/KEY/custom/bench`` with a user's session (kinbase authenticates the
  session, reads the user name, calls the same function, renders its answer);
- **save plain** / **save hooked**: ``POST /appdata/KEY/plain|hooked`` ``{"n": 1}`` with the same
  session; the difference of the p50s is what the hook adds.

Every load is sent once and its answer checked first. Figures are for this machine under its load
at that moment (2 shared cores: wrk, kinbase and the service share them): read the ratios.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.flex_services import FLEX_SECRET, FlexProcess  # noqa: E402
from tests.support.server import kinbase_cli, run_server  # noqa: E402

PG_URL = os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

LUA = """
wrk.method = "POST"
wrk.body = [[{body}]]
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status, summary.requests))
end
"""

CONFIG = """
[flex_services.svc]
url = "{url}"
secret = "{secret}"

[endpoints.bench]
service = "svc"
function = "echo"

[collections.hooked.hooks]
pre_save = {{ service = "svc", function = "preSave" }}
"""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def lua(body: str, headers: dict[str, str]) -> str:
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = [[{v}]]" for k, v in headers.items())
    return LUA.format(body=body, headers=lines)


def wrk(url: str, script: str, duration: int, connections: int, workdir: Path) -> dict[str, float]:
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
    return {"rps": float(rps), "p50": float(p50), "p99": float(p99), "errors": int(errors), "n": int(total)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its children (seconds)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    ticks = 0
    for one in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def database_env(engine: str, workdir: Path) -> tuple[dict[str, str], str | None]:
    env = {"KINBASE_DATA_DIR": str(workdir / "data"), "KINBASE_LOG_LEVEL": "warning"}
    if engine == "sqlite":
        return env, None
    import psycopg
    from psycopg import sql as pgsql

    schema = f"kbench_flex_{os.getpid()}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    sep = "&" if "?" in PG_URL else "?"
    env["KINBASE_DATABASE_URL"] = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    return env, schema


def drop_schema(schema: str | None) -> None:
    if schema is None:
        return
    import psycopg
    from psycopg import sql as pgsql

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))


def run_kind(kind: str, args: argparse.Namespace, workdir: Path) -> list[tuple[str, dict[str, float]]]:
    service = FlexProcess(kind, workdir).start()
    env, schema = database_env(args.engine, workdir)
    try:
        key, secret, master = "kid_flexbench", secrets.token_hex(12), secrets.token_hex(12)
        created = kinbase_cli(
            "apps",
            "create",
            "Bench",
            "--app-key",
            key,
            "--app-secret",
            secret,
            "--master-secret",
            master,
            env=env,
        )
        assert created.returncode == 0, created.stderr
        config = workdir / "app.toml"
        config.write_text(CONFIG.format(url=service.url, secret=FLEX_SECRET))
        applied = kinbase_cli("apply", key, str(config), env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        with run_server(workdir=workdir, env=env) as server:
            base = server.url
            with httpx.Client(base_url=base, timeout=30) as http:
                app_auth = {"Authorization": basic(key, secret)}
                user = {"username": "bench", "password": "pw"}
                assert http.post(f"/user/{key}", json=user, headers=app_auth).status_code == 201
                login = http.post(f"/user/{key}/login", json=user, headers=app_auth).json()
                user_id, token = login["_id"], login["_kmd"]["authtoken"]
                session = {"Authorization": f"Kinvey {token}", "X-Kinvey-API-Version": "5"}
                # Every load once, checked.
                echoed = http.post(f"/rpc/{key}/custom/bench", json={}, headers=session)
                assert echoed.status_code == 200 and echoed.json()["userId"] == user_id, echoed.text
                hooked = http.post(f"/appdata/{key}/hooked", json={"n": 1}, headers=session)
                assert hooked.status_code == 201 and hooked.json()["stamped"] is True, hooked.text
                plain = http.post(f"/appdata/{key}/plain", json={"n": 1}, headers=session)
                assert plain.status_code == 201 and "stamped" not in plain.json(), plain.text
            metadata = {"_id": key, "appsecret": secret, "mastersecret": master, "baasUrl": base}
            direct_headers = {
                "Content-Type": "application/json",
                "X-Auth-Key": FLEX_SECRET,
                "X-Kinvey-App-Metadata": json.dumps(metadata),
                "X-Kinvey-Original-Request-Headers": json.dumps({"authorization": f"Kinvey {token}"}),
                "X-Kinvey-User-Id": user_id,
                "X-Kinvey-Username": "bench",
                "X-Kinvey-Environment-Id": key,
            }
            envelope = json.dumps(
                {"hookType": "customEndpoint", "method": "POST", "objectName": "bench", "body": {}},
                separators=(",", ":"),
            )
            direct_url = f"{service.url}/_flexFunctions/echo"
            reply = httpx.post(direct_url, content=envelope, headers=direct_headers)
            assert reply.status_code == 200 and reply.json()["response"]["body"]["userId"] == user_id, (
                reply.text
            )
            json_session = {**session, "Content-Type": "application/json"}
            loads = [
                ("direct", direct_url, lua(envelope, direct_headers)),
                ("endpoint", f"{base}/rpc/{key}/custom/bench", lua("{}", json_session)),
                ("save plain", f"{base}/appdata/{key}/plain", lua('{"n":1}', json_session)),
                ("save hooked", f"{base}/appdata/{key}/hooked", lua('{"n":1}', json_session)),
            ]
            results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in loads}
            assert service.process is not None
            pids = {"kinbase": server.process.pid, "service": service.process.pid}
            for _ in range(args.rounds):
                for name, url, script in loads:
                    before = {k: cpu_seconds(p) for k, p in pids.items()}
                    sample = wrk(url, script, args.duration, args.connections, workdir)
                    for k, p in pids.items():  # CPU ms per request: independent of the machine's load
                        sample[f"{k} cpu"] = (cpu_seconds(p) - before[k]) * 1000 / max(sample["n"], 1)
                    results[name].append(sample)
            # The median round of each load (by req/s).
            return [
                (name, sorted(samples, key=lambda s: s["rps"])[len(samples) // 2])
                for name, samples in results.items()
            ]
    finally:
        service.stop()
        drop_schema(schema)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--kinds", default="node,python", help="Flex services: node, python (comma-separated)"
    )
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (the median round is reported)")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    print(f"engine {args.engine}, wrk -t2 -c{args.connections} -d{args.duration}s, {args.rounds} round(s)")
    for kind in args.kinds.split(","):
        with tempfile.TemporaryDirectory(prefix=f"flexbench-{kind}-") as tmp:
            rows = dict(run_kind(kind, args, Path(tmp)))
        print(f"\nFlex service: {kind}")
        print(
            f"{'load':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
            f" {'kinbase CPU ms/req':>19} {'service CPU ms/req':>19}"
        )
        for name, r in rows.items():
            print(
                f"{name:<12} {r['rps']:>9.1f} {r['p50']:>8.2f} {r['p99']:>8.2f} {int(r['errors']):>7}"
                f" {r['kinbase cpu']:>19.2f} {r['service cpu']:>19.2f}"
            )
        ratio = rows["endpoint"]["rps"] / rows["direct"]["rps"]
        added = rows["save hooked"]["p50"] - rows["save plain"]["p50"]
        print(f"endpoint through kinbase / direct: {ratio:.2f}x (target >= 0.5x)")
        plain, hooked = rows["save plain"]["p50"], rows["save hooked"]["p50"]
        print(f"pre-save hook adds {added:.2f} ms at p50 ({plain:.2f} -> {hooked:.2f})")


if __name__ == "__main__":
    main()
