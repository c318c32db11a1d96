"""Kinvey credentials: ``Basic appKey:appSecret``, ``Basic appKey:masterSecret``, user sessions
(``Kinvey <token>``) and, before API version 6, ``Basic username:password`` (refused for a user
with multi-factor authentication: the password alone is not enough for that user).

Wrong credentials answer ``InvalidCredentials``; valid credentials of a kind the endpoint does not
accept answer ``InsufficientCredentials``. The two must never be confused: the SDK logs its user
out on the first.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from kinbase.core.apps import check_app_credentials
from kinbase.core.kinvey.access import Caller
from kinbase.core.services import Core
from kinbase.frontends.kinvey.errors import KinveyError
from kinbase.http.request import HttpRequest
from kinbase.storage.base import AppRecord

__all__ = ["ANY", "APP", "MASTER", "USER", "Auth", "AuthKind", "authenticate", "parse_basic"]

AuthKind = Literal["app", "master", "user"]
ANY: tuple[AuthKind, ...] = ("app", "master", "user")
APP: tuple[AuthKind, ...] = ("app", "master")
MASTER: tuple[AuthKind, ...] = ("master",)
USER: tuple[AuthKind, ...] = ("user",)


@dataclass(frozen=True, slots=True)
class Auth:
    """Who is calling: the app (app secret), the app admin (master secret) or a user."""

    kind: AuthKind | None
    caller: Caller = field(default_factory=Caller.app)
    token: str | None = None

    @property
    def is_master(self) -> bool:
        return self.kind == "master"

    @property
    def user_id(self) -> str | None:
        return self.caller.user_id


ANONYMOUS = Auth(kind=None)


def parse_basic(value: str) -> tuple[str, str] | None:
    """``(user, password)`` from a Basic authorization value, or None if malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


async def _identify(core: Core, request: HttpRequest, app: AppRecord, version: int) -> Auth:
    header = request.headers.get("authorization")
    if not header:
        raise KinveyError("InvalidCredentials", "The request has no Authorization header.")
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        pair = parse_basic(value)
        if pair is None:
            raise KinveyError("InvalidCredentials", "The Basic credentials are malformed.")
        user, secret = pair
        if "\x00" in user or "\x00" in secret:
            raise KinveyError("InvalidCredentials", "The credentials contain the character U+0000.")
        if user == app.key:
            kind = check_app_credentials(app, user, secret)
            if kind is None:
                raise KinveyError("InvalidCredentials", "Wrong app secret or master secret.")
            return Auth(kind=kind, caller=Caller.master() if kind == "master" else Caller.app())
        if version >= 6:
            raise KinveyError(
                "InvalidCredentials",
                "From API version 6 Basic authentication takes only the app or master secret: log in.",
            )
        address = request.client
        caller = await core.kinvey.caller_for_password(app, user, secret, address)
        if caller is None:
            raise KinveyError("InvalidCredentials", "Wrong username or password.")
        if caller.user_id is not None and await core.mic.mfa.verified(app, caller.user_id):
            # A password alone never opens the data of a user who set up a second factor.
            raise KinveyError(
                "InvalidCredentials", "This user logs in with a second factor: log in with API version 6."
            )
        return Auth(kind="user", caller=caller)
    if scheme == "kinvey":
        token = value.strip()
        found = await core.kinvey.caller_for_token(app, token)
        if found is None:
            raise KinveyError("InvalidCredentials", "The session token is invalid or has expired.")
        return Auth(kind="user", caller=found, token=token)
    raise KinveyError("InvalidCredentials", f"Unsupported authorization scheme {scheme!r}.")


async def authenticate(
    core: Core, request: HttpRequest, app: AppRecord, accepts: Collection[AuthKind] | None, version: int
) -> Auth:
    """Identify the caller and check that the endpoint accepts its kind of credential.

    Raises:
        KinveyError: InvalidCredentials for wrong or missing credentials, InsufficientCredentials for
            valid credentials the endpoint does not accept.
    """
    if accepts is None:
        return ANONYMOUS
    auth = await _identify(core, request, app, version)
    if auth.kind not in accepts:
        raise KinveyError(
            "InsufficientCredentials",
            "Please authenticate as an app End User or as the app admin using the Master secret to run "
            "this operation",
        )
    return auth
