"""What a user owns besides its profile and sessions, and when it is revoked.

Private records of a user (:mod:`kinbase.core.private`) carry an ``owner`` grant for it, so each
kind is dropped with one delete filtered by the database, in the transaction that changes the
user's credentials:

- a **password change or reset**, and ``DELETE /user/:appKey/:id/tokens``: the OAuth tokens
  kinbase's authorization server issued for the user (user-store identities) and its pending MFA
  logins, with its other sessions: whoever held the old password keeps nothing;
- **disabling** the user: the same;
- **deleting** the user: everything it owns, its authenticators, recovery codes, trusted devices
  and the links of its social identities too.
"""

from __future__ import annotations

from kinbase.core.kinvey.mfa.authenticators import AUTHENTICATORS
from kinbase.core.kinvey.mfa.codes import DEVICES, RECOVERY
from kinbase.core.kinvey.mfa.service import MFA_SESSIONS
from kinbase.core.kinvey.social import IDENTITIES
from kinbase.core.permissions import user_principal
from kinbase.core.private import revoke_owned
from kinbase.storage.base import Writer

__all__ = ["OAUTH_TOKENS", "ON_CREDENTIALS", "ON_DELETE", "revoke"]

OAUTH_TOKENS = "kinvey.oauth_tokens"
ON_CREDENTIALS = (OAUTH_TOKENS, MFA_SESSIONS)
ON_DELETE = (OAUTH_TOKENS, MFA_SESSIONS, AUTHENTICATORS, RECOVERY, DEVICES, IDENTITIES)


async def revoke(writer: Writer, app_id: int, user_id: str, kinds: tuple[str, ...]) -> int:
    """Delete the user's records of ``kinds``; returns how many."""
    principal = user_principal(user_id)
    return sum([await revoke_owned(writer, app_id, kind, principal) for kind in kinds])
