"""Authorization codes, access tokens and refresh tokens of the authorization server.

All three are 256-bit random bearer strings stored only as digests (:mod:`kinbase.core.private`):

- **codes** (``kinvey.oauth_codes``): single use and short-lived, bound to the client and to the
  exact redirect URI they were issued for. Redeeming one marks it used (under the parent's write
  lock, so two concurrent redemptions cannot both succeed); a second redemption is treated as a
  stolen code: every token issued from it is revoked (RFC 6749 §4.1.2).
- **access tokens** and **refresh tokens** (``kinvey.oauth_tokens``) belong to a *family* started
  by one login. A refresh token is spent on use and replaced by a new pair of the same family; a
  spent refresh token presented again means two parties hold the family, so the whole family is
  revoked (RFC 6819 §5.2.2.3, the "reuse detection" of OAuth 2.0 Security BCP §4.14.2).

A family's records carry an ``owner`` grant ``oauth-family:<id>`` (and ``user:<id>`` for a
kinbase user), so revoking a family is one delete filtered by the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kinbase.core.kinvey.user_secrets import OAUTH_TOKENS
from kinbase.core.mic.errors import OAuthError
from kinbase.core.mic.model import Identity
from kinbase.core.permissions import user_principal
from kinbase.core.private import digest, fields, owner_grants, revoke_owned
from kinbase.errors import BaaSError
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend, WriteContext, Writer

__all__ = ["CODES", "TOKENS", "TokenPair", "TokenStore"]

CODES = "kinvey.oauth_codes"
TOKENS = OAUTH_TOKENS


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        """The token endpoint's answer (RFC 6749 §5.1)."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


class _Refused(BaaSError):
    """Raised inside a builder: the code or token cannot be spent (nothing is written)."""

    def __init__(self, reason: str, family: str | None = None) -> None:
        super().__init__(reason)
        self.family = family


def _family_principal(family: str) -> str:
    return f"oauth-family:{family}"


def _identity_fields(identity: Identity) -> dict[str, Any]:
    return {
        "service": identity.service,
        "subject": identity.subject,
        "attributes": dict(identity.attributes),
        "local": identity.local,
    }


def _identity_of(record: dict[str, Any]) -> Identity:
    return Identity(record["service"], record["subject"], record["attributes"], bool(record["local"]))


