"""``--profile TARGET:WORKLOAD,...`` and ``--profile unmet``: py-spy samples a kinbase server (with
several workers, every worker) while wrk drives the workload, and the collapsed stacks are summed
into where the time goes (own time and time including callees, per function), as a table
(:func:`full`) or three lines (:func:`compact`, for the many profiles of ``unmet``). py-spy is
installed into ``benchmarks/.work/tools-venv``."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import cpu, wrk
from harness.common import WORK, Target

PY_SPY_VERSION = "0.4.3"
RATE = 250
PROCESSES = re.compile(r'^(?:process \d+:"[^"]*"(?:;|$))+')
PLUMBING = ("asyncio/", "runpy.py", "<frozen ", "multiprocessing/", "threading.py", "uvicorn/_compat.py")
"""Frames through which nearly every sample passes: not listed among the widest (``narrowed``)."""
TOOLS = WORK / "tools-venv"


def _py_spy() -> Path:
    binary = TOOLS / "bin" / "py-spy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
        subprocess.run([str(TOOLS / "bin" / "pip"), "install", "-q", f"py-spy=={PY_SPY_VERSION}"], check=True)
    return binary


def _short(frame: str) -> str:
    """``handle (kinbase/frontends/kinvey/appdata.py:42)`` -> ``kinvey/appdata.py:handle``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/kinbase/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name}"


