"""The machine a suite run measured on: CPU, memory, kernel, load, the scheduler's sharing, and the
versions of the servers and of the load generator."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path


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
