"""The long fault runs of issue 16 against a real server process.

    .venv/bin/python -m benchmarks.faults [--only terminate,disk] [--seconds 60] [--interval 2]

``terminate``: a server on PostgreSQL (a private schema of ``$KINBASE_TEST_POSTGRES_URL``), three
readers and two writers over HTTP, and every ``--interval`` seconds each of the server's database
connections terminated with ``pg_terminate_backend``, for ``--seconds``; then every acknowledged
write is read back. ``disk``: the server on SQLite in a 32 MB tmpfs (root only) filled by writes
until they are refused, reads meanwhile, an integrity check, then space freed and writes again.
Exit status 1 when a read failed, a write failed otherwise than as a clean 503, or an acknowledged
write was lost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.support import faults


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="terminate,disk")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=2)
    opts = parser.parse_args()
    ok = True
    for kind in opts.only.split(","):
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


if __name__ == "__main__":
    sys.exit(main())
