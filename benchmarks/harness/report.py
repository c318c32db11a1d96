"""Medians, ratios, the issue-20 targets, the machine description, and the generated blocks of
``docs/performance.md`` (``<!-- generated: NAME -->`` ... ``<!-- end -->``; the text around them is
written by hand and kept)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.common import median
from harness.kinto import WORKLOADS as KINTO_WORKLOADS
from harness.kinvey import PEER_WORKLOADS
from harness.kinvey import WORKLOADS as KINVEY_WORKLOADS

NAMES = {**KINVEY_WORKLOADS, **KINTO_WORKLOADS}
Summary = dict[str, dict[str, dict[str, Any]]]


def summarize(samples: dict[str, dict[str, list[dict[str, Any]]]]) -> Summary:
    """Per target and workload: medians of rps, p50, p99 and wrk's CPU; sums of the error counts."""
    out: Summary = {}
    for target, by_key in samples.items():
        for key, rows in by_key.items():
            if not rows:
                continue
            out.setdefault(target, {})[key] = {
                "rps": median([r["rps"] for r in rows]),
                "p50_ms": median([r["p50_ms"] for r in rows]),
                "p99_ms": median([r["p99_ms"] for r in rows]),
                "wrk_cpu": median([r["wrk_cpu"] for r in rows]),
                "rounds": [round(r["rps"], 1) for r in rows],
                "non2xx": sum(r["non2xx"] for r in rows),
                "socket_errors": sum(r["socket_errors"] for r in rows),
                "requests": sum(r["requests"] for r in rows),
                "lost": sum(r.get("lost", 0) for r in rows),
                "acknowledged": sum(r.get("acknowledged", 0) for r in rows),
                "unacknowledged_stored": sum(r.get("unacknowledged_stored", 0) for r in rows),
            }
    return out


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def cell(s: dict[str, Any] | None) -> str:
    if s is None:
        return "-"
    text = f"{_n(s['rps'])} ({s['p50_ms']:.3g} / {s['p99_ms']:.3g} ms)"
    if s["non2xx"] or s["socket_errors"]:
        text += f" ⚠ {s['non2xx']} non-2xx, {s['socket_errors']} socket errors"
    return text


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if a is None or b is None or not b["rps"]:
        return None
    return float(a["rps"] / b["rps"])


def rtext(value: float | None, goal: float | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.2f}x"
    return f"**{text}**" if goal is not None and value < goal else text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def kinvey_tables(s: Summary) -> list[str]:
    sq, pg, pb, pa = (s.get(n, {}) for n in ("kinbase-sqlite", "kinbase-postgresql", "pocketbase", "parse"))
    rows = []
    for key in PEER_WORKLOADS:
        if key in sq or key in pg:
            rows.append(
                [
                    NAMES[key],
                    cell(sq.get(key)),
                    cell(pb.get(key)),
                    rtext(ratio(sq.get(key), pb.get(key)), 1),
                    cell(pg.get(key)),
                    cell(pa.get(key)),
                    rtext(ratio(pg.get(key), pa.get(key)), 2),
                ]
            )
    out = ["### Kinvey API with a user session and ACLs vs PocketBase and Parse Server", ""]
    out += _table(
        [
            "workload",
            "kinbase SQLite",
            "PocketBase",
            "ratio (goal ≥ 1)",
            "kinbase PG",
            "Parse Server",
            "ratio (goal ≥ 2)",
        ],
        rows,
    )
    extra = [k for k in KINVEY_WORKLOADS if k not in PEER_WORKLOADS and (k in sq or k in pg)]
    if extra:
        out += ["", "### Kinvey API, kinbase only", ""]
        out += _table(
            ["workload", "kinbase SQLite", "kinbase PG"],
            [[NAMES[k], cell(sq.get(k)), cell(pg.get(k))] for k in extra],
        )
    return out


