"""The login throttle, shared by every worker and machine through the database.

Failed password checks are counted per **username** and per **client address**, in the private
parent ``kinbase.throttle`` of each app (one per protocol: ``kinvey``, ``kinto``), so a count is
exact across workers and machines: each failure is a read-modify-write under the parent's lock.

- **Per user, backoff then lockout.** From the ``delay_after``-th failure within ``window``
  seconds, the username is refused for ``2 ** (n - delay_after)`` seconds (at most
  ``max_delay``) after each failure; at ``max_failures`` it is locked for ``lockout`` seconds. A
  refused attempt is not checked at all (the right password is refused too), and a success clears
  the username's record.
- **Per address, a high limit.** ``address_max_failures`` failures from one address within the
  window lock that address out. The limit is high enough for a shared NAT, and it is separate from
  the per-user count, so one address guessing can neither lock every user out nor guess freely.

Costs: one point read per password check that needs hashing (which costs far more), one write per
failure. A request whose credentials were verified recently (the hot path of Basic authentication)
asks :meth:`LoginThrottle.check_cached`, which reads the database at most once a second per
username and address: a lockout decided by another worker is enforced there within that second,
and at once for every check that needs hashing, so a locked-out account cannot be used to test
guesses (a wrong one is always refused from a fresh read).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.invalidation import ALL, Invalidations
from kinbase.errors import BaaSError, TooManyRequests
from kinbase.query.ast import Query, Range
from kinbase.settings import Settings
from kinbase.storage.base import NewVersion, Reader, StorageBackend, WriteContext
from kinbase.storage.sql.statements import clean_text
from kinbase.storage.stamps import now_ms

# A private generator: jitter and sampling never touch the global `random` state (hypothesis
# checks it around every draw, and the tests run the server in the same process).
_RANDOM = random.Random()

__all__ = ["THROTTLE", "LoginThrottle", "ThrottlePolicy"]

THROTTLE = "kinbase.throttle"
_SWEEP_ONE_IN = 64
_CLEAR_TRUSTED_SECONDS = 1.0
_MAX_CLEAR = 100_000


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    max_failures: int = 10
    lockout_seconds: float = 300.0
    delay_after: int = 3
    max_delay: float = 60.0
    address_max_failures: int = 100
    window_seconds: float = 900.0

    @classmethod
    def of(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            max_failures=settings.login_max_failures,
            lockout_seconds=settings.login_lockout_seconds,
            delay_after=settings.login_delay_after,
            address_max_failures=settings.login_address_max_failures,
        )


def _user_key(username: str) -> str:
    if clean_text(username):
        return "u:" + username
    # Keys such as "\0mfa\0<user>" cannot be object ids (no NUL on PostgreSQL): hashed instead.
    return "h:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def _address_key(address: str) -> str:
    return "a:" + address if clean_text(address) else "a#" + hashlib.sha256(address.encode()).hexdigest()


def _keys(app_id: int, username: str, address: str | None) -> list[tuple[int, str]]:
    keys = [(app_id, _user_key(username))]
    if address:
        keys.append((app_id, _address_key(address)))
    return keys


def _too_many(message: str, seconds: int) -> BaaSError:
    return TooManyRequests(message, retry_after=seconds)


class LoginThrottle:
    """Counts failed logins of one protocol's users (``scope``) in the database. ``refuse`` builds
    the error of a refusal (a protocol's own, e.g. Kinvey's ``LoginThrottled``) from the message
    and the seconds to wait; by default :class:`TooManyRequests`."""

    def __init__(
        self,
        storage: StorageBackend,
        policy: ThrottlePolicy,
        scope: str,
        refuse: Callable[[str, int], BaaSError] = _too_many,
        *,
        invalidations: Invalidations | None = None,
    ) -> None:
        self._storage = storage
        self.policy = policy
        self._scope = scope
        self._refuse = refuse
        self._clear: dict[tuple[int, str], float] = {}
        """(app, user or address key) found unthrottled, until when that is trusted (monotonic)."""
        self._topic = f"throttle.{scope}"
        self._invalidations = invalidations if invalidations is not None else Invalidations()
        self._invalidations.on(self._topic, self._dropped)

    def _dropped(self, key: str) -> None:
        if key == ALL:
            self._clear.clear()
            return
        app_id, _, throttled = key.partition(":")
        self._clear.pop((int(app_id), throttled), None)

    async def check_cached(
        self, app_id: int, username: str, address: str | None, reader: Reader | None = None
    ) -> None:
        """:meth:`check` for credentials verified recently: trusts a clear answer for a second.
        A caller that holds a reader passes it (a second connection taken while one is held can
        exhaust a pool under load: every request holding one and waiting for another).

        Raises:
            TooManyRequests: with the seconds to wait.
        """
        await self._invalidations.sync()
        keys = _keys(app_id, username, address)
        now = time.monotonic()
        if all(self._clear.get(key, 0.0) > now for key in keys):
            return
        await self.check(app_id, username, address, reader)
        if len(self._clear) >= _MAX_CLEAR:
            self._clear.clear()
        for key in keys:
            self._clear[key] = now + _CLEAR_TRUSTED_SECONDS

    def _forget(self, app_id: int, username: str, address: str | None) -> None:
        for key in _keys(app_id, username, address):
            self._clear.pop(key, None)

    async def check(
        self, app_id: int, username: str, address: str | None, reader: Reader | None = None
    ) -> None:
        """Refuse while the username or the address is throttled.

        Raises:
            BaaSError: the ``refuse`` error (TooManyRequests unless told), with the seconds to wait.
        """
        keys = [_user_key(username)] + ([_address_key(address)] if address else [])
        now = now_ms()
        wait_ms = 0
        async with contextlib.nullcontext(reader) if reader is not None else self._storage.reader() as using:
            for key in keys:
                found = await using.get_child(app_id, THROTTLE, self._scope, key)
                if found is not None:
                    wait_ms = max(wait_ms, int(orjson.loads(found.data).get("until", 0)) - now)
        if wait_ms > 0:
            self._forget(app_id, username, address)
            seconds = math.ceil(wait_ms / 1000)
            raise self._refuse(f"Too many failed logins; retry in {seconds} s.", seconds)

    async def failed(self, app_id: int, username: str, address: str | None) -> None:
        """Count a failure for the username and the address (and tell every worker to stop trusting
        its cached clear answers for them)."""
        self._forget(app_id, username, address)
        policy = self.policy
        window_ms = int(policy.window_seconds * 1000)

        def counter(limit: int, backoff: bool) -> Any:
            def build(ctx: WriteContext) -> NewVersion:
                now = now_ms()
                record = orjson.loads(ctx.current.data) if ctx.current is not None else {}
                count, first = int(record.get("count", 0)), int(record.get("first", now))
                if now - first > window_ms:
                    count, first = 0, now
                count += 1
                until = int(record.get("until", 0))
                if count >= limit:
                    until = now + int(policy.lockout_seconds * 1000)
                    count, first = 0, now
                elif backoff and count >= policy.delay_after:
                    delay = min(policy.max_delay, 2.0 ** (count - policy.delay_after))
                    until = max(until, now + int(delay * 1000))
                return NewVersion({"count": count, "first": first, "until": until, "last": now})

            return build

        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app_id, THROTTLE, self._scope)
            await writer.put(parent, _user_key(username), counter(policy.max_failures, True))
            if address:
                await writer.put(parent, _address_key(address), counter(policy.address_max_failures, False))
            if _RANDOM.randrange(_SWEEP_ONE_IN) == 0:
                # Forget records idle for longer than the window and the lockout.
                idle = now_ms() - window_ms - int(policy.lockout_seconds * 1000)
                if await writer.delete_matching(parent, Query(filter=Range(("last",), "lt", idle))):
                    await writer.purge_tombstones(parent)
        for key_app, key in _keys(app_id, username, address):
            await self._invalidations.publish(self._topic, f"{key_app}:{key}")

    async def clear(self, app_id: int, username: str | None = None) -> None:
        """Forget the failures of ``username`` (its backoff and lockout), or of everyone."""
        self._clear.clear()
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app_id, THROTTLE, self._scope)
            if parent is None:
                return
            if username is None:
                await writer.delete_matching(parent, Query())
            else:
                await writer.delete(parent, _user_key(username))
            await writer.purge_tombstones(parent)

    async def succeeded(self, app_id: int, username: str, reader: Reader | None = None) -> None:
        """Clear the username's record (the address keeps its count)."""
        key = _user_key(username)
        async with contextlib.nullcontext(reader) if reader is not None else self._storage.reader() as using:
            if await using.get_child(app_id, THROTTLE, self._scope, key) is None:
                return
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app_id, THROTTLE, self._scope)
            if parent is not None and await writer.delete(parent, key) is not None:
                await writer.purge_tombstones(parent)
