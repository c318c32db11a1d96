"""Kinto authentication: Basic auth against the accounts, or Kinto's legacy ``basicauth`` policy.

Passwords are bcrypt hashes (as Kinto's accounts plugin stores them). bcrypt costs ~200 ms at
12 rounds, so it runs in a thread pool (it releases the GIL; a thread per core below the server's
scheduling priority, :mod:`kinbase.core.hashing_pool`, so the event loop stays responsive) and a
successful check is cached: the cache key is an HMAC (keyed by the server secret) of the app and
the user, and the cached value an HMAC of the password **and the stored hash**. The account itself
is read through the structure cache (:mod:`.principals`): any account change bumps the app's
structure version, which every request reads, so a password change (a new hash, with a new salt)
or a deletion is effective at once on every worker of every machine. Concurrent checks of the
same uncached credentials share one bcrypt run.

Every bcrypt check goes through the login throttle (:mod:`kinbase.core.throttle`, shared by every
worker through the database): after a few failed checks of an account, further attempts (the
right password included) are refused with 429 for a growing delay, then locked out. Credentials
verified recently consult its cached answer (a dictionary lookup on the usual request); each use
of a cached entry extends its lifetime by ``account_cache_ttl_seconds``, as in Kinto.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time

import bcrypt
import orjson

from kinbase.core.hashing_pool import hashing_pool
from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.context import StaleStructure
from kinbase.core.kinto.model import ACCOUNT_ID, Target
from kinbase.core.kinto.store import KintoStore
from kinbase.core.throttle import LoginThrottle
from kinbase.storage.base import AppRecord, Reader, StorageBackend
from kinbase.types import Stamp

__all__ = ["KintoAuth", "PasswordHasher", "parse_basic"]

_MAX_CACHED = 50_000


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of a Basic ``Authorization`` header, None if absent or malformed."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


class PasswordHasher:
    """bcrypt in a thread pool of this worker's share of the cores, below the server's priority."""

    def __init__(self, workers: int = 1) -> None:
        self._executor = hashing_pool("kinbase-bcrypt", workers)

    async def hash(self, password: str, rounds: int) -> str:
        def run() -> str:
            return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def check(self, password: str, hashed: str) -> bool:
        def run() -> bool:
            try:
                return bcrypt.checkpw(password.encode(), hashed.encode())
            except ValueError:
                return False

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    def close(self) -> None:
        self._executor.shutdown(wait=False)


class KintoAuth:
    """Turns an ``Authorization`` header into a Kinto user id (``account:alice``) or None."""

    def __init__(
        self, storage: StorageBackend, store: KintoStore, hasher: PasswordHasher, throttle: LoginThrottle
    ) -> None:
        self._storage = storage
        self._store = store
        self._hasher = hasher
        self.throttle = throttle
        self._verified: dict[bytes, tuple[bytes, float]] = {}
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}

    async def user_id(
        self,
        reader: Reader,
        app: AppRecord,
        config: KintoConfig,
        secret: bytes,
        header: str | None,
        version: Stamp | None = None,
        address: str | None = None,
        *,
        cached_only: bool = False,
    ) -> str | None:
        """The user the credentials authenticate, or None (anonymous: wrong credentials are not
        an error until a permission is needed, as in Kinto).

        Raises:
            TooManyRequests: while the account (or the address) is throttled.
            StaleStructure: with ``cached_only`` (``version`` only presumed), when the password
                would have to be checked: it is checked once the version is read.
        """
        pair = parse_basic(header)
        if pair is None:
            return None
        user, password = pair
        for policy in config.auth_policies:
            if policy == "account" and config.accounts:
                if await self._account(
                    reader, app, config, secret, user, password, version, address, cached_only
                ):
                    return f"account:{user}"
            elif policy == "basicauth":
                key = config.userid_hmac_secret.encode() if config.userid_hmac_secret else secret
                digest = hmac.new(key, f"{user}:{password}".encode(), hashlib.sha256).hexdigest()
                return f"basicauth:{digest}"
        return None

    async def _account(
        self,
        reader: Reader,
        app: AppRecord,
        config: KintoConfig,
        secret: bytes,
        user: str,
        password: str,
        version: Stamp | None,
        address: str | None,
        cached_only: bool = False,
    ) -> bool:
        if not ACCOUNT_ID.match(user):
            return False
        account = (await self._store.load(reader, app.id, Target("account", id=user), version)).obj
        if account is None:
            return False
        stored = orjson.loads(account.data).get("password")
        if not isinstance(stored, str):
            return False
        cache_key = hmac.new(secret, f"{app.id}:accounts:{user}:verified".encode(), hashlib.sha256).digest()
        token = hmac.new(cache_key, f"{password}\0{stored}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        cached = self._verified.get(cache_key)
        if cached is not None and cached[1] > now and hmac.compare_digest(cached[0], token):
            await self.throttle.check_cached(app.id, user, address, reader)
            # a hit refreshes the entry's lifetime, as Kinto's cache.expire does: an account in
            # steady use never waits for bcrypt again (every request arriving during a check
            # waited for it; the token holds the stored hash, so a new password still misses)
            self._verified[cache_key] = (token, now + config.account_cache_ttl_seconds)
            return True
        if cached_only:  # no bcrypt (nor a throttled failure) against a presumed account
            raise StaleStructure
        running = self._inflight.get(token)
        if running is None:
            # The check reads through this request's reader (which it holds meanwhile: a second
            # pooled connection per request could exhaust the pool under load).
            running = asyncio.ensure_future(
                self._throttled_check(reader, app.id, user, password, stored, address)
            )
            self._inflight[token] = running
            try:
                ok = await running
            finally:
                self._inflight.pop(token, None)
        else:
            ok = await asyncio.shield(running)
        if ok and config.account_cache_ttl_seconds > 0:
            if len(self._verified) >= _MAX_CACHED:
                self._verified.clear()
            self._verified[cache_key] = (token, time.monotonic() + config.account_cache_ttl_seconds)
        return ok

    async def _throttled_check(
        self, reader: Reader, app_id: int, user: str, password: str, stored: str, address: str | None
    ) -> bool:
        await self.throttle.check(app_id, user, address, reader)
        if await self._hasher.check(password, stored):
            await self.throttle.succeeded(app_id, user, reader)
            return True
        await self.throttle.failed(app_id, user, address)
        return False
