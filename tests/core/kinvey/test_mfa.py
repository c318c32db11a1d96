"""MFA at the core: enrolment, the login decision, challenge/complete, recovery codes, devices."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.login import Opened
from kinbase.core.kinvey.mfa import MfaChallenge
from kinbase.core.kinvey.mfa.authenticators import AUTHENTICATORS
from kinbase.core.kinvey.mfa.codes import DEVICES, RECOVERY
from kinbase.core.kinvey.mfa.service import BAD_CODE, MAX_ATTEMPTS, MFA_SESSIONS
from kinbase.query.ast import Query
from tests.core.conftest import Stack

pytestmark = pytest.mark.anyio


async def _challenge(
    stack: Stack, username: str, password: str = "pw-secret", **extra: object
) -> MfaChallenge:
    outcome = await stack.logins.login(
        stack.app, {"username": username, "password": password, **extra}, address=None
    )
    assert isinstance(outcome, MfaChallenge), outcome
    return outcome


async def test_enrolment_answers_the_secret_once_and_lists_only_verified(stack: Stack) -> None:
    alice = await stack.user("alice")
    uid = alice.user["_id"]
    me = stack.caller(uid)
    created = await stack.mfa.create_authenticator(stack.app, me, uid, {"name": "phone", "type": "totp"})
    assert set(created) == {"id", "name", "type", "config"}
    assert created["name"] == "phone" and created["type"] == "totp"
    config = created["config"]
    assert config["uri"].startswith("otpauth://totp/") and f"secret={config['secret']}" in config["uri"]
    assert "alice" in config["uri"]
    assert await stack.mfa.list_authenticators(stack.app, me, uid) == []  # not verified yet
    with pytest.raises(KinveyError) as wrong:
        await stack.mfa.verify_authenticator(stack.app, me, uid, created["id"], {"code": "000000"})
    assert (wrong.value.name, wrong.value.description) == ("BadRequest", BAD_CODE)
    codes = await stack.mfa.verify_authenticator(
        stack.app, me, uid, created["id"], {"code": stack.code(config["secret"])}
    )
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 19 and c.count("-") == 3 for c in codes)
    listed = await stack.mfa.list_authenticators(stack.app, me, uid)
    assert listed == [{"id": created["id"], "name": "phone", "type": "totp"}]
    assert await stack.mfa.remaining_recovery_codes(stack.app, me, uid) == 10
    # A second authenticator keeps the codes already handed out.
    stack.clock.advance(30)
    second = await stack.mfa.create_authenticator(stack.app, me, uid, {"name": "tablet"})
    again = await stack.mfa.verify_authenticator(
        stack.app, me, uid, second["id"], {"code": stack.code(second["config"]["secret"])}
    )
    assert again == []
    assert [a["name"] for a in await stack.mfa.list_authenticators(stack.app, me, uid)] == ["phone", "tablet"]


@pytest.mark.parametrize(
    "body", [None, [], {"name": ""}, {"name": 5}, {"type": "sms"}, {"name": "x" * 300}], ids=repr
)
async def test_enrolment_refuses_bad_bodies(stack: Stack, body: object) -> None:
    alice = await stack.user()
    uid = alice.user["_id"]
    with pytest.raises(KinveyError) as err:
        await stack.mfa.create_authenticator(stack.app, stack.caller(uid), uid, body)
    assert err.value.name == "BadRequest"
    assert await stack.mfa.list_authenticators(stack.app, stack.caller(uid), uid) == []


async def test_unverified_authenticator_expires(stack: Stack) -> None:
    alice = await stack.user()
    uid, me = alice.user["_id"], stack.caller(alice.user["_id"])
    created = await stack.mfa.create_authenticator(stack.app, me, uid, {"name": "late"})
    stack.clock.advance(16 * 60)
    with pytest.raises(KinveyError) as err:
        await stack.mfa.verify_authenticator(
            stack.app, me, uid, created["id"], {"code": stack.code(created["config"]["secret"])}
        )
    assert err.value.name == "EntityNotFound"


async def test_only_the_user_or_the_master_manage_authenticators(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    aid, _, _ = await stack.enrol(alice.user["_id"])
    uid = alice.user["_id"]
    intruder = stack.caller(bob.user["_id"])
    for attempt in (
        stack.mfa.list_authenticators(stack.app, intruder, uid),
        stack.mfa.create_authenticator(stack.app, intruder, uid, {"name": "evil"}),
        stack.mfa.delete_authenticator(stack.app, intruder, uid, aid),
        stack.mfa.remaining_recovery_codes(stack.app, intruder, uid),
        stack.mfa.regenerate_recovery_codes(stack.app, intruder, uid),
        stack.mfa.create_authenticator(stack.app, Caller.app(), uid, {"name": "evil"}),
    ):
        with pytest.raises(KinveyError) as err:
            await attempt
        assert err.value.name == "InsufficientCredentials"
    # Bob cannot delete Alice's authenticator through his own user id either.
    with pytest.raises(KinveyError) as err:
        await stack.mfa.delete_authenticator(stack.app, intruder, bob.user["_id"], aid)
    assert err.value.name == "EntityNotFound"
    listed = await stack.mfa.list_authenticators(stack.app, Caller.master(), uid)
    assert [a["id"] for a in listed] == [aid]
    with pytest.raises(KinveyError) as err:
        await stack.mfa.create_authenticator(stack.app, Caller.master(), "nosuchuser", {"name": "x"})
    assert err.value.name == "UserNotFound"


async def test_an_mfa_session_cannot_add_a_second_factor(stack: Stack) -> None:
    alice = await stack.user("alice2")
    await stack.enrol(alice.user["_id"])
    challenge = await _challenge(stack, "alice2")
    user = await stack.mfa.session_user(stack.app, challenge.token)
    assert user == alice.user["_id"]
    with pytest.raises(KinveyError) as err:
        await stack.mfa.create_authenticator(stack.app, None, user, {"name": "attacker"}, mfa_user=user)
    assert err.value.name == "InsufficientCredentials"
    # A user with no verified authenticator may enrol its first one through its MFA session.
    bob = await stack.user()
    created = await stack.mfa.create_authenticator(
        stack.app, None, bob.user["_id"], {"name": "first"}, mfa_user=bob.user["_id"]
    )
    assert created["config"]["secret"]
    with pytest.raises(KinveyError):
        await stack.mfa.create_authenticator(
            stack.app, None, bob.user["_id"], {"name": "x"}, mfa_user="someone"
        )


async def test_login_without_mfa_is_classic_and_with_mfa_is_a_challenge(stack: Stack) -> None:
    plain = await stack.user("plain")
    assert plain.user["username"] == "plain" and plain.user["_kmd"]["authtoken"] == plain.token
    assert (await stack.sessions.resolve(stack.app, plain.token)) is not None
    mfa_user = await stack.user("guarded")
    aid, _, _ = await stack.enrol(mfa_user.user["_id"], "phone")
    challenge = await _challenge(stack, "guarded")
    assert challenge.body() == {
        "mfaRequired": True,
        "mfaSessionToken": challenge.token,
        "userId": mfa_user.user["_id"],
        "authenticators": [{"id": aid, "name": "phone", "type": "totp"}],
    }
    # The MFA session token is not a Kinvey session.
    assert await stack.sessions.resolve(stack.app, challenge.token) is None
    with pytest.raises(KinveyError) as err:
        await stack.logins.login(stack.app, {"username": "guarded", "password": "nope"}, address=None)
    assert err.value.name == "InvalidCredentials"
    with pytest.raises(KinveyError) as err:
        await stack.logins.login(
            stack.app, {"username": "guarded", "password": "pw-secret"}, address=None, api_version=4
        )
    assert err.value.name == "FeatureUnavailable"


async def test_challenge_and_complete_open_a_session_once(stack: Stack) -> None:
    alice = await stack.user("carol")
    aid, secret, _ = await stack.enrol(alice.user["_id"])
    challenge = await _challenge(stack, "carol")
    await stack.mfa.challenge(stack.app, challenge.token, {"authenticatorId": aid})
    opened = await stack.logins.complete_mfa(stack.app, challenge.token, {"code": stack.code(secret)}, None)
    assert opened.user["_id"] == alice.user["_id"] and opened.device_token is None
    assert opened.mfa_body() == {"mfaRequired": False, "user": opened.user, "authToken": opened.token}
    session = await stack.sessions.resolve(stack.app, opened.token)
    assert session is not None and session.user_id == alice.user["_id"]
    # Single use: the MFA session is spent.
    with pytest.raises(KinveyError) as err:
        await stack.logins.complete_mfa(stack.app, challenge.token, {"code": stack.code(secret)}, None)
    assert err.value.name == "InvalidCredentials"
    # The same TOTP code cannot be replayed in a new MFA session.
    replay = await _challenge(stack, "carol")
    with pytest.raises(KinveyError) as err:
        await stack.logins.complete_mfa(stack.app, replay.token, {"code": stack.code(secret)}, None)
    assert err.value.description == BAD_CODE
    stack.clock.advance(30)
    assert (
        await stack.logins.complete_mfa(stack.app, replay.token, {"code": stack.code(secret)}, None)
    ).token


async def test_challenge_refuses_unknown_authenticators_and_sessions(stack: Stack) -> None:
    alice, bob = await stack.user("dave"), await stack.user()
    await stack.enrol(alice.user["_id"])
    bob_aid, _, _ = await stack.enrol(bob.user["_id"])
    challenge = await _challenge(stack, "dave")
    for body, name in (
        ({"authenticatorId": bob_aid}, "EntityNotFound"),
        ({}, "BadRequest"),
        (None, "BadRequest"),
    ):
        with pytest.raises(KinveyError) as err:
            await stack.mfa.challenge(stack.app, challenge.token, body)
        assert err.value.name == name
    with pytest.raises(KinveyError) as err:
        await stack.mfa.challenge(stack.app, "forged", {"authenticatorId": bob_aid})
    assert err.value.name == "InvalidCredentials"
    stack.clock.advance(301)
    with pytest.raises(KinveyError) as err:
        await stack.logins.complete_mfa(stack.app, challenge.token, {"code": "123456"}, None)
    assert err.value.name == "InvalidCredentials"


async def test_wrong_codes_end_the_mfa_session(stack: Stack) -> None:
    alice = await stack.user("erin")
    _, secret, _ = await stack.enrol(alice.user["_id"])
    challenge = await _challenge(stack, "erin")
    good = stack.code(secret)
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(MAX_ATTEMPTS):
        await stack.throttle.clear(stack.app.id)  # the per-user throttle is tested apart
        with pytest.raises(KinveyError) as err:
            await stack.logins.complete_mfa(stack.app, challenge.token, {"code": wrong}, None)
        assert err.value.name == "BadRequest"
    with pytest.raises(KinveyError) as err:
        await stack.logins.complete_mfa(stack.app, challenge.token, {"code": good}, None)
    assert err.value.name == "InvalidCredentials"


async def test_wrong_codes_throttle_the_user(stack: Stack) -> None:
    alice = await stack.user("fay")
    await stack.enrol(alice.user["_id"])
    names = []
    for _ in range(6):
        challenge = await _challenge(stack, "fay")
        try:
            await stack.logins.complete_mfa(stack.app, challenge.token, {"code": "999999"}, None)
        except KinveyError as exc:
            names.append(exc.name)
    assert names[:4] == ["BadRequest"] * 4 and names[4:] == ["LoginThrottled"] * 2


async def test_recovery_codes_at_login_and_complete_are_single_use(stack: Stack) -> None:
    alice = await stack.user("gil")
    uid = alice.user["_id"]
    _, _, codes = await stack.enrol(uid)
    opened = await stack.logins.login(
        stack.app,
        {"username": "gil", "password": "pw-secret", "recoveryCode": codes[0].upper()},
        address=None,
    )
    assert isinstance(opened, Opened) and opened.user["_id"] == uid
    with pytest.raises(KinveyError) as err:
        await stack.logins.login(
            stack.app, {"username": "gil", "password": "pw-secret", "recoveryCode": codes[0]}, address=None
        )
    assert err.value.name == "InvalidCredentials"
    # A recovery code also completes an MFA session.
    challenge = await _challenge(stack, "gil")
    done = await stack.logins.complete_mfa(stack.app, challenge.token, {"code": codes[1]}, None)
    assert done.user["_id"] == uid
    assert await stack.mfa.remaining_recovery_codes(stack.app, stack.caller(uid), uid) == 8
    # Another user's code is worthless here.
    bob = await stack.user("hal")
    _, _, bob_codes = await stack.enrol(bob.user["_id"])
    with pytest.raises(KinveyError):
        await stack.logins.login(
            stack.app,
            {"username": "gil", "password": "pw-secret", "recoveryCode": bob_codes[0]},
            address=None,
        )


async def test_regenerating_recovery_codes_revokes_the_old_ones(stack: Stack) -> None:
    alice = await stack.user("ida")
    uid, me = alice.user["_id"], stack.caller(alice.user["_id"])
    with pytest.raises(KinveyError) as err:
        await stack.mfa.regenerate_recovery_codes(stack.app, me, uid)
    assert err.value.name == "BadRequest"
    _, _, old = await stack.enrol(uid)
    new = await stack.mfa.regenerate_recovery_codes(stack.app, me, uid)
    assert len(new) == 10 and not set(new) & set(old)
    assert not await stack.mfa.redeem_recovery_code(stack.app, uid, old[0])
    assert await stack.mfa.redeem_recovery_code(stack.app, uid, new[0])
    assert await stack.mfa.remaining_recovery_codes(stack.app, me, uid) == 9


async def test_device_token_skips_the_challenge_for_its_user_until_it_expires(stack: Stack) -> None:
    alice, bob = await stack.user("jo"), await stack.user("kim")
    _, secret, _ = await stack.enrol(alice.user["_id"])
    await stack.enrol(bob.user["_id"])
    challenge = await _challenge(stack, "jo")
    opened = await stack.logins.complete_mfa(
        stack.app, challenge.token, {"code": stack.code(secret), "createDeviceToken": True}, None
    )
    device = opened.device_token
    assert device and opened.mfa_body()["deviceToken"] == device
    again = await stack.logins.login(
        stack.app, {"username": "jo", "password": "pw-secret", "deviceToken": device}, address=None
    )
    assert isinstance(again, Opened)
    # Bound to its user, and to the right password.
    await _challenge(stack, "kim", deviceToken=device)
    with pytest.raises(KinveyError):
        await stack.logins.login(
            stack.app, {"username": "jo", "password": "x", "deviceToken": device}, address=None
        )
    await _challenge(stack, "jo", deviceToken="forged")
    stack.clock.advance(31 * 86400)
    await _challenge(stack, "jo", deviceToken=device)


async def test_device_tokens_are_revocable(stack: Stack) -> None:
    alice = await stack.user("lee")
    uid = alice.user["_id"]
    _, secret, _ = await stack.enrol(uid)
    challenge = await _challenge(stack, "lee")
    opened = await stack.logins.complete_mfa(
        stack.app, challenge.token, {"code": stack.code(secret), "createDeviceToken": True}, None
    )
    assert await stack.mfa.revoke_device_tokens(stack.app, stack.caller(uid), uid) == 1
    await _challenge(stack, "lee", deviceToken=opened.device_token)


async def test_removing_the_last_authenticator_turns_mfa_off(stack: Stack) -> None:
    alice = await stack.user("max")
    uid, me = alice.user["_id"], stack.caller(alice.user["_id"])
    aid, _, codes = await stack.enrol(uid)
    await _challenge(stack, "max")
    with pytest.raises(KinveyError) as err:
        await stack.mfa.delete_authenticator(stack.app, me, uid, "nonExistingId")
    assert (err.value.name, err.value.description) == (
        "EntityNotFound",
        "Could not find the specified authenticator.",
    )
    await stack.mfa.delete_authenticator(stack.app, me, uid, aid)
    outcome = await stack.logins.login(stack.app, {"username": "max", "password": "pw-secret"}, address=None)
    assert isinstance(outcome, Opened)
    assert await stack.mfa.remaining_recovery_codes(stack.app, me, uid) == 0
    assert not await stack.mfa.redeem_recovery_code(stack.app, uid, codes[0])


async def test_concurrent_completions_open_one_session(stack: Stack) -> None:
    alice = await stack.user("ned")
    _, secret, codes = await stack.enrol(alice.user["_id"])
    challenge = await _challenge(stack, "ned")
    code = stack.code(secret)
    results = await asyncio.gather(
        *(
            stack.logins.complete_mfa(stack.app, challenge.token, {"code": c}, None)
            for c in (code, code, codes[0])
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Opened) for r in results) == 1
    assert all(isinstance(r, KinveyError) for r in results if not isinstance(r, Opened))


async def test_secrets_are_private_and_codes_stored_as_digests(stack: Stack) -> None:
    alice = await stack.user("oz")
    uid = alice.user["_id"]
    _, secret, codes = await stack.enrol(uid)
    challenge = await _challenge(stack, "oz")
    opened = await stack.logins.complete_mfa(
        stack.app, challenge.token, {"code": stack.code(secret), "createDeviceToken": True}, None
    )
    user_doc = await stack.users.get(stack.app, Caller.master(), uid)
    assert secret not in user_doc and "mfa" not in user_doc.lower()
    assert secret not in orjson.dumps(opened.user).decode()
    stored: list[str] = []
    async with stack.storage.reader() as reader:
        for kind in (RECOVERY, DEVICES, MFA_SESSIONS, AUTHENTICATORS):
            parent = await reader.get_parent(stack.app.id, kind, "")
            assert parent is not None
            for found in await reader.find(parent, Query(), None):
                stored.append(found.id + found.data)
    text = "".join(stored)
    assert all(c.replace("-", "") not in text and c not in text for c in codes)
    assert opened.device_token is not None and opened.device_token not in text
    assert challenge.token not in text
    assert secret in text  # the TOTP secret must stay readable to check codes, only here