def kinto_table(s: Summary) -> list[str]:
    kt, sq, pg = (s.get(n, {}) for n in ("kinto", "kinbase-sqlite", "kinbase-postgresql"))
    rows = []
    for key in KINTO_WORKLOADS:
        if key not in kt and key not in sq and key not in pg:
            continue
        base = kt.get(key)
        p99 = [
            f"{name} {'yes' if x[key]['p99_ms'] < base['p50_ms'] else '**no**'}"
            for name, x in (("SQLite", sq), ("PG", pg))
            if base and key in x
        ]
        rows.append(
            [
                NAMES[key],
                cell(base),
                cell(sq.get(key)),
                rtext(ratio(sq.get(key), base), 10),
                cell(pg.get(key)),
                rtext(ratio(pg.get(key), base), 5),
                ", ".join(p99) or "-",
            ]
        )
    if not rows:
        return []
    out = ["### Kinto API vs the real Kinto", ""]
    out += _table(
        [
            "workload",
            "Kinto",
            "kinbase SQLite",
            "ratio (goal ≥ 10)",
            "kinbase PG",
            "ratio (goal ≥ 5)",
            "p99 < Kinto p50",
        ],
        rows,
    )
    writes = [
        (n, x["kt-writers"])
        for n, x in (("Kinto", kt), ("kinbase SQLite", sq), ("kinbase PG", pg))
        if "kt-writers" in x
    ]
    if writes:
        out += [
            "",
            "16 concurrent writers, summed over the rounds (refused = answered ≥ 400 or a socket error; "
            "lost = acknowledged 2xx but not in the collection afterwards):",
            "",
        ]
        out += _table(
            [
                "server",
                "requests",
                "acknowledged",
                "refused",
                "socket errors",
                "lost",
                "stored without acknowledgement",
            ],
            [
                [
                    n,
                    f"{w['requests']:,}",
                    f"{w['acknowledged']:,}",
                    f"{w['non2xx']:,}",
                    f"{w['socket_errors']:,}",
                    f"{w['lost']:,}",
                    f"{w['unacknowledged_stored']:,}",
                ]
                for n, w in writes
            ],
        )
    return out


def ceiling_workers_tables(s: Summary) -> list[str]:
    out: list[str] = []
    ceiling = s.get("asgi-ceiling", {}).get("kv-get")
    if ceiling:
        out += ["### Kinvey GET by id vs the raw ASGI ceiling (same bytes, same server stack)", ""]
        rows = [
            [
                "raw ASGI hello-world (uvicorn, uvloop, httptools, 1 worker)",
                cell(ceiling),
                "1.00x",
                f"{ceiling['wrk_cpu']:.2f}",
            ]
        ]
        for name in ("kinbase-sqlite", "kinbase-postgresql"):
            got = s.get(name, {}).get("kv-get")
            if got:
                rows.append(
                    [
                        f"{name}, session + ACL check",
                        cell(got),
                        rtext(ratio(got, ceiling), 0.35),
                        f"{got['wrk_cpu']:.2f}",
                    ]
                )
        out += _table(
            ["server", "req/s (p50 / p99)", "of the ceiling (goal ≥ 0.35)", "wrk CPU (cores)"], rows
        )
    rows = []
    for key in ("kv-get", "kv-list", "kv-filter", "kt-get", "kt-list", "kt-filter"):
        for engine in ("sqlite", "postgresql"):
            one, two = s.get(f"kinbase-{engine}", {}).get(key), s.get(f"kinbase-{engine}-2w", {}).get(key)
            if one and two:
                rows.append(
                    [
                        NAMES[key],
                        engine,
                        cell(one),
                        cell(two),
                        rtext(ratio(two, one), 1.5),
                        f"{one['wrk_cpu']:.2f} / {two['wrk_cpu']:.2f}",
                    ]
                )
    if rows:
        out += ["", "### `kinbase serve --workers 2` vs 1 on the read workloads", ""]
        out += _table(
            ["workload", "engine", "1 worker", "2 workers", "2 / 1 (goal ≥ 1.5)", "wrk CPU 1w / 2w"], rows
        )
    return out


def before_table(s: Summary) -> list[str]:
    rows = []
    for engine in ("sqlite", "postgresql"):
        before, after = s.get(f"kinbase-{engine}@before", {}), s.get(f"kinbase-{engine}", {})
        for key in NAMES:
            if key in before and key in after:
                rows.append(
                    [
                        NAMES[key],
                        engine,
                        cell(before[key]),
                        cell(after[key]),
                        rtext(ratio(after[key], before[key])),
                    ]
                )
    if not rows:
        return []
    return [
        "### This checkout vs `--before-src`",
        "",
        *_table(["workload", "engine", "before", "after", "after / before"], rows),
    ]


