"""Password hashing (argon2id) with a verified-credential cache (the login throttle is
:mod:`kinbase.core.throttle`).

argon2 is deliberately slow (about 16-30 ms of one core and 7 MiB per verification with the
default parameters, t=5 and m=7 MiB: one of the five argon2id configurations OWASP's password
storage cheat sheet lists as equally strong, from m=46 MiB t=1 to m=7 MiB t=5; on this project's
machine it costs 18 % less CPU than m=19 MiB t=2 and a third of the memory), so verification runs
in a thread pool of its own (never on the event loop, and never behind other work queued on the
default pool, such as ``_group`` reducers): :func:`kinbase.core.hashing_pool.hashing_pool`, a
thread per core below the server's scheduling priority, so a burst of logins takes the cores
nothing else needs and yields them to the event loop when it needs them. A successful
verification is remembered: the cache key is an HMAC, keyed by the server secret, of the stored
hash and the password. A password change replaces the stored hash, so the old entry can never
match again, in any worker, without any invalidation message; entries also expire after
``ttl_seconds``. Only the HMAC is kept in memory, never the password.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kinbase.core.hashing_pool import hashing_pool

__all__ = ["PasswordService"]

_T = TypeVar("_T")


class PasswordService:
    """Hash and verify passwords.

    Args:
        secret: gives the server secret (keys the cache HMAC).
        time_cost, memory_kib: argon2id parameters.
        ttl_seconds: how long a verified password is remembered.
        workers: the server's worker processes (the hashing threads share the cores among them).
    """

    def __init__(
        self,
        secret: Callable[[], bytes],
        *,
        time_cost: int = 5,
        memory_kib: int = 7168,
        ttl_seconds: float = 300.0,
        max_entries: int = 100_000,
        workers: int = 1,
    ) -> None:
        self._secret = secret
        self._hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._ttl = ttl_seconds
        self._max = max_entries
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._executor = hashing_pool("kinbase-argon2", workers)

    async def _in_thread(self, work: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def close(self) -> None:
        self._executor.shutdown(wait=False)

    async def hash(self, password: str) -> str:
        return await self._in_thread(lambda: self._hasher.hash(password))

    def _key(self, stored: str, password: str) -> bytes:
        return hmac.new(self._secret(), stored.encode() + b"\0" + password.encode(), hashlib.sha256).digest()

    def remembered(self, stored: str, password: str) -> bool:
        """Whether ``password`` was verified against ``stored`` recently (no hashing)."""
        expires = self._verified.get(self._key(stored, password))
        return expires is not None and expires > time.monotonic()

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was hashed with other parameters than this service's (a login then
        stores a new hash of the password it verified)."""
        try:
            return bool(self._hasher.check_needs_rehash(stored))
        except InvalidHashError:
            return False

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
