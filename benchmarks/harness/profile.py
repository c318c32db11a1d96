"""``--profile TARGET:WORKLOAD,...``: py-spy samples a one-worker kinbase server while wrk drives
the workload, and the collapsed stacks are summed into where the time goes (own time and time
including callees, per function). py-spy is installed into ``benchmarks/.work/tools-venv``."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from harness import wrk
from harness.common import WORK, Target

PY_SPY_VERSION = "0.4.3"
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


def profile(target: Target, key: str, duration: float, connections: int, threads: int) -> list[str]:
    """Sample ``target`` (one process) under ``key``; returns a Markdown section."""
    target.server.wait_idle()  # not the backlog of the previous workload
    raw = WORK / f"profile-{target.name}-{key}.txt"
    command = [str(_py_spy()), "record", "-p", str(target.server.process.pid), "-r", "250", "-f", "raw"]
    # without --idle: threads waiting (the event loop's select, idle pool threads) are not sampled
    command += ["-d", str(int(duration)), "-o", str(raw), "--nonblocking"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            wrk.run(target.base, target.loads[key], duration, connections, threads, WORK / "lua")
        )
    )
    runner.start()
    runner.join()
    _, err = spy.communicate(timeout=duration + 60)
    if not raw.exists():
        return [f"py-spy failed on {target.name}: {err[-500:]}"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:]]  # the first item is the thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [
        f"#### {target.name}, {key}: {result.get('rps', 0):,.0f} req/s while sampled; "
        f"{total:,} busy samples at 250 Hz over {duration:g} s: the process's threads were busy "
        f"{total / (250 * duration):.0%} of the time (100 % = one core)",
        "",
        "| own | function (share of busy samples) | | incl. | function (kinbase, drivers, server) |",
        "|---:|---|---|---:|---|",
    ]
    mine = [
        (f, n)
        for f, n in inclusive.most_common()
        if f.startswith(
            ("kinbase", "core/", "frontends/", "http/", "storage/", "query/", "psycopg", "uvicorn", "app.py")
        )
    ]
    top_own = own.most_common(15)
    for i in range(15):
        left = f"{top_own[i][1] / total:.1%} | `{top_own[i][0]}`" if i < len(top_own) else " | "
        right = f"{mine[i][1] / total:.1%} | `{mine[i][0]}`" if i < len(mine) else " | "
        lines.append(f"| {left} | | {right} |")
    return lines