def machine(load_before: tuple[float, ...], load_after: tuple[float, ...], load_max: float) -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    lavg = " / ".join(f"{x:.2f}" for x in load_before)
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM; Linux {platform.release()}; "
        f"Python {platform.python_version()}",
        f"- load average (1/5/15 min) before: {lavg}; after: {' / '.join(f'{x:.2f}' for x in load_after)}; "
        f"highest 1-min value sampled between workloads: {load_max:.2f}",
    ]


def versions(targets: dict[str, str]) -> list[str]:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    found = re.search(r"wrk (\S+)", wrk.stdout + wrk.stderr)
    lines = [f"- {name}: {version}" for name, version in targets.items()]
    return [*lines, f"- load generator: wrk {found.group(1) if found else '?'} (same machine, same cores)"]


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


def targets_met(s: Summary) -> list[str]:
    """The issue-20 targets this run can judge, each met or not, with the measured value."""
    out: list[str] = []

    def line(ok: bool, text: str) -> None:
        out.append(f"- {'met' if ok else '**not met**'}: {text}")

    for engine, peer, goal in (("sqlite", "pocketbase", 1.0), ("postgresql", "parse", 2.0)):
        ours, theirs = s.get(f"kinbase-{engine}", {}), s.get(peer, {})
        for key in PEER_WORKLOADS:
            r = ratio(ours.get(key), theirs.get(key))
            if r is not None:
                line(r >= goal, f"Kinvey {NAMES[key]}, kinbase {engine} / {peer} = {r:.2f} (goal ≥ {goal:g})")
        for key in ("kv-list", "kv-filter", "kv-list-noidx", "kv-filter-noidx", "kv-big"):
            got = ours.get(key)
            if got:
                spread = got["p99_ms"] / max(got["p50_ms"], 1e-9)
                line(spread <= 5, f"Kinvey {NAMES[key]} on {engine}: p99 / p50 = {spread:.1f} (goal ≤ 5)")
    kt = s.get("kinto", {})
    for engine, goal in (("sqlite", 10.0), ("postgresql", 5.0)):
        ours = s.get(f"kinbase-{engine}", {})
        for key in KINTO_WORKLOADS:
            r = ratio(ours.get(key), kt.get(key))
            if r is not None:
                line(r >= goal, f"Kinto {NAMES[key]}, kinbase {engine} / Kinto = {r:.1f} (goal ≥ {goal:g})")
                p99, p50 = ours[key]["p99_ms"], kt[key]["p50_ms"]
                line(
                    p99 < p50,
                    f"Kinto {NAMES[key]} on {engine}: kinbase p99 {p99:.3g} ms < Kinto p50 {p50:.3g} ms",
                )
        writes = ours.get("kt-writers")
        if writes:
            refused = writes["non2xx"] + writes["socket_errors"]
            line(
                refused == 0 and writes["lost"] == 0,
                f"16 writers on {engine}: {refused} refused, {writes['lost']} lost "
                f"of {writes['acknowledged']:,} acknowledged",
            )
    ceiling = s.get("asgi-ceiling", {}).get("kv-get")
    for engine in ("sqlite", "postgresql"):
        r = ratio(s.get(f"kinbase-{engine}", {}).get("kv-get"), ceiling)
        if r is not None:
            line(r >= 0.35, f"Kinvey GET by id on {engine} / raw ASGI ceiling = {r:.2f} (goal ≥ 0.35)")
    for engine in ("sqlite", "postgresql"):
        for key in READS_2W:
            r = ratio(s.get(f"kinbase-{engine}-2w", {}).get(key), s.get(f"kinbase-{engine}", {}).get(key))
            if r is not None:
                line(r >= 1.5, f"2 workers / 1 on {engine}, {NAMES[key]} = {r:.2f} (goal ≥ 1.5)")
    return out


READS_2W = ("kv-get", "kv-list", "kv-filter", "kt-get", "kt-list", "kt-filter")


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
    for part in (kinvey_tables(s), kinto_table(s), ceiling_workers_tables(s), before_table(s)):
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
    out += ["", "### Targets of issue 20 judged by this run", "", *targets_met(s)]
    return out
