"""The generated blocks of ``docs/performance.md`` (``<!-- generated: NAME -->`` ... ``<!-- end -->``;
the text around them is written by hand and kept): :func:`full` assembles a suite run's block from
:mod:`.tables` (medians, ratios, cores), :mod:`.machine` (the machine and the versions) and :mod:`.goals`
(the issue-20 targets met or not, and their bounds). The names the suite and its tests use are
re-exported here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.goals import Goal, bound, judge, targets_met, unmet
from harness.machine import machine, versions
from harness.tables import (
    Summary,
    before_table,
    ceiling_workers_tables,
    cores,
    cores_table,
    kinto_table,
    kinvey_tables,
    summarize,
)

__all__ = [
    "Goal",
    "Summary",
    "bound",
    "cores",
    "full",
    "judge",
    "summarize",
    "targets_met",
    "unmet",
    "write_block",
]


def write_block(path: Path, name: str, lines: list[str]) -> None:
    """Replace the generated block ``name`` of ``path`` (appended at the end when missing)."""
    text = path.read_text() if path.exists() else "# Performance\n"
    start, end = f"<!-- generated: {name} -->", "<!-- end -->"
    block = start + "\n" + "\n".join(lines).rstrip() + "\n" + end
    if start in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def full(
    s: Summary,
    targets: list[Any],
    args: Any,
    started: str,
    load_before: tuple[float, ...],
    load_after: tuple[float, ...],
    load_max: float,
) -> list[str]:
    """The generated block of a suite run."""
    command = "benchmarks/suite.py " + " ".join(sys.argv[1:])
    out = [
        f"Run of `{command.strip()}` started {started}: {args.rounds} interleaved round(s) of "
        f"{args.duration:g} s per workload and server, wrk -t{args.threads} -c{args.connections} "
        "(Kinto workloads -c16); medians of the rounds; a cell is req/s (p50 / p99 ms).",
        "",
        *machine(load_before, load_after, load_max),
        *versions({t.name: t.version for t in targets}),
        "",
    ]
    for part in (
        kinvey_tables(s),
        kinto_table(s),
        ceiling_workers_tables(s),
        before_table(s),
        cores_table(s),
    ):
        if part:
            out += [*part, ""]
    counts = {t.name: t.facts for t in targets if t.facts}
    out += [
        "### Checks",
        "",
        "- data loaded (counts per `status`, identical on every server): "
        + "; ".join(f"{n}: {f}" for n, f in counts.items()),
    ]
    errors = [
        f"{t}/{k}: {v['non2xx']} non-2xx, {v['socket_errors']} socket errors"
        for t, by in s.items()
        for k, v in by.items()
        if v["non2xx"] or v["socket_errors"]
    ]
    out.append("- responses other than 2xx, and socket errors: " + ("; ".join(errors) if errors else "none"))
    hit = [
        f"{t}/{k}: {v['checkpoints']}" for t, by in s.items() for k, v in by.items() if v.get("checkpoints")
    ]
    out.append(
        "- PostgreSQL checkpoints during a sample (a `CHECKPOINT` precedes each sample of a server on"
        " PostgreSQL): " + ("; ".join(hit) if hit else "none")
    )
    out += [
        "",
        "### Targets of issue 20 judged by this run",
        "",
        "Under each unmet target its bound, from the cores each process kept busy (medians of the rounds:"
        " kinbase = every process of the server, postgres = the backends of its database, wrk, and the"
        " rest of the machine) and the CPU each request cost.",
        "",
        *targets_met(s, args.threads),
    ]
    return out
