"""Cores busy while wrk drives a workload, per process group: the server (its process and every
descendant: uvicorn/uWSGI workers), the database (the PostgreSQL backends serving the run's
database, found by their process title, and their parallel workers) and the whole machine
(``/proc/stat``, every process: what is left once server, database and wrk are taken out is
someone else's). Together with wrk's own CPU they tell whether a workload ran out of cores.

A sampler thread reads ``/proc`` every ``interval`` seconds: a process seen at the first reading
counts from there, one that appears later (a new pooled connection) from zero, one that ends
between readings loses at most its last ``interval``. The time the server's threads were ready to
run but waited for a core (``schedstat``) tells a saturated machine from a server waiting on I/O.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    ppid: int
    title: str
    """The command line of a ``postgres`` process (its title names the database); empty otherwise."""
    cpu: float
    """User + system seconds."""


def parse_stat(text: str) -> tuple[str, int, float]:
    """``/proc/PID/stat`` -> command name, parent pid, CPU seconds (user + system)."""
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def processes() -> dict[int, Proc]:
    found: dict[int, Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            comm, ppid, cpu = parse_stat(Path(entry.path, "stat").read_text())
            title = ""
            if comm.startswith("postgres"):
                title = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found[int(entry.name)] = Proc(ppid, title, cpu)
    return found


def descendants(root: int, table: dict[int, Proc]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found & set(table)


def backends(database: str, table: dict[int, Proc]) -> set[int]:
    """The PostgreSQL backends of ``database`` (title ``postgres: [CLUSTER: ]USER DATABASE HOST
    STATE``) and the parallel workers of those backends (``parallel worker for PID N``)."""
    mine = {pid for pid, p in table.items() if f" {database} " in f"{p.title} "}
    for pid, proc in table.items():
        _, marker, leader = proc.title.partition("parallel worker for PID ")
        words = leader.split()
        if marker and words and words[0].isdigit() and int(words[0]) in mine:
            mine.add(pid)
    return mine


def waits(pids: set[int]) -> dict[int, float]:
    """Per thread of ``pids``: the seconds it spent runnable but waiting for a core (the second
    field of ``/proc/PID/task/TID/schedstat``): a busy machine shows here, not in the CPU time."""
    found: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in os.scandir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    found[int(task.name)] = int(Path(task.path, "schedstat").read_text().split()[1]) / 1e9
    return found


def machine_busy() -> float:
    """Seconds of CPU spent by every core, idle and I/O wait excluded (``/proc/stat``)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user/nice)
    return (sum(values[:8]) - values[3] - values[4]) / TICK


@dataclass
class _Group:
    base: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    def see(self, values: dict[int, float], first: bool) -> None:
        for key, value in values.items():
            if key not in self.base:
                self.base[key] = value if first else 0.0
            self.last[key] = value

    def seconds(self) -> float:
        return sum(self.last[pid] - self.base[pid] for pid in self.last)


class Meter:
    """``with Meter(pid, database) as meter: ...``; then ``meter.usage``: cores busy (CPU seconds per
    second of the run) of ``server_cpu`` (``pid`` and its descendants), ``db_cpu`` (0 without a
    database) and ``machine_cpu`` (every core of the machine), and the cores' worth of time the
    server's and the database's threads spent waiting for a core (``server_wait``, ``db_wait``)."""

    def __init__(self, pid: int, database: str | None, interval: float = 0.5):
        self.pid, self.database, self.interval = pid, database, interval
        self.server, self.db = _Group(), _Group()
        self.server_wait, self.db_wait = _Group(), _Group()
        self.usage: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, first: bool = False) -> None:
        table = processes()
        server = descendants(self.pid, table)
        self.server.see({pid: table[pid].cpu for pid in server}, first)
        self.server_wait.see(waits(server), first)
        if self.database:
            db = backends(self.database, table)
            self.db.see({pid: table[pid].cpu for pid in db}, first)
            self.db_wait.see(waits(db), first)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Meter:
        self._sample(first=True)
        self._machine, self._started = machine_busy(), time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self.usage = {
            "server_cpu": self.server.seconds() / elapsed,
            "db_cpu": self.db.seconds() / elapsed,
            "machine_cpu": (machine_busy() - self._machine) / elapsed,
            "server_wait": self.server_wait.seconds() / elapsed,
            "db_wait": self.db_wait.seconds() / elapsed,
        }
