"""Medians, ratios, the issue-20 targets, the machine description, and the generated blocks of
``docs/performance.md`` (``<!-- generated: NAME -->`` ... ``<!-- end -->``; the text around them is
written by hand and kept)."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.common import median
from harness.kinto import WORKLOADS as KINTO_WORKLOADS
from harness.kinvey import PEER_WORKLOADS
from harness.kinvey import WORKLOADS as KINVEY_WORKLOADS

NAMES = {**KINVEY_WORKLOADS, **KINTO_WORKLOADS}
Summary = dict[str, dict[str, dict[str, Any]]]


def summarize(samples: dict[str, dict[str, list[dict[str, Any]]]]) -> Summary:
    """Per target and workload: medians of rps, p50, p99 and the cores busy (server, database, wrk,
    machine); sums of the error counts."""
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
                "server_cpu": median([r.get("server_cpu", 0.0) for r in rows]),
                "db_cpu": median([r.get("db_cpu", 0.0) for r in rows]),
                "machine_cpu": median([r.get("machine_cpu", 0.0) for r in rows]),
                "server_wait": median([r.get("server_wait", 0.0) for r in rows]),
                "db_wait": median([r.get("db_wait", 0.0) for r in rows]),
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
                cores(ceiling),
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
                        cores(got),
                    ]
                )
        out += _table(["server", "req/s (p50 / p99)", "of the ceiling (goal ≥ 0.35)", CORES], rows)
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
                        f"{cores(one)} → {cores(two)}",
                    ]
                )
    if rows:
        out += ["", "### `kinbase serve --workers 2` vs 1 on the read workloads", ""]
        out += _table(
            ["workload", "engine", "1 worker", "2 workers", "2 / 1 (goal ≥ 1.5)", f"{CORES}, 1w → 2w"],
            rows,
        )
    return out


CORES = "cores busy: server / db / wrk (machine)"
CORE_COLUMNS = (
    ("kinbase-sqlite", "kinbase SQLite"),
    ("kinbase-postgresql", "kinbase PG"),
    ("pocketbase", "PocketBase"),
    ("parse", "Parse Server"),
    ("kinto", "Kinto"),
)


def cores_table(s: Summary) -> list[str]:
    """Per workload, the cores each server kept busy (medians of the rounds)."""
    columns = [(name, label) for name, label in CORE_COLUMNS if name in s]
    rows = [
        [NAMES[key], *(cores(s[name].get(key)) for name, _ in columns)]
        for key in NAMES
        if any(key in s[name] for name, _ in columns)
    ]
    if not rows:
        return []
    return [
        f"### Cores busy per workload: server / database / wrk (whole machine, {os.cpu_count()} cores)",
        "",
        "Server: the process and its workers; database: the PostgreSQL backends of the server's"
        " database (- on SQLite, which runs in the server's process); machine: every process, others'"
        " included; medians of the rounds.",
        "",
        *_table(["workload", *(label for _, label in columns)], rows),
    ]


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
        f"- scheduler: {autogroup()}",
    ]


def autogroup() -> str:
    """Whether the kernel shares CPU between sessions rather than between threads: each server
    runs in a session of its own, so under contention two workers get one group's share."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return "autogroup unknown"
    if enabled:
        return (
            "autogroup on: CPU is shared between sessions; each server (all its workers), the"
            " PostgreSQL server (every database's backends) and the suite with wrk are one group each"
        )
    return "autogroup off: CPU is shared between threads"


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


@dataclass(frozen=True)
class Goal:
    """One issue-20 target judged by a run: met or not, on which kinbase target and workload
    (``target``/``key``: what to profile when it is not met), against which server (``peer``)."""

    ok: bool
    text: str
    target: str
    key: str
    peer: str | None = None
    latency: bool = False
    """A p99 goal (the tail) rather than a throughput ratio."""
    correctness: bool = False
    """Refused or lost writes: no performance bound to show."""


