"""The login stack of the core (users, MFA, MIC) over each storage engine, with a movable clock."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest

from kinbase.core.apps import AppService
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.login import LoginService, Opened
from kinbase.core.kinvey.mfa import MfaService
from kinbase.core.kinvey.passwords import PasswordService
from kinbase.core.kinvey.sessions import SessionService
from kinbase.core.kinvey.users import UserService
from kinbase.core.mic.identity import FlexAuthClient, IdentityChecker
from kinbase.core.mic.model import AuthService, StaticAuthServices
from kinbase.core.mic.server import AuthorizationServer
from kinbase.core.permissions import Principals
from kinbase.core.throttle import LoginThrottle, ThrottlePolicy
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.sqlite import SQLiteStorage
from kinbase.storage.stamps import now_ms


@dataclass
class Clock:
    """Real time plus an offset the test moves forward."""

    offset: int = 0

    def __call__(self) -> int:
        return now_ms() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += int(seconds * 1000)


@dataclass
class Stack:
    storage: StorageBackend
    app: AppRecord
    clock: Clock
    users: UserService
    sessions: SessionService
    mfa: MfaService
    logins: LoginService
    throttle: LoginThrottle
    directory: StaticAuthServices
    identities: IdentityChecker
    oauth: AuthorizationServer
    apps: AppService

    async def user(self, username: str | None = None, password: str = "pw-secret", **extra: Any) -> Opened:
        """Sign up a user and return its first session (classic login)."""
        name = username or "u" + secrets.token_hex(4)
        await self.users.signup(self.app, {"username": name, "password": password, **extra}, with_token=False)
        outcome = await self.logins.login(self.app, {"username": name, "password": password}, address=None)
        assert isinstance(outcome, Opened)
        return outcome

    def caller(self, user_id: str) -> Caller:
        return Caller("user", Principals.for_user(user_id))

    def code(self, secret: str) -> str:
        """The current TOTP code of ``secret`` by this stack's clock."""
        return pyotp.TOTP(secret).at(self.clock() / 1000)

    async def enrol(self, user_id: str, name: str = "phone") -> tuple[str, str, list[str]]:
        """A verified authenticator: its id, its secret and the recovery codes."""
        created = await self.mfa.create_authenticator(self.app, self.caller(user_id), user_id, {"name": name})
        secret = created["config"]["secret"]
        codes = await self.mfa.verify_authenticator(
            self.app, self.caller(user_id), user_id, created["id"], {"code": self.code(secret)}
        )
        self.clock.advance(30)  # the next code of this authenticator is a new one
        return created["id"], secret, codes

    def services(self, declared: Sequence[AuthService], app: AppRecord | None = None) -> None:
        for service in declared:
            self.directory.add((app or self.app).key, service)


def make_stack(
    storage: StorageBackend,
    app: AppRecord,
    *,
    flex: FlexAuthClient | None = None,
    server_secret: bytes | None = None,
) -> Stack:
    clock = Clock()
    secret = server_secret or secrets.token_bytes(32)
    passwords = PasswordService(lambda: secret, time_cost=1, memory_kib=8)
    throttle = LoginThrottle(
        storage,
        ThrottlePolicy(max_failures=4, lockout_seconds=60, delay_after=4),
        "kinvey",
        refuse=lambda message, seconds: KinveyError("LoginThrottled", message),
    )
    sessions = SessionService(storage)
    users = UserService(storage, passwords, sessions, throttle)
    mfa = MfaService(storage, throttle, clock=clock)
    apps = AppService(storage, cache_seconds=0)
    directory = StaticAuthServices()
    identities = IdentityChecker(users, mfa, throttle, flex)
    oauth = AuthorizationServer(storage, apps, directory, identities, lambda: secret, clock=clock)
    logins = LoginService(storage, users, sessions, mfa, throttle, oauth)
    return Stack(
        storage, app, clock, users, sessions, mfa, logins, throttle, directory, identities, oauth, apps
    )


@pytest.fixture
def stack(storage: StorageBackend, app: AppRecord) -> Stack:
    return make_stack(storage, app)


@pytest.fixture
async def sqlite_pair(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStorage, SQLiteStorage]]:
    """Two started handles on one SQLite file: two worker processes."""
    first, second = SQLiteStorage(tmp_path / "db.sqlite"), SQLiteStorage(tmp_path / "db.sqlite")
    await first.start()
    await second.start()
    yield first, second
    await first.stop()
    await second.stop()