@dataclass
class Profile:
    """py-spy's samples of one target under one workload, summed per function."""

    target: str
    key: str
    duration: float
    rps: float = 0.0
    total: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    depth: Counter[str] = field(default_factory=Counter)
    """Summed depth of the function in its samples (divided by ``inclusive``: its mean depth)."""
    counts: list[int] = field(default_factory=list)
    """The sample count of each distinct stack."""
    stacks: dict[str, set[int]] = field(default_factory=dict)
    """Per function, the indexes (in ``counts``) of the stacks it is on."""
    usage: dict[str, float] = field(default_factory=dict)
    """The cores the server was busy and waiting for a core while sampled (:class:`cpu.Meter`)."""
    error: str = ""

    def add(self, line: str) -> None:
        """One line of py-spy's raw output: ``frame;frame;... COUNT``, outermost first; with
        ``--subprocesses`` the stack starts with ``process PID:"command"`` items, skipped."""
        stack, _, count_text = line.rpartition(" ")
        stack = PROCESSES.sub("", stack)  # a command line may hold a ';'
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("thread ")]
        if not frames:
            return
        count = int(count_text)
        self.total += count
        self.own[frames[-1]] += count
        self.counts.append(count)
        seen: set[str] = set()
        for depth, frame in enumerate(frames):
            if frame not in seen:
                seen.add(frame)
                self.inclusive[frame] += count
                self.depth[frame] += depth * count
                self.stacks.setdefault(frame, set()).add(len(self.counts) - 1)

    @property
    def busy(self) -> float:
        """Busy samples per sampling slot: 1.0 = one core busy all the time. py-spy counts a thread
        busy unless it waits in a system call: a thread ready to run but waiting for a core counts."""
        return self.total / (RATE * self.duration)

    def narrowed(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` widest frames by inclusive time, without the callers that only pass through: a
        frame is left out when a deeper one holds nearly all its samples (within 1.5 % of the
        total), so a chain of wrappers (uvicorn, the HTTP layer) shows as its last link; the event
        loop and process start-up (:data:`PLUMBING`) are left out too."""
        slack = 0.015 * self.total
        ranked = self.inclusive.most_common()

        def passes_through(frame: str, count: int) -> bool:
            depth = self.depth[frame] / count
            for other, other_count in ranked:
                if other_count < count - slack:
                    break
                if other == frame or self.depth[other] / other_count <= depth:
                    continue
                shared = self.stacks[frame] & self.stacks[other]
                if sum(self.counts[i] for i in shared) >= count - slack:
                    return True
            return False

        kept: list[tuple[str, int]] = []
        for frame, count in ranked:
            if len(kept) == n:
                break
            if not frame.startswith(PLUMBING) and not passes_through(frame, count):
                kept.append((frame, count))
        return kept


def sample(target: Target, key: str, duration: float, connections: int, threads: int) -> Profile:
    """Sample ``target`` (its process and, with several workers, its children) under ``key``."""
    if target.prepare is not None:  # the indexes (or none) the workload is measured with
        target.prepare(key)
    wrk.warm(target.base, target.loads[key], connections, threads, WORK / "lua")
    target.server.wait_idle()  # not the backlog of the previous workload
    raw = WORK / f"profile-{target.name}-{key}.txt"
    raw.unlink(missing_ok=True)
    pid = str(target.server.process.pid)
    command = [str(_py_spy()), "record", "-p", pid, "-r", str(RATE), "-f", "raw"]
    if target.workers > 1:
        command.append("--subprocesses")
    # without --idle: threads waiting (the event loop's select, idle pool threads) are not sampled
    command += ["-d", str(int(duration)), "-o", str(raw), "--nonblocking"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            wrk.run(target.base, target.loads[key], duration, connections, threads, WORK / "lua")
        )
    )
    with cpu.Meter(target.server.process.pid, target.database) as meter:
        runner.start()
        runner.join()
    _, err = spy.communicate(timeout=duration + 60)
    got = Profile(target.name, key, duration, usage=meter.usage)
    rps = result.get("rps", 0.0)
    got.rps = float(rps) if isinstance(rps, float | int) else 0.0
    if not raw.exists():
        got.error = f"py-spy failed on {target.name}: {err[-500:]}"
        return got
    for line in raw.read_text().splitlines():
        got.add(line)
    return got


def _processes(p: Profile) -> str:
    return "the processes' threads" if p.target.endswith("-2w") else "the process's threads"


def full(p: Profile) -> list[str]:
    """A Markdown section: the 15 functions with most own time, the 15 kinbase, driver and server
    functions with most time including callees."""
    if p.error:
        return [p.error]
    lines = [
        f"#### {p.target}, {p.key}: {p.rps:,.0f} req/s while sampled; "
        f"{p.total:,} busy samples at {RATE} Hz over {p.duration:g} s: {_processes(p)} were busy "
        f"{p.busy:.0%} of the time (100 % = one core)",
        "",
        "| own | function (share of busy samples) | | incl. | function (kinbase, drivers, server) |",
        "|---:|---|---|---:|---|",
    ]
    mine = [
        (f, n)
        for f, n in p.inclusive.most_common()
        if f.startswith(
            ("kinbase", "core/", "frontends/", "http/", "storage/", "query/", "psycopg", "uvicorn", "app.py")
        )
    ]
    top_own = p.own.most_common(15)
    total = max(p.total, 1)
    for i in range(15):
        left = f"{top_own[i][1] / total:.1%} | `{top_own[i][0]}`" if i < len(top_own) else " | "
        right = f"{mine[i][1] / total:.1%} | `{mine[i][0]}`" if i < len(mine) else " | "
        lines.append(f"| {left} | | {right} |")
    return lines


def compact(p: Profile, why: str = "", top: int = 6) -> list[str]:
    """Three lines: the heading (with ``why`` it was profiled), the ``top`` functions by own time,
    and the ``top`` widest frames by time including callees, pass-through callers left out."""
    if p.error:
        return [f"- {p.target}, {p.key}: {p.error}"]
    total = max(p.total, 1)
    own = ", ".join(f"`{f}` {n / total:.0%}" for f, n in p.own.most_common(top))
    incl = ", ".join(f"`{f}` {n / total:.0%}" for f, n in p.narrowed(top))
    head = f"**{p.target}, {p.key}**" + (f" ({why})" if why else "")
    used = p.usage.get("server_cpu", 0.0)
    waited = p.usage.get("server_wait", 0.0)
    return [
        f"- {head}: {p.rps:,.0f} req/s while sampled; threads busy {p.busy:.0%} of a core"
        f" ({p.total:,} samples at {RATE} Hz over {p.duration:g} s): running {used:.2f} cores,"
        f" ready but waiting for a core {waited:.2f}",
        f"  - own: {own}",
        f"  - incl.: {incl}",
    ]