def judge(s: Summary) -> list[Goal]:
    """The issue-20 targets this run can judge, each met or not, with the measured value."""
    out: list[Goal] = []
    for engine, peer, goal in (("sqlite", "pocketbase", 1.0), ("postgresql", "parse", 2.0)):
        name = f"kinbase-{engine}"
        ours, theirs = s.get(name, {}), s.get(peer, {})
        for key in PEER_WORKLOADS:
            r = ratio(ours.get(key), theirs.get(key))
            if r is not None:
                text = f"Kinvey {NAMES[key]}, kinbase {engine} / {peer} = {r:.2f} (goal ≥ {goal:g})"
                out.append(Goal(r >= goal, text, name, key, peer))
        for key in ("kv-list", "kv-filter", "kv-list-noidx", "kv-filter-noidx", "kv-big"):
            got = ours.get(key)
            if got:
                spread = got["p99_ms"] / max(got["p50_ms"], 1e-9)
                text = f"Kinvey {NAMES[key]} on {engine}: p99 / p50 = {spread:.1f} (goal ≤ 5)"
                out.append(Goal(spread <= 5, text, name, key, latency=True))
    kt = s.get("kinto", {})
    for engine, goal in (("sqlite", 10.0), ("postgresql", 5.0)):
        name = f"kinbase-{engine}"
        ours = s.get(name, {})
        for key in KINTO_WORKLOADS:
            r = ratio(ours.get(key), kt.get(key))
            if r is not None:
                text = f"Kinto {NAMES[key]}, kinbase {engine} / Kinto = {r:.1f} (goal ≥ {goal:g})"
                out.append(Goal(r >= goal, text, name, key, "kinto"))
                p99, p50 = ours[key]["p99_ms"], kt[key]["p50_ms"]
                text = f"Kinto {NAMES[key]} on {engine}: kinbase p99 {p99:.3g} ms < Kinto p50 {p50:.3g} ms"
                out.append(Goal(p99 < p50, text, name, key, "kinto", latency=True))
        writes = ours.get("kt-writers")
        if writes:
            refused = writes["non2xx"] + writes["socket_errors"]
            text = (
                f"16 writers on {engine}: {refused} refused, {writes['lost']} lost "
                f"of {writes['acknowledged']:,} acknowledged"
            )
            out.append(Goal(refused == 0 and writes["lost"] == 0, text, name, "kt-writers", correctness=True))
    ceiling = s.get("asgi-ceiling", {}).get("kv-get")
    for engine in ("sqlite", "postgresql"):
        name = f"kinbase-{engine}"
        r = ratio(s.get(name, {}).get("kv-get"), ceiling)
        if r is not None:
            text = f"Kinvey GET by id on {engine} / raw ASGI ceiling = {r:.2f} (goal ≥ 0.35)"
            out.append(Goal(r >= 0.35, text, name, "kv-get", "asgi-ceiling"))
    for engine in ("sqlite", "postgresql"):
        name = f"kinbase-{engine}"
        for key in READS_2W:
            r = ratio(s.get(f"{name}-2w", {}).get(key), s.get(name, {}).get(key))
            if r is not None:
                text = f"2 workers / 1 on {engine}, {NAMES[key]} = {r:.2f} (goal ≥ 1.5)"
                out.append(Goal(r >= 1.5, text, f"{name}-2w", key, name))
    return out


def unmet(s: Summary) -> list[tuple[str, str, str]]:
    """(kinbase target, workload, the first goal it missed) for every kinbase target and workload
    behind an unmet performance goal, once each, in the report's order."""
    seen: dict[tuple[str, str], str] = {}
    for goal in judge(s):
        if not goal.ok and not goal.correctness:
            seen.setdefault((goal.target, goal.key), goal.text)
    return [(target, key, text) for (target, key), text in seen.items()]


def cores(x: dict[str, Any] | None) -> str:
    """Cores busy during a sample or the median of samples: ``server / db / wrk (machine)``; the
    database is ``-`` on SQLite (in the server's process)."""
    if x is None:
        return "-"
    db = f"{x['db_cpu']:.2f}" if x.get("db_cpu") else "-"
    return f"{x.get('server_cpu', 0.0):.2f} / {db} / {x['wrk_cpu']:.2f} ({x.get('machine_cpu', 0.0):.2f})"


