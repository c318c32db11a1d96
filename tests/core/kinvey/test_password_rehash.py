"""A login replaces a password hash stored with other argon2 parameters than the server's, and
nothing else: the user's sessions survive, a wrong password changes nothing, and a password
changed meanwhile stays changed. Two services over one store stand for the server before and
after its ``password_hash_*`` settings changed."""

from __future__ import annotations

import argon2
import orjson
import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.services import KinveyServices
from kinbase.core.kinvey.users import CREDENTIALS
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend

pytestmark = pytest.mark.anyio


def _services(storage: StorageBackend, time_cost: int) -> KinveyServices:
    settings = Settings(password_hash_time_cost=time_cost, password_hash_memory_kib=8)
    return KinveyServices(settings, storage, lambda: b"s" * 32)


async def _stored_hash(storage: StorageBackend, app: AppRecord, username: str) -> str:
    async with storage.reader() as reader:
        creds = await reader.get_parent(app.id, CREDENTIALS, "")
        assert creds is not None
        found = await reader.get_object(creds, username)
    assert found is not None
    return str(orjson.loads(found.data)["hash"])


def _time_cost(stored: str) -> int:
    return argon2.extract_parameters(stored).time_cost


async def test_a_login_rehashes_a_password_of_other_parameters(
    storage: StorageBackend, app: AppRecord
) -> None:
    before, after = _services(storage, 1), _services(storage, 2)
    signed = await before.users.signup(app, {"username": "ann", "password": "pw-1"}, with_token=True)
    assert signed.token is not None
    assert _time_cost(await _stored_hash(storage, app, "ann")) == 1

    with pytest.raises(KinveyError):
        await after.users.login(app, {"username": "ann", "password": "wrong"}, None)
    assert _time_cost(await _stored_hash(storage, app, "ann")) == 1  # a failed login changes nothing

    await after.users.login(app, {"username": "ann", "password": "pw-1"}, None)
    rehashed = await _stored_hash(storage, app, "ann")
    assert _time_cost(rehashed) == 2
    assert argon2.PasswordHasher().verify(rehashed, "pw-1")
    # the session opened before the rehash is still good: the password did not change
    assert await after.sessions.resolve(app, signed.token) is not None

    await after.users.login(app, {"username": "ann", "password": "pw-1"}, None)
    assert await _stored_hash(storage, app, "ann") == rehashed  # current parameters: left alone
    # and the old parameters' server still logs the user in (then rehashes to its own)
    await before.users.login(app, {"username": "ann", "password": "pw-1"}, None)
    assert _time_cost(await _stored_hash(storage, app, "ann")) == 1


async def test_a_rehash_never_replaces_a_password_changed_meanwhile(
    storage: StorageBackend, app: AppRecord
) -> None:
    services = _services(storage, 2)
    await services.users.signup(app, {"username": "bob", "password": "old"}, with_token=False)
    verified = await _stored_hash(storage, app, "bob")
    # the password changes between the verification and the rehash's write
    users = await services.users.login(app, {"username": "bob", "password": "old"}, None)
    await services.users.update(
        app, Caller.master(), str(users.user["_id"]), {"username": "bob", "password": "new"}
    )
    changed = await _stored_hash(storage, app, "bob")
    async with storage.writer() as writer:
        await services.users._rehash(writer, app, "bob", verified, await services.passwords.hash("old"))
    assert await _stored_hash(storage, app, "bob") == changed
    await services.users.login(app, {"username": "bob", "password": "new"}, None)
    with pytest.raises(KinveyError):
        await services.users.login(app, {"username": "bob", "password": "old"}, None)
