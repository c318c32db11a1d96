"""Read-modify-writes of the Kinvey services under concurrency: on PostgreSQL writers run
concurrently, so each reads what it changes under its parent's lock
(:meth:`~kinbase.storage.base.Writer.get_object_for_update`): no lost update, no check that two
writers pass at once."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.services import KinveyServices
from kinbase.core.kinvey.users import CREDENTIALS, USERS
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend

pytestmark = pytest.mark.anyio
MASTER = Caller.master()


def _services(storage: StorageBackend) -> KinveyServices:
    settings = Settings(password_hash_time_cost=1, password_hash_memory_kib=8)
    return KinveyServices(settings, storage, lambda: b"s" * 32)


async def test_two_signups_of_one_username_give_one_user(storage: StorageBackend, app: AppRecord) -> None:
    kinvey = _services(storage)
    # the parents exist (their creation would make the sign-ups wait for each other anyway)
    await kinvey.users.signup(app, {"username": "first", "password": "pw"}, with_token=False)
    results = await asyncio.gather(
        *(
            kinvey.users.signup(app, {"username": "ann", "password": f"pw-{i}"}, with_token=False)
            for i in range(8)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, KinveyError)]
    assert len(created) == 1 and len(refused) == 7, results
    assert all(r.name == "UserAlreadyExists" for r in refused)
    async with storage.reader() as reader:
        users = await reader.get_parent(app.id, USERS, "")
        creds = await reader.get_parent(app.id, CREDENTIALS, "")
        assert users is not None and creds is not None
        assert users.live == 2
        record = await reader.get_object(creds, "ann")
    assert record is not None and orjson.loads(record.data)["user"] == created[0].user["_id"]


async def test_logins_do_not_undo_a_profile_update(storage: StorageBackend, app: AppRecord) -> None:
    kinvey = _services(storage)
    signed = await kinvey.users.signup(app, {"username": "bob", "password": "pw"}, with_token=False)
    user_id = signed.user["_id"]

    async def login() -> None:
        await kinvey.users.login(app, {"username": "bob", "password": "pw"}, None)

    for round_ in range(5):
        update = kinvey.users.update(app, MASTER, user_id, {"username": "bob", "nickname": f"bob-{round_}"})
        await asyncio.gather(*(login() for _ in range(4)), update, *(login() for _ in range(4)))
        stored = await kinvey.users.stored(app, user_id)
        assert stored is not None and orjson.loads(stored.data).get("nickname") == f"bob-{round_}"


async def test_a_mail_token_is_redeemed_once(storage: StorageBackend, app: AppRecord) -> None:
    kinvey = _services(storage)
    for _ in range(5):
        token = await kinvey.mail._token(app, "reset", "u1", "u1@example.com")
        redeemed = await asyncio.gather(
            *(kinvey.mail.redeem(app, token, "reset", consume=True) for _ in range(6))
        )
        assert sum(r is not None for r in redeemed) == 1


async def test_a_reset_token_sets_one_password(storage: StorageBackend, app: AppRecord) -> None:
    kinvey = _services(storage)
    signed = await kinvey.users.signup(app, {"username": "cid", "password": "old"}, with_token=False)
    token = await kinvey.mail._token(app, "reset", signed.user["_id"], "cid@example.com")
    done = await asyncio.gather(*(kinvey.mail.finish_reset(app, token, f"new-{i}") for i in range(4)))
    assert done.count(True) == 1
    chosen = f"new-{done.index(True)}"
    assert await kinvey.users.check_password(app, "cid", chosen, None) is not None
    assert not await kinvey.mail.finish_reset(app, token, "again")
