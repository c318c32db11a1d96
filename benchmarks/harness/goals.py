"""The issue-20 targets a suite run judges (:class:`Goal`, each met or not) and, under each unmet
performance target, what bounded it (:func:`bound`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from harness.kinto import WORKLOADS as KINTO_WORKLOADS
from harness.kinvey import PEER_WORKLOADS
from harness.tables import NAMES, Summary, ratio

READS_2W = ("kv-get", "kv-list", "kv-filter", "kt-get", "kt-list", "kt-filter")


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
