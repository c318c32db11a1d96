"""Social identities: the link between an identity kinbase's authorization server vouched for and
the kinbase user it logs in as.

``POST /user/:appKey/login`` (and sign-up) with ``{"_socialIdentity": {"kinveyAuth": {...}}}``
presents the ``access_token`` kinbase issued at ``/oauth/token``. The token names an identity
(auth service + subject); a link record in the private parent ``kinvey.identities``, under the
digest of that pair, names the user. An identity of the user-store source *is* a kinbase user and
needs no link. The presented tokens are never stored in the user document (the SDKs PUT them back;
:func:`kinbase.core.kinvey.users.user_builder` drops ``_socialIdentity``), so no other user, and no
user read, can see them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.permissions import user_principal
from kinbase.core.private import digest, fields, owner_grants
from kinbase.errors import BaaSError
from kinbase.storage.base import AppRecord, NewVersion, Reader, WriteContext, Writer

__all__ = [
    "IDENTITIES",
    "PROVIDER",
    "AccessTokens",
    "Identity",
    "Linked",
    "kinvey_auth",
    "link",
    "linked_user",
]

IDENTITIES = "kinvey.identities"
PROVIDER = "kinveyAuth"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an identity source vouched for.

    Attributes:
        service: the id of the auth service that checked it.
        subject: the identity's stable name in that service: the kinbase user id for the user
            store, the username a FlexAuth handler accepted otherwise.
        attributes: what the source said about it (a FlexAuth handler's ``addAttribute`` values).
        local: the subject is a kinbase user id of the app (the user-store source).
    """

    service: str
    subject: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    local: bool = False


class AccessTokens(Protocol):
    """Resolves the access tokens kinbase's authorization server issued."""

    async def identity_for_access_token(self, app: AppRecord, token: str) -> Identity | None:
        """The identity of a live access token of ``app``, or None."""
        ...


class Linked(BaaSError):
    """The identity is linked to a user already."""


def kinvey_auth(social: Any) -> dict[str, Any]:
    """The ``kinveyAuth`` identity of a ``_socialIdentity`` value, with a string ``access_token``.

    Raises:
        KinveyError: BadRequest for another provider or a malformed value.
    """
    if not isinstance(social, Mapping) or not social:
        raise KinveyError("BadRequest", "_socialIdentity must be an object keyed by provider.")
    if PROVIDER not in social:
        names = ", ".join(sorted(str(k) for k in social))
        raise KinveyError(
            "BadRequest",
            f"Only the {PROVIDER!r} identity (Mobile Identity Connect) is supported, not {names}.",
        )
    identity = social[PROVIDER]
    token = identity.get("access_token") if isinstance(identity, Mapping) else None
    if not isinstance(token, str) or not token or len(token) > 512:
        raise KinveyError("BadRequest", f"_socialIdentity.{PROVIDER}.access_token must be a string.")
    return dict(identity)


def _link_id(identity: Identity) -> str:
    return digest(f"{identity.service}\0{identity.subject}")


async def linked_user(reader: Reader, app_id: int, identity: Identity) -> str | None:
    """The id of the user ``identity`` logs in as, or None if it was never linked."""
    if identity.local:
        return identity.subject
    found = await reader.get_child(app_id, IDENTITIES, "", _link_id(identity))
    return str(fields(found)["user"]) if found is not None else None


async def link(writer: Writer, app_id: int, identity: Identity, user_id: str) -> None:
    """Link ``identity`` to ``user_id`` (first thing in the transaction: it takes the lock that
    makes two concurrent sign-ups of one identity create one user).

    Raises:
        Linked: if the identity is linked already.
    """
    parent = await writer.ensure_parent(app_id, IDENTITIES, "")
    record: dict[str, Any] = {
        "user": user_id,
        "service": identity.service,
        "subject": identity.subject,
        "attributes": dict(identity.attributes),
    }

    def build(ctx: WriteContext) -> NewVersion:
        if ctx.current is not None:
            raise Linked()
        return NewVersion(record, creator=user_id, grants=owner_grants(user_principal(user_id)))

    await writer.put(parent, _link_id(identity), build)
