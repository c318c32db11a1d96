"""The benchmark suite's own parsing and judging (``benchmarks/harness``): the CPU of a process group
read from ``/proc``, py-spy's raw stacks summed per function, and the bound written under each
unmet issue-20 target."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from harness import cpu, report
from harness.profile import Profile


def test_parse_stat_reads_a_command_name_with_spaces_and_parentheses() -> None:
    ticks = cpu.TICK
    fields = ["S", "41", *["0"] * 9, str(3 * ticks), str(ticks), *["0"] * 30]
    comm, ppid, seconds = cpu.parse_stat("1234 (a (b) c) " + " ".join(fields))
    assert (comm, ppid, seconds) == ("a (b) c", 41, 4.0)


def _table(**titles: tuple[int, str]) -> dict[int, cpu.Proc]:
    return {int(pid[1:]): cpu.Proc(ppid, title, 0.0) for pid, (ppid, title) in titles.items()}


def test_backends_are_the_database_s_and_their_parallel_workers_only() -> None:
    table = _table(
        p10=(1, "postgres: 15/main: postgres kb_7_1 127.0.0.1(5001) idle"),
        p11=(1, "postgres: 15/main: postgres kb_7_10 127.0.0.1(5002) idle"),
        p12=(1, "postgres: postgres kb_7_1 [local] SELECT"),
        p13=(1, "postgres: 15/main: parallel worker for PID 10 "),
        p14=(1, "postgres: 15/main: parallel worker for PID 11 "),
        p15=(1, "postgres: 15/main: walwriter "),
    )
    assert cpu.backends("kb_7_1", table) == {10, 12, 13}


def test_descendants_follow_every_generation() -> None:
    table = _table(p5=(1, ""), p6=(5, ""), p7=(6, ""), p8=(1, ""), p9=(8, ""))
    assert cpu.descendants(5, table) == {5, 6, 7}


def test_meter_counts_the_cpu_a_child_spends_during_the_window() -> None:
    burn = (
        "import sys, time\n"
        "sys.stdin.readline()\n"
        "start = time.process_time()\n"
        "while time.process_time() - start < 0.3:\n"
        "    pass\n"
        "print('done', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    command = [sys.executable, "-c", burn]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdin is not None and child.stdout is not None
        with cpu.Meter(child.pid, None, interval=0.05) as meter:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline() == "done\n"
        child.stdin.close()
    assert meter.server.seconds() >= 0.29
    assert meter.usage["db_cpu"] == meter.usage["db_wait"] == 0.0
    assert set(meter.usage) == {"server_cpu", "db_cpu", "machine_cpu", "server_wait", "db_wait"}


def test_profile_sums_stacks_and_narrows_pass_through_callers() -> None:
    got = Profile("kinbase-sqlite-2w", "kv-get", 2)
    for line in (
        'process 1:"python -m kinbase serve";process 2:"python -c from x import y; y()";run (a/loop.py:1);'
        "handle (site-packages/kinbase/http/h.py:2);scan (kinbase/storage/s.py:3) 90",
        "run (a/loop.py:1);handle (site-packages/kinbase/http/h.py:2);send (a/io.py:4) 10",
        "run (a/loop.py:1);idle (a/loop.py:5) 5",
        "",
    ):
        got.add(line)
    assert got.total == 105
    assert got.own.most_common(1) == [("kinbase/storage/s.py:scan", 90)]
    assert got.inclusive["a/loop.py:run"] == 105
    assert got.busy == 105 / (250 * 2)
    # ``run`` holds 105 samples and ``handle`` 100 of them (over 1.5 %): both stay; ``handle`` is
    # not passed through by ``scan`` (90 of its 100)
    assert got.narrowed(3) == [
        ("a/loop.py:run", 105),
        ("kinbase/http/h.py:handle", 100),
        ("kinbase/storage/s.py:scan", 90),
    ]
    wrapped = Profile("kinbase-sqlite", "kv-get", 1)
    for line in (
        "main (m.py:1);run (a/loop.py:1);scan (s.py:3) 99",
        "main (m.py:1);run (a/loop.py:1) 1",
        "Runner.run (asyncio/runners.py:1) 50",
    ):
        wrapped.add(line)
    # ``main`` and ``run`` only pass their time through to ``scan`` (99 of 100 samples); the
    # event loop is left out
    assert wrapped.narrowed(5) == [("s.py:scan", 99)]


def _row(
    rps: float, server: float, db: float, wrk: float, machine: float, p50: float = 5.0
) -> dict[str, Any]:
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p50 * 2,
        "wrk_cpu": wrk,
        "server_cpu": server,
        "db_cpu": db,
        "machine_cpu": machine,
        "server_wait": 0.0,
        "db_wait": 0.0,
        "non2xx": 0,
        "socket_errors": 0,
    }


SUMMARY: report.Summary = {
    "kinbase-postgresql": {
        "kv-get": _row(1000, 0.60, 0.50, 0.10, 1.25),
        "kt-get": _row(1000, 0.97, 0.20, 0.10, 1.30),
    },
    "kinbase-postgresql-2w": {
        "kv-get": _row(1100, 0.95, 0.80, 0.22, 1.97),
        "kt-get": _row(1600, 1.20, 0.30, 0.15, 1.70),
    },
    "asgi-ceiling": {"kv-get": _row(2000, 1.0, 0.0, 0.2, 1.2)},
}


def test_unmet_names_each_kinbase_workload_behind_a_missed_goal_once() -> None:
    missed = report.unmet(SUMMARY)
    assert [(t, k) for t, k, _ in missed] == [("kinbase-postgresql-2w", "kv-get")]
    assert missed[0][2] == "2 workers / 1 on postgresql, GET by id = 1.10 (goal ≥ 1.5)"


def test_bound_names_what_ran_out() -> None:
    goals = {(g.target, g.key): g for g in report.judge(SUMMARY)}
    saturated = report.bound(SUMMARY, goals["kinbase-postgresql-2w", "kv-get"], threads=2, cpus=2)
    assert saturated.startswith(
        "bound: machine saturated: 1.97 of 2 cores busy "
        "(kinbase 0.95, postgres 0.80, wrk 0.22, other processes 0.00)"
    )
    # 1.75 cores of server and database for 1,100 requests/s, against 1.10 for 1,000 on one worker
    assert "CPU per request 1,591 µs (864 server + 727 database) vs kinbase-postgresql 1,100 µs" in saturated
    # one worker kept 0.60 + 0.50 + 0.10 cores busy: two fill 2 cores at 1.67x at best
    assert (
        "one worker kept 1.20 cores busy (kinbase 0.60, postgres 0.50, wrk 0.10): at most 1.67x" in saturated
    )
    assert saturated.endswith(
        "Would move it: less CPU per request in kinbase or its database, or wrk off these cores."
    )
    one_worker = report.Goal(False, "x", "kinbase-postgresql", "kt-get", "asgi-ceiling")
    assert "server busy 97% of one core" in report.bound(SUMMARY, one_worker, threads=2, cpus=2)
    waiting = report.Goal(False, "x", "kinbase-postgresql", "kv-get", latency=True)
    text = report.bound(SUMMARY, waiting, threads=2, cpus=2)
    assert text.startswith("bound: p50 5 ms, p99 10 ms; no core saturated, 1.25 of 2 busy")


def test_targets_met_puts_a_bound_under_each_unmet_goal_only() -> None:
    lines = report.targets_met(SUMMARY, threads=2)
    assert lines[0].startswith("- met: Kinvey GET by id on postgresql / raw ASGI ceiling = 0.50")
    unmet = [i for i, line in enumerate(lines) if line.startswith("- **not met**")]
    assert unmet and all(lines[i + 1].startswith("  - bound: ") for i in unmet)
    assert sum(line.startswith("  - bound: ") for line in lines) == len(unmet)


class _Idle:
    """A server as the rounds see it, without a process: never busy."""

    class process:
        pid = os.getpid()

    def wait_idle(self) -> float:
        return 0.0


def test_two_workers_measure_the_indexed_lists_whatever_ran_before(monkeypatch: pytest.MonkeyPatch) -> None:
    import suite
    from harness import setup
    from harness.common import Target
    from harness.wrk import Load

    indexed = {"now": True}
    seen: list[tuple[str, str, bool]] = []

    def hook(key: str) -> None:  # as kinvey.index_hook: the database's indexes follow the workload
        if key in ("kv-list", "kv-list-noidx"):
            indexed["now"] = not key.endswith("-noidx")

    def run(base: str, load: Load, *_: Any) -> dict[str, Any]:
        seen.append((base, load.paths[0], indexed["now"]))
        return {
            "rps": 1.0,
            "p50_ms": 1.0,
            "p99_ms": 1.0,
            "non2xx": 0,
            "socket_errors": 0,
            "wrk_cpu": 0.0,
            "ids": [],
        }

    monkeypatch.setattr(suite.wrk, "run", run)
    monkeypatch.setattr(suite.wrk, "warm", lambda *_: None)
    loads = {k: Load("GET", (f"/{k}",)) for k in ("kv-get", "kv-list", "kv-list-noidx")}
    server: Any = _Idle()
    one = Target("kinbase-sqlite", server, "one", "kinbase on sqlite, 1 worker", loads, prepare=hook)
    two = setup.two_workers(one, server, "two")
    assert (two.version, sorted(two.loads), two.workers) == (
        "kinbase on sqlite, 2 workers",
        ["kv-get", "kv-list"],
        2,
    )
    args = argparse.Namespace(rounds=3, duration=1, connections=1, threads=1)
    suite.run_rounds([one, two], args, [0.0])
    lists = [(base, ok) for base, path, ok in seen if path == "/kv-list"]
    # round 2 runs the two-worker server first, after round 1's "-noidx" workload
    assert lists == [("one", True), ("two", True), ("two", True), ("one", True), ("one", True), ("two", True)]


def test_warm_runs_the_load_unmeasured_except_loads_that_capture_ids(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from harness import wrk

    calls: list[tuple[str, float, int]] = []

    def run_script(base: str, path: str, text: str, duration: float, conns: int, *_: Any) -> dict[str, Any]:
        calls.append((path, duration, conns))
        return {}

    monkeypatch.setattr(wrk, "run_script", run_script)
    reads = wrk.Load("GET", ("/v1/x",), connections=16)
    writers = wrk.Load("POST", ("/v1/w",), body="{}", capture='"id":"([^"]+)"', connections=16)
    wrk.warm("http://127.0.0.1:1", reads, 32, 2, tmp_path)
    wrk.warm("http://127.0.0.1:1", writers, 32, 2, tmp_path)
    wrk.warm("http://127.0.0.1:1", wrk.Load("GET", ("/y",)), 32, 2, tmp_path)
    # the load's own connections (Kinto: 16), else the run's; the writers' acknowledged ids are
    # checked against the collection, so they are not warmed
    assert calls == [("/v1/x", wrk.WARM_SECONDS, 16), ("/y", wrk.WARM_SECONDS, 32)]


def test_a_run_without_kinvey_workloads_has_no_kinvey_table() -> None:
    from harness.tables import kinvey_tables

    sample = {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "non2xx": 0, "socket_errors": 0}
    assert kinvey_tables({"kinbase-sqlite": {"kt-get": sample}, "kinto": {"kt-get": sample}}) == []
    shown = kinvey_tables({"kinbase-sqlite": {"kv-get": sample}, "pocketbase": {"kv-get": sample}})
    assert shown[0].startswith("### Kinvey API with a user session")
    assert any("1.00x" in line for line in shown)
