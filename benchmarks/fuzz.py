"""The long schemathesis run of issue 16: both OpenAPI documents against a real server process.

    .venv/bin/python -m benchmarks.fuzz [--engines sqlite,postgresql] [--apis kinvey,kinto]
        [--responses 15000] [--examples 10] [--seed 1] [--minutes 600]

For each engine it starts ``kinbase serve`` (one worker) on a fresh database (SQLite in a temporary
directory; PostgreSQL in a private schema of ``$KINBASE_TEST_POSTGRES_URL``), creates an app, and
for each API seeds data and credentials (``tests/support/fuzzing.py``) and sends rounds of generated
requests (``--examples`` per operation and generation mode, a new hypothesis seed each round) until
``--responses`` responses came back. Then it stops the server, reads the response counts the
server logged at shutdown, and prints both sides: responses by status class, requests without a
response, the 5xx found (with a curl command each), conformance failures. Exit status 1 if any 5xx,
dropped connection or server-side failure was seen, or if fewer than 20 % of the responses were 2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import tempfile
import time
from pathlib import Path

import requests
import schemathesis

from kinbase.settings import load_settings
from kinbase.storage.base import AppRecord
from kinbase.storage.registry import create_storage
from tests.support import fuzzing
from tests.support.databases import database_args
from tests.support.server import run_server

SERVER_ENV = {
    "KINBASE_PASSWORD_HASH_TIME_COST": "1",
    "KINBASE_PASSWORD_HASH_MEMORY_KIB": "8",
    "KINBASE_LOGIN_MAX_FAILURES": "1000000",
    "KINBASE_LOGIN_DELAY_AFTER": "1000000",
    "KINBASE_LOGIN_ADDRESS_MAX_FAILURES": "1000000",
    "KINBASE_LOG_LEVEL": "info",
}


async def _create_app(args: list[str]) -> AppRecord:
    overrides = {"data_dir": args[1]} if args[0] == "--data-dir" else {"database_url": args[1]}
    storage = create_storage(load_settings(overrides=overrides))
    await storage.start()
    try:
        return await fuzzing.create_fuzz_app(storage)
    finally:
        await storage.stop()


def _run_api(api: str, url: str, app: AppRecord, opts: argparse.Namespace) -> fuzzing.Tally:
    session = requests.Session()
    http = fuzzing.Http(session, url)
    if api == "kinvey":
        seeds = fuzzing.seed_kinvey(http, app)
        schema = schemathesis.openapi.from_url(f"{url}/kinvey/__api__")
    else:
        base = f"/kinto/{app.key}/v1"
        seeds = fuzzing.seed_kinto(http, app, base)
        schema = schemathesis.openapi.from_url(f"{url}{base}/__api__")
    tally = fuzzing.Tally()
    started = time.monotonic()
    deadline = started + opts.minutes * 60 / len(opts.apis)
    round_ = 0
    while tally.responses < opts.responses and time.monotonic() < deadline:
        round_ += 1
        fuzzing.fuzz(
            schema,
            seeds,
            examples=opts.examples,
            seed=opts.seed * 1000 + round_,
            session=session,
            tally=tally,
            deadline=deadline,
        )
        print(f"  {api} round {round_}: {tally.summary()} ({time.monotonic() - started:.0f} s)", flush=True)
    tally.seeding = http.count
    return tally


def _server_counts(log: str) -> dict[str, int]:
    found = re.findall(r"responses: ((?:\w+=\d+ ?)+)", log)
    if not found:
        return {}
    return {k: int(v) for k, v in (pair.split("=") for pair in found[-1].split())}


def run_engine(engine: str, opts: argparse.Namespace) -> bool:
    ok = True
    with (
        tempfile.TemporaryDirectory() as tmp,
        contextlib.contextmanager(database_args)(engine, Path(tmp)) as args,
    ):
        app = asyncio.run(_create_app(args))
        with run_server(*args, workdir=Path(tmp), env=SERVER_ENV, startup_timeout=300) as server:
            tallies = {api: _run_api(api, server.url, app, opts) for api in opts.apis}
            server.process.terminate()
            server.process.wait(timeout=60)
            counts = _server_counts(server.log())
        print(f"== {engine}")
        client_total = 0
        for api, tally in tallies.items():
            share = tally.classes["2xx"] / max(tally.responses, 1)
            client_total += tally.responses + tally.dropped + tally.seeding
            print(f"  {api}: {tally.summary()}, 2xx {share:.1%}")
            worst = sorted(tally.by_operation.items(), key=lambda kv: kv[1]["2xx"] / sum(kv[1].values()))
            for op, classes in worst[:12]:
                print(f"    fewest 2xx: {op} {dict(classes)}: {tally.refusals.get(op, [])}")
            for line in tally.server_errors[:50]:
                print("    5xx/dropped:", line[:1000])
            for name, n in tally.conformance.most_common():
                print(f"    conformance: {n} x {name}\n      {tally.conformance_examples[name][:400]}")
            ok = ok and tally.classes["5xx"] == 0 and tally.dropped == 0 and share >= 0.2
        print(f"  server (at shutdown): {counts} (clients sent {client_total} requests)")
        bad = counts.get("5xx", 1) + counts.get("failed", 1) + counts.get("disconnected", 1)
        ok = ok and bad == 0
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--apis", default="kinvey,kinto")
    parser.add_argument("--responses", type=int, default=15000, help="responses per API and engine")
    parser.add_argument("--examples", type=int, default=10, help="per operation, mode and round")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--minutes",
        type=float,
        default=600,
        help="stop each engine's run after this long (shared by the APIs)",
    )
    opts = parser.parse_args()
    opts.apis = opts.apis.split(",")
    results = {engine: run_engine(engine, opts) for engine in opts.engines.split(",")}
    print("result:", ", ".join(f"{e} {'ok' if ok else 'FAILED'}" for e, ok in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
