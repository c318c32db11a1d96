"""``/user/:appKey[...]``: sign-up, login, logout, me, profile CRUD, lookup, count, roles."""

from __future__ import annotations

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.mfa import MfaChallenge
from kinbase.core.kinvey.users import user_with_token
from kinbase.core.kinvey.wire import parse_filter
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.frontends.kinvey.querystring import parse_query
from kinbase.http.response import HttpResponse
from kinbase.query.ast import Query

__all__ = [
    "count",
    "login",
    "logout",
    "lookup",
    "me",
    "restore",
    "role_assign",
    "role_remove",
    "roles_of",
    "signup",
    "tokens_delete",
    "user_delete",
    "user_get",
    "user_put",
    "users_get",
]


def _location(call: KinveyCall, user_id: str) -> str:
    return call.url("user", call.app.key, user_id)


async def signup(call: KinveyCall) -> HttpResponse:
    """Create a user. Before API version 6 the answer carries a session (``_kmd.authtoken``).

    With ``_socialIdentity.kinveyAuth`` (Mobile Identity Connect) the user is created linked to
    the identity the access token names, and always answered with a session."""
    body = await call.json_body()
    if isinstance(body, dict) and "_socialIdentity" in body:
        opened = await call.core.mic.logins.signup_social(call.app, body)
        return _created(call, opened.user)
    result = await call.kinvey.users.signup(call.app, body, with_token=call.api_version < 6)
    return _created(call, result.user)


def _created(call: KinveyCall, user: dict[str, object]) -> HttpResponse:
    response = render.value(user, 201)
    response.headers["Location"] = _location(call, str(user["_id"]))
    return response


async def login(call: KinveyCall) -> HttpResponse:
    """Username and password (with ``recoveryCode`` or ``deviceToken``), or ``_socialIdentity``:
    the user with ``_kmd.authtoken``, or (API version 6, a user with an authenticator) the
    ``mfaRequired`` challenge."""
    outcome = await call.core.mic.logins.login(
        call.app, await call.json_body(), address=call.request.client, api_version=call.api_version
    )
    if isinstance(outcome, MfaChallenge):
        return render.value(outcome.body())
    return render.value(outcome.user)


async def logout(call: KinveyCall) -> HttpResponse:
    if call.auth.token is not None:
        await call.kinvey.sessions.close(call.app, call.auth.token)
    return render.no_content()


async def me(call: KinveyCall) -> HttpResponse:
    assert call.auth.user_id is not None
    stored = await call.kinvey.users.stored(call.app, call.auth.user_id)
    if stored is None:
        raise KinveyError("UserNotFound", "The user of this session no longer exists.")
    return render.value(user_with_token(stored.data, call.auth.token))


async def users_get(call: KinveyCall) -> HttpResponse:
    with_count = call.flag("x-kinvey-include-items-count")
    result = await call.kinvey.users.find(
        call.app, call.caller, parse_query(call.query), api_version=call.api_version, with_count=with_count
    )
    return render.listing(result)


async def count(call: KinveyCall) -> HttpResponse:
    return render.count(await call.kinvey.users.count(call.app, call.caller, parse_query(call.query)))


async def lookup(call: KinveyCall) -> HttpResponse:
    """``_lookup``: the body is a filter."""
    body = await call.json_body()
    query = Query(filter=parse_filter(body if body is not None else {}))
    result = await call.kinvey.users.find(call.app, call.caller, query, api_version=call.api_version)
    return render.listing(result)


async def user_get(call: KinveyCall) -> HttpResponse:
    return render.entity(await call.kinvey.users.get(call.app, call.caller, call.params["user_id"]))


async def user_put(call: KinveyCall) -> HttpResponse:
    user_id: str = call.params["user_id"]
    body = await call.json_body()
    token = call.auth.token
    stored = await call.kinvey.users.update(call.app, call.caller, user_id, body, keep_session=token)
    token = call.auth.token if call.auth.user_id == user_id else None
    answer = user_with_token(stored.data, token)
    if token is not None and isinstance(body, dict) and isinstance(body.get("_socialIdentity"), dict):
        # Never stored (no other reader may see its tokens), but the SDKs keep their MIC session
        # in the user they get back: the user's own copy is echoed to itself.
        answer["_socialIdentity"] = body["_socialIdentity"]
    return render.value(answer)


def _flag(call: KinveyCall, name: str) -> bool:
    return call.query.get(name, "").lower() == "true"


async def user_delete(call: KinveyCall) -> HttpResponse:
    """Soft delete (disable) by default; ``?hard=true`` removes (API version 1: ``?soft=true``)."""
    hard = not _flag(call, "soft") if call.api_version < 2 else _flag(call, "hard")
    await call.kinvey.users.delete(call.app, call.caller, call.params["user_id"], hard=hard)
    return render.no_content()


async def restore(call: KinveyCall) -> HttpResponse:
    await call.kinvey.users.restore(call.app, call.params["user_id"])
    return render.no_content()


async def tokens_delete(call: KinveyCall) -> HttpResponse:
    await call.kinvey.users.revoke_sessions(call.app, call.caller, call.params["user_id"])
    return render.no_content()


async def roles_of(call: KinveyCall) -> HttpResponse:
    members = await call.kinvey.roles.members(call.app, call.caller, None, call.params["user_id"])
    return render.value([{k: v for k, v in m.items() if k != "userId"} for m in members])


async def role_assign(call: KinveyCall) -> HttpResponse:
    p = call.params
    await call.kinvey.roles.assign(call.app, call.caller, p["user_id"], p["role_id"], grant=True)
    return render.no_content()


async def role_remove(call: KinveyCall) -> HttpResponse:
    p = call.params
    await call.kinvey.roles.assign(call.app, call.caller, p["user_id"], p["role_id"], grant=False)
    return render.no_content()