class TokenStore:
    def __init__(
        self,
        storage: StorageBackend,
        clock: Callable[[], int],
        *,
        code_seconds: int,
        access_seconds: int,
        refresh_seconds: int,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._code_ms = code_seconds * 1000
        self._access_seconds = access_seconds
        self._refresh_ms = refresh_seconds * 1000

    # -- codes --------------------------------------------------------------------------------
    async def issue_code(self, app: AppRecord, client_id: str, redirect_uri: str, identity: Identity) -> str:
        code = secrets.token_urlsafe(32)
        record = {
            "client": client_id,
            "redirect_uri": redirect_uri,
            "expires": self._clock() + self._code_ms,
            "used": None,
            **_identity_fields(identity),
        }
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, CODES, "")
            await writer.put(parent, digest(code), lambda ctx: NewVersion(record))
        return code

    async def redeem_code(self, app: AppRecord, client_id: str, redirect_uri: str, code: str) -> TokenPair:
        """Exchange a code for a new token family.

        Raises:
            OAuthError: invalid_grant for an unknown, expired, used or mismatched code.
        """
        family = secrets.token_urlsafe(16)
        now = self._clock()

        def spend(ctx: WriteContext) -> NewVersion:
            if ctx.current is None:
                raise _Refused("The authorization code is unknown.")
            record = fields(ctx.current)
            if record["used"] is not None:
                raise _Refused("The authorization code was used already.", record["used"])
            if record["expires"] <= now:
                raise _Refused("The authorization code expired.")
            if record["client"] != client_id or record["redirect_uri"] != redirect_uri:
                raise _Refused("The authorization code was issued to another client or redirect URI.")
            return NewVersion({**record, "used": family})

        refused: _Refused | None = None
        pair: TokenPair | None = None
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, CODES, "")
            try:
                if parent is None or len(code) > 512:
                    raise _Refused("The authorization code is unknown.")
                spent = await writer.put(parent, digest(code), spend)
                identity = _identity_of(fields(spent.object))
                pair = await self._issue(writer, app, client_id, identity, family)
            except _Refused as exc:
                refused = exc
                if exc.family is not None:
                    await revoke_owned(writer, app.id, TOKENS, _family_principal(exc.family))
        if refused is not None or pair is None:
            raise OAuthError("invalid_grant", refused.message if refused else "The code was refused.")
        return pair

    # -- tokens -------------------------------------------------------------------------------
    async def issue(self, app: AppRecord, client_id: str, identity: Identity) -> TokenPair:
        """A new token family for an identity that just logged in (the ``password`` grant)."""
        async with self._storage.writer() as writer:
            return await self._issue(writer, app, client_id, identity, secrets.token_urlsafe(16))

    async def _issue(
        self, writer: Writer, app: AppRecord, client_id: str, identity: Identity, family: str
    ) -> TokenPair:
        parent = await writer.ensure_parent(app.id, TOKENS, "")
        owners = [_family_principal(family)]
        if identity.local:
            owners.append(user_principal(identity.subject))
        grants = owner_grants(*owners)
        now = self._clock()
        base = {"client": client_id, "family": family, **_identity_fields(identity)}
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        access_record = {**base, "kind": "access", "expires": now + self._access_seconds * 1000}
        refresh_record = {**base, "kind": "refresh", "expires": now + self._refresh_ms, "used": False}
        await writer.put(parent, digest(access), lambda ctx: NewVersion(access_record, grants=grants))
        await writer.put(parent, digest(refresh), lambda ctx: NewVersion(refresh_record, grants=grants))
        return TokenPair(access, refresh, self._access_seconds)

    async def refresh(self, app: AppRecord, client_id: str, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair of its family.

        Raises:
            OAuthError: invalid_grant for an unknown, expired or foreign refresh token, and for a
                spent one (its whole family is revoked then).
        """
        now = self._clock()

        def spend(ctx: WriteContext) -> NewVersion:
            record = fields(ctx.current) if ctx.current is not None else None
            if record is None or record.get("kind") != "refresh":
                raise _Refused("The refresh token is unknown or was revoked.")
            if record["used"]:
                raise _Refused(
                    "The refresh token was used already: its session is revoked.", record["family"]
                )
            if record["expires"] <= now:
                raise _Refused("The refresh token expired.")
            if record["client"] != client_id:
                raise _Refused("The refresh token was issued to another client.")
            return NewVersion({**record, "used": True})

        refused: _Refused | None = None
        pair: TokenPair | None = None
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, TOKENS, "")
            try:
                if parent is None or len(refresh_token) > 512:
                    raise _Refused("The refresh token is unknown or was revoked.")
                spent = fields((await writer.put(parent, digest(refresh_token), spend)).object)
                pair = await self._issue(writer, app, client_id, _identity_of(spent), spent["family"])
            except _Refused as exc:
                refused = exc
                if exc.family is not None:
                    await revoke_owned(writer, app.id, TOKENS, _family_principal(exc.family))
        if refused is not None or pair is None:
            raise OAuthError(
                "invalid_grant", refused.message if refused else "The refresh token was refused."
            )
        return pair

    async def identity(self, app: AppRecord, access_token: str) -> Identity | None:
        """The identity of a live access token, or None."""
        if not access_token or len(access_token) > 512:
            return None
        async with self._storage.reader() as reader:
            found = await reader.get_child(app.id, TOKENS, "", digest(access_token))
        record = fields(found) if found is not None else None
        if record is None or record.get("kind") != "access" or record["expires"] <= self._clock():
            return None
        return _identity_of(record)

    async def revoke_user(self, app: AppRecord, user_id: str) -> int:
        """Revoke every token of a kinbase user (user-store identities)."""
        async with self._storage.writer() as writer:
            return await revoke_owned(writer, app.id, TOKENS, user_principal(user_id))
