"""Password hashing (argon2id) with a verified-credential cache, and login throttling.

argon2 is deliberately slow (about 50-90 ms and 19 MiB per verification with the default
parameters, OWASP's argon2id recommendation), so verification runs in a worker thread, never on
the event loop, and a successful
verification is remembered: the cache key is an HMAC, keyed by the server secret, of the stored
hash and the password. A password change replaces the stored hash, so the old entry can never
match again, in any worker, without any invalidation message; entries also expire after
``ttl_seconds``. Only the HMAC is kept in memory, never the password.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kinbase.core.kinvey.errors import KinveyError

__all__ = ["LoginThrottle", "PasswordService"]

_T = TypeVar("_T")


class PasswordService:
    """Hash and verify passwords.

    Args:
        secret: gives the server secret (keys the cache HMAC).
        time_cost, memory_kib: argon2id parameters.
        ttl_seconds: how long a verified password is remembered.
    """

    def __init__(
        self,
        secret: Callable[[], bytes],
        *,
        time_cost: int = 2,
        memory_kib: int = 19456,
        ttl_seconds: float = 300.0,
        max_entries: int = 100_000,
    ) -> None:
        self._secret = secret
        self._hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        # At most half the cores hash at once, so a burst of logins cannot starve the event loop
        # (and every request it serves) of CPU; the others wait their turn.
        self._slots = asyncio.Semaphore(max(1, (os.cpu_count() or 2) // 2))

    async def _in_thread(self, work: Callable[[], _T]) -> _T:
        async with self._slots:
            return await asyncio.to_thread(work)

    async def hash(self, password: str) -> str:
        return await self._in_thread(lambda: self._hasher.hash(password))

    def _key(self, stored: str, password: str) -> bytes:
        return hmac.new(self._secret(), stored.encode() + b"\0" + password.encode(), hashlib.sha256).digest()

    async def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches the ``stored`` hash (remembered for a while when it does)."""
        key = self._key(stored, password)
        now = time.monotonic()
        expires = self._verified.get(key)
        if expires is not None and expires > now:
            return True

        def check() -> bool:
            try:
                return bool(self._hasher.verify(stored, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        if not await self._in_thread(check):
            return False
        self._verified[key] = now + self._ttl
        self._verified.move_to_end(key)
        while len(self._verified) > self._max:
            self._verified.popitem(last=False)
        return True


@dataclass(slots=True)
class _Failures:
    count: int = 0
    first: float = 0.0
    locked_until: float = 0.0


@dataclass(slots=True)
class LoginThrottle:
    """Slow down, then refuse, repeated failed logins for one username or one client address.

    After ``delay_after`` failures within ``window_seconds`` each further attempt waits
    ``0.1 s * 2**n`` (at most 2 s) before it is checked; after ``max_failures`` the key is refused
    with ``LoginThrottled`` for ``lockout_seconds``. A success clears the username's record.
    Counters live in each worker process (N workers give an attacker N times the budget; put a
    shared limiter in front for more).
    """

    max_failures: int = 10
    lockout_seconds: float = 300.0
    delay_after: int = 3
    window_seconds: float = 900.0
    max_delay: float = 2.0
    _records: dict[str, _Failures] = field(default_factory=dict)

    def _keys(self, app_id: int, username: str, address: str | None) -> list[str]:
        keys = [f"{app_id}\0u\0{username}"]
        if address:
            keys.append(f"{app_id}\0a\0{address}")
        return keys

    async def before(self, app_id: int, username: str, address: str | None) -> None:
        """Wait or refuse according to the recent failures.

        Raises:
            KinveyError: LoginThrottled while a key is locked out.
        """
        now = time.monotonic()
        worst = 0
        for key in self._keys(app_id, username, address):
            record = self._records.get(key)
            if record is None:
                continue
            if record.locked_until > now:
                wait = int(record.locked_until - now) + 1
                raise KinveyError("LoginThrottled", f"Too many failed logins; retry in {wait} s.")
            if now - record.first > self.window_seconds:
                del self._records[key]
                continue
            worst = max(worst, record.count)
        if worst >= self.delay_after:
            await asyncio.sleep(min(self.max_delay, 0.1 * 2 ** (worst - self.delay_after)))

    def failed(self, app_id: int, username: str, address: str | None) -> None:
        now = time.monotonic()
        if len(self._records) > 100_000:
            self._records.clear()
        for key in self._keys(app_id, username, address):
            record = self._records.setdefault(key, _Failures(first=now))
            record.count += 1
            if record.count >= self.max_failures:
                record.locked_until = now + self.lockout_seconds
                record.count = 0
                record.first = now

    def succeeded(self, app_id: int, username: str) -> None:
        self._records.pop(f"{app_id}\0u\0{username}", None)
