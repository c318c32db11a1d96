"""The tables of a suite run: medians of the rounds per target and workload (:func:`summarize`),
a cell per server (req/s, p50 / p99), the ratios against each peer, and the cores each process kept
busy."""

from __future__ import annotations

import os
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
                "checkpoints": sum(r.get("checkpoints", 0) for r in rows),
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


def cores(x: dict[str, Any] | None) -> str:
    """Cores busy during a sample or the median of samples: ``server / db / wrk (machine)``; the
    database is ``-`` on SQLite (in the server's process)."""
    if x is None:
        return "-"
    db = f"{x['db_cpu']:.2f}" if x.get("db_cpu") else "-"
    return f"{x.get('server_cpu', 0.0):.2f} / {db} / {x['wrk_cpu']:.2f} ({x.get('machine_cpu', 0.0):.2f})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


CORES = "cores busy: server / db / wrk (machine)"
CORE_COLUMNS = (
    ("kinbase-sqlite", "kinbase SQLite"),
    ("kinbase-postgresql", "kinbase PG"),
    ("pocketbase", "PocketBase"),
    ("parse", "Parse Server"),
    ("kinto", "Kinto"),
)


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
    extra = [k for k in KINVEY_WORKLOADS if k not in PEER_WORKLOADS and (k in sq or k in pg)]
    if not rows and not extra:
        return []  # a run without the Kinvey workloads (--only kinto)
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
