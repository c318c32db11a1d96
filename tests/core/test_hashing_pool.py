"""Where password hashes run (kinbase.core.hashing_pool): argon2 for Kinvey users, bcrypt for Kinto
accounts, each in a pool of a thread per core below the process's scheduling priority, so logins
take the cores nothing else needs and yield them to the event loop when it needs them."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from typing import Any

import argon2
import bcrypt
import pytest

from kinbase.core import hashing_pool
from kinbase.core.hashing_pool import NICENESS, cores
from kinbase.core.kinto.auth import PasswordHasher
from kinbase.core.kinvey.passwords import PasswordService

pytestmark = pytest.mark.anyio


def _service() -> PasswordService:
    return PasswordService(lambda: b"secret", time_cost=1, memory_kib=8)


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")
async def test_hashing_threads_run_below_the_process_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, str]] = []
    real_verify = argon2.PasswordHasher.verify

    def verify(self: argon2.PasswordHasher, stored: Any, password: Any) -> bool:
        # On Linux, who=0 is the calling thread.
        seen.append((os.getpriority(os.PRIO_PROCESS, 0), threading.current_thread().name))
        return real_verify(self, stored, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
    service = _service()
    try:
        stored = await service.hash("pw")
        assert await service.verify(stored, "pw")
        assert not await service.verify(stored, "other")
    finally:
        service.close()
    process = os.getpriority(os.PRIO_PROCESS, 0)  # this (the event loop's) thread: unchanged
    assert len(seen) == 2
    for priority, name in seen:
        assert name.startswith("kinbase-argon2")
        assert priority == min(19, process + NICENESS)


async def test_as_many_verifications_run_at_once_as_there_are_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    n = cores()
    together = threading.Barrier(n, timeout=10)  # broken, and each call fails, if fewer run at once
    real_verify = argon2.PasswordHasher.verify

    def verify(self: argon2.PasswordHasher, stored: Any, password: Any) -> bool:
        together.wait()
        return real_verify(self, stored, password)

    service = _service()
    try:
        stored = await service.hash("pw")
        monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
        results = await asyncio.gather(*(service.verify(stored, f"pw-{i}") for i in range(n)))
    finally:
        service.close()
    assert results == [False] * n  # every call reached argon2 and answered
    assert not together.broken


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")
async def test_kinto_bcrypt_threads_run_below_the_process_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, str]] = []
    real_checkpw = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        seen.append((os.getpriority(os.PRIO_PROCESS, 0), threading.current_thread().name))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    hasher = PasswordHasher()
    try:
        stored = await hasher.hash("pw", 4)
        assert await hasher.check("pw", stored)
        assert not await hasher.check("other", stored)
    finally:
        hasher.close()
    process = os.getpriority(os.PRIO_PROCESS, 0)
    assert [name.startswith("kinbase-bcrypt") for _, name in seen] == [True, True]
    assert {priority for priority, _ in seen} == {min(19, process + NICENESS)}


def test_the_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing_pool, "cores", lambda: 8)
    sizes = {}
    for workers in (1, 2, 3, 8, 16):
        pool = hashing_pool.hashing_pool("kinbase-test", workers)
        sizes[workers] = pool._max_workers  # the thread limit ThreadPoolExecutor keeps
        pool.shutdown()
    assert sizes == {1: 8, 2: 4, 3: 2, 8: 1, 16: 1}