def _per_request(x: dict[str, Any]) -> str:
    """CPU per request of the server and its database, in µs (wrk left out)."""
    rps = max(x["rps"], 1e-9)
    server, db = x.get("server_cpu", 0.0) / rps * 1e6, x.get("db_cpu", 0.0) / rps * 1e6
    return f"{server + db:,.0f} µs" + (f" ({server:,.0f} server + {db:,.0f} database)" if db else "")


def bound(s: Summary, goal: Goal, threads: int, cpus: int | None = None) -> str:
    """What bounded ``goal``'s kinbase target on its workload, from the cores each process group
    kept busy (medians of the rounds) and the CPU per request; and what would move it."""
    cpus = cpus or os.cpu_count() or 1
    got = s[goal.target][goal.key]
    workers = 2 if goal.target.endswith("-2w") else 1
    server, db = got.get("server_cpu", 0.0), got.get("db_cpu", 0.0)
    gen, busy = got["wrk_cpu"], got.get("machine_cpu", 0.0)
    other = max(0.0, busy - server - db - gen)
    split = f"kinbase {server:.2f}" + (f", postgres {db:.2f}" if db else "") + f", wrk {gen:.2f}"
    split += f", other processes {other:.2f}"
    waited = got.get("server_wait", 0.0) + got.get("db_wait", 0.0)
    if waited >= 0.05:
        split += f"; kinbase{' and postgres' if db else ''} ready but waiting for a core {waited:.2f}"
    if busy >= 0.9 * cpus:
        why = f"machine saturated: {busy:.2f} of {cpus} cores busy ({split})"
        if other >= 0.25 * cpus:
            move = f"a quiet machine first (other processes held {other:.2f} cores: not kinbase's bound)"
        else:
            move = "less CPU per request in kinbase or its database, or wrk off these cores"
    elif server >= 0.9 * workers:
        share = "one core" if workers == 1 else f"{workers} cores"
        why = f"server busy {server / workers:.0%} of {share} ({split}): CPU-bound in the process"
        move = "less CPU per request in kinbase (the profile's own frames)"
        move += ", or a second worker" if workers == 1 else ""
    elif db >= 0.9:
        why = f"database busy {db:.2f} cores ({split}): PostgreSQL's work per request"
        move = "cheaper or fewer statements per request (EXPLAIN, statements per request)"
    elif gen >= 0.9 * threads:
        why = f"load generator busy {gen:.2f} of its {threads} threads ({split})"
        move = "wrk on other cores: the server is not the limit here"
    else:
        why = f"no core saturated, {busy:.2f} of {cpus} busy ({split}): requests wait"
        move = "shorter waits (commits, locks, a blocked event loop, queueing): see the profile"
    one = s.get(goal.peer or "", {}).get(goal.key)
    if workers > 1 and one is not None and other < 0.25 * cpus:
        # one worker already kept these cores busy: two can at most fill the machine
        used = one.get("server_cpu", 0.0) + one.get("db_cpu", 0.0) + one["wrk_cpu"]
        why += (
            f"; one worker kept {used:.2f} cores busy (kinbase {one.get('server_cpu', 0.0):.2f}, "
            f"postgres {one.get('db_cpu', 0.0):.2f}, wrk {one['wrk_cpu']:.2f}): "
            f"at most {cpus / max(used, 1e-9):.2f}x on {cpus} cores at the same CPU per request"
        )
    cost = f"CPU per request {_per_request(got)}"
    theirs = s.get(goal.peer or "", {}).get(goal.key)
    if theirs is not None and goal.peer != "asgi-ceiling":
        cost += f" vs {goal.peer} {_per_request(theirs)}"
    if goal.latency:
        why = f"p50 {got['p50_ms']:.3g} ms, p99 {got['p99_ms']:.3g} ms; " + why
    return f"bound: {why}; {cost}. Would move it: {move}."


def targets_met(s: Summary, threads: int = 2) -> list[str]:
    """Each goal met or not; under each unmet performance goal its bound (:func:`bound`)."""
    out: list[str] = []
    for goal in judge(s):
        out.append(f"- {'met' if goal.ok else '**not met**'}: {goal.text}")
        if not goal.ok and not goal.correctness:
            out.append(f"  - {bound(s, goal, threads)}")
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
