"""The long fault runs of issue 16 against a real server process.

    .venv/bin/python -m benchmarks.faults [--only terminate,disk,redis] [--seconds 60] [--interval 2]
        [--rounds 5] [--engines sqlite,postgresql]

``terminate``: a server on PostgreSQL (a private schema of ``$KINBASE_TEST_POSTGRES_URL``), three
readers and two writers over HTTP, and every ``--interval`` seconds each of the server's database
connections terminated with ``pg_terminate_backend``, for ``--seconds``; then every acknowledged
write is read back. ``disk``: the server on SQLite in a 32 MB tmpfs (root only) filled by writes
until they are refused, reads meanwhile, an integrity check, then space freed and writes again.
``redis``: two servers on one database (each of ``--engines``) with a private Redis for their
invalidations, reads and writes on both, and the Redis killed and started again ``--rounds``
times; a change through one server checked on the other before, during and after each outage.
Exit status 1 when a read failed, a write failed otherwise than as a clean 503 (``redis``: at
all), an acknowledged write was lost, or (``redis``) a stale answer or a 5xx was counted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.support import faults, redis_restart


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="terminate,disk")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", default="sqlite,postgresql")
    opts = parser.parse_args()
    ok = True
    for kind in opts.only.split(","):
        if kind == "redis":
            for engine in opts.engines.split(","):
                ok = _redis(engine, opts.rounds) and ok
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if kind == "terminate":
                report = faults.terminate_under_load(Path(tmp), seconds=opts.seconds, interval=opts.interval)
            else:
                report = faults.fill_the_disk(Path(tmp), size_mb=32)
        print(f"{kind}: {report.summary()}")
        if kind == "disk":
            print(
                f"  integrity_check: {report.integrity}; "
                f"writes after freeing space: {report.writes_after_freeing}/5"
            )
        for line in (report.failed_reads + report.unclean_writes + report.lost)[:20]:
            print("  ", line)
        ok = ok and not (report.failed_reads or report.unclean_writes or report.lost)
        ok = ok and (kind != "disk" or (report.integrity == "ok" and report.writes_after_freeing == 5))
    print("result:", "ok" if ok else "FAILED")
    return 0 if ok else 1


def _redis(engine: str, rounds: int) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        report = redis_restart.restart_redis_under_load(Path(tmp), engine=engine, rounds=rounds)
    print(f"redis ({engine}): {report.summary()}")
    for line in report.server_counts:
        print("  server", line)
    problems = report.failed_reads + report.unclean_writes + report.stale + report.lost
    for line in problems[:20]:
        print("  ", line)
    return not problems and report.refused_writes == 0 and report.server_5xx == 0


if __name__ == "__main__":
    sys.exit(main())
