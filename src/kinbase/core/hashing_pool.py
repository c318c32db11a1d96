"""The thread pools that hash passwords (argon2 for Kinvey users, bcrypt for Kinto accounts).

A password hash is tens to hundreds of milliseconds of one core by design. It runs in a pool of
its own (never on the event loop, never behind other work on the default pool), with the server's
share of the cores (a thread per core over the worker processes: an argon2 hash holds its
memory, 7 MiB by default, while it runs, so the server computes at most one per core at once),
and on Linux each thread runs at a scheduling priority :data:`NICENESS` below the server's (the
kernel schedules threads one by one: CFS weighs a nice-0 thread 1024 and a nice-10 one 110, so
when they contend the event loop and the scan threads get about nine times a hashing thread's
share). A burst of logins therefore takes every core the rest of the server leaves idle, and
yields them as soon as the rest needs them: on 2 cores, logins alone went from 55 to 109 per
second against a pool of half the cores at the normal priority, and GETs under a login load from
4,022 to 5,872 per second (docs/performance.md).
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["NICENESS", "cores", "hashing_pool"]

NICENESS = 10
"""How much lower than the process the hashing threads' scheduling priority is (Linux)."""


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - Linux has sched_getaffinity


def _lower_priority() -> None:
    """Thread initializer: run the calling thread ``NICENESS`` below the process. Linux's
    ``setpriority`` takes a thread id; elsewhere the same call would name a process, so it is not
    made."""
    if sys.platform != "linux":  # pragma: no cover - the project runs on Linux
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICENESS))
    except OSError:  # pragma: no cover - a sandbox that forbids it: hash at the normal priority
        pass


def hashing_pool(name: str, workers: int = 1) -> ThreadPoolExecutor:
    """A pool of this worker's share of the cores (one of ``workers`` processes; at least one
    thread), each thread below the process's priority and named after ``name``."""
    threads = max(1, cores() // max(1, workers))
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name, initializer=_lower_priority)
