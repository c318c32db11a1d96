"""API version 6 multi-factor authentication: ``/user/:appKey/mfa/*`` (the login challenge) and
``/user/:appKey/:id/authenticators``, ``/recovery-codes`` (enrolment).

The MFA session of a login that answered ``mfaRequired`` is presented as
``Authorization: KinveyMFA <mfaSessionToken>``; it opens only the challenge, the completion, and
the enrolment of a user's first authenticator. The decisions are
:class:`kinbase.core.kinvey.mfa.MfaService`'s and :class:`kinbase.core.kinvey.login.LoginService`'s.
"""

from __future__ import annotations

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.auth import AuthKind, authenticate
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.http.response import HttpResponse

__all__ = [
    "authenticator_create",
    "authenticator_delete",
    "authenticator_verify",
    "authenticators_get",
    "challenge",
    "complete",
    "recovery_codes_get",
    "recovery_codes_post",
]

_SESSION_OR_MASTER: tuple[AuthKind, ...] = ("user", "master")


def _mfa_token(call: KinveyCall) -> str | None:
    """The token of ``Authorization: KinveyMFA <token>``, if that is the scheme."""
    scheme, _, value = call.request.headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "kinveymfa" else None


def _required_mfa_token(call: KinveyCall) -> str:
    token = _mfa_token(call)
    if not token:
        raise KinveyError(
            "InvalidCredentials", "Send the MFA session token: Authorization: KinveyMFA <token>."
        )
    return token


async def _enroller(call: KinveyCall) -> tuple[Caller | None, str | None]:
    """The caller (a session or the master secret), or the user of an MFA session."""
    token = _mfa_token(call)
    if token is None:
        auth = await authenticate(call.core, call.request, call.app, _SESSION_OR_MASTER, call.api_version)
        return auth.caller, None
    user_id = await call.core.mic.mfa.session_user(call.app, token)
    if user_id is None:
        raise KinveyError("InvalidCredentials", "The MFA session is unknown, used or expired: log in again.")
    return None, user_id


# -- the login challenge ------------------------------------------------------------------------
async def challenge(call: KinveyCall) -> HttpResponse:
    """Choose the authenticator whose code the completion will carry."""
    await call.core.mic.mfa.challenge(call.app, _required_mfa_token(call), await call.json_body())
    return render.no_content()


async def complete(call: KinveyCall) -> HttpResponse:
    """Finish the login with a code: ``{"mfaRequired": false, "user", "authToken", "deviceToken"?}``."""
    token = _required_mfa_token(call)
    opened = await call.core.mic.logins.complete_mfa(
        call.app, token, await call.json_body(), call.request.client
    )
    return render.value(opened.mfa_body())


# -- authenticators and recovery codes ------------------------------------------------------------
async def authenticator_create(call: KinveyCall) -> HttpResponse:
    caller, mfa_user = await _enroller(call)
    created = await call.core.mic.mfa.create_authenticator(
        call.app, caller, call.params["user_id"], await call.json_body(), mfa_user=mfa_user
    )
    return render.value(created, 201)


async def authenticator_verify(call: KinveyCall) -> HttpResponse:
    caller, mfa_user = await _enroller(call)
    p = call.params
    codes = await call.core.mic.mfa.verify_authenticator(
        call.app, caller, p["user_id"], p["authenticator_id"], await call.json_body(), mfa_user=mfa_user
    )
    return render.value({"recoveryCodes": codes})


async def authenticators_get(call: KinveyCall) -> HttpResponse:
    return render.value(
        await call.core.mic.mfa.list_authenticators(call.app, call.caller, call.params["user_id"])
    )


async def authenticator_delete(call: KinveyCall) -> HttpResponse:
    p = call.params
    await call.core.mic.mfa.delete_authenticator(call.app, call.caller, p["user_id"], p["authenticator_id"])
    return render.no_content()


async def recovery_codes_get(call: KinveyCall) -> HttpResponse:
    """How many recovery codes are left. Their text is stored only as digests, so it cannot be
    shown again: ``recoveryCodes`` is empty and ``remaining`` counts them (POST issues new ones)."""
    left = await call.core.mic.mfa.remaining_recovery_codes(call.app, call.caller, call.params["user_id"])
    return render.value({"recoveryCodes": [], "remaining": left})


async def recovery_codes_post(call: KinveyCall) -> HttpResponse:
    """Revoke the user's recovery codes and issue a new set (shown this once)."""
    codes = await call.core.mic.mfa.regenerate_recovery_codes(call.app, call.caller, call.params["user_id"])
    return render.value({"recoveryCodes": codes})
