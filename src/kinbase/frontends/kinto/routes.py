"""Which handler serves a path below ``/v1``, by method: a table walked segment by segment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from kinbase.core.kinto.model import OBJECT_ID, Target
from kinbase.frontends.kinto.attachments import delete_attachment, post_attachment
from kinbase.frontends.kinto.call import KintoCall, KintoResponse
from kinbase.frontends.kinto.errors import Errno, KintoError
from kinbase.frontends.kinto.objects import delete_object, get_object, patch_object, put_object
from kinbase.frontends.kinto.openapi import openapi
from kinbase.frontends.kinto.plural import delete_history, delete_plural, get_plural, head_plural, post_plural
from kinbase.frontends.kinto.utility import (
    contribute,
    flush,
    heartbeat,
    hello,
    lbheartbeat,
    permissions,
    version,
)

__all__ = ["Handler", "Resolved", "resolve", "template"]

Handler = Callable[[KintoCall], Awaitable[KintoResponse]]


class Resolved:
    """The handlers of one path, by method, and what they address."""

    __slots__ = ("authenticated", "methods", "target")

    def __init__(
        self, methods: dict[str, Handler], target: Target | None = None, authenticated: bool = True
    ) -> None:
        self.methods = methods
        self.target = target
        self.authenticated = authenticated

    @property
    def allow(self) -> str:
        return ",".join(sorted({*self.methods, "OPTIONS"}))


def _plural(target: Target) -> Resolved:
    handlers: dict[str, Handler] = {
        "GET": partial(get_plural, plural=target),
        "HEAD": partial(head_plural, plural=target),
        "POST": partial(post_plural, plural=target),
        "DELETE": partial(delete_plural, plural=target),
    }
    return Resolved(handlers, target)


def _object(target: Target) -> Resolved:
    handlers: dict[str, Handler] = {
        "GET": partial(get_object, target=target),
        "HEAD": partial(get_object, target=target),
        "PUT": partial(put_object, target=target),
        "PATCH": partial(patch_object, target=target),
        "DELETE": partial(delete_object, target=target),
    }
    return Resolved(handlers, target)


def _missing(resource: str, object_id: str) -> KintoError:
    return KintoError(Errno.MISSING_RESOURCE, details={"id": object_id, "resource_name": resource})


_UTILITY: dict[str, Resolved] = {
    "__heartbeat__": Resolved({"GET": heartbeat, "HEAD": heartbeat}, authenticated=False),
    "__lbheartbeat__": Resolved({"GET": lbheartbeat, "HEAD": lbheartbeat}, authenticated=False),
    "__version__": Resolved({"GET": version, "HEAD": version}, authenticated=False),
    "__api__": Resolved({"GET": openapi, "HEAD": openapi}, authenticated=False),
    "contribute.json": Resolved({"GET": contribute, "HEAD": contribute}, authenticated=False),
    "__flush__": Resolved({"POST": flush}),
    "permissions": Resolved({"GET": permissions, "HEAD": permissions}),
}


def resolve(segments: list[str], extra: dict[str, Resolved]) -> Resolved:
    """The handlers of ``segments`` (the path below ``/v1`` split on ``/``).

    Raises:
        KintoError: 404/111 for an unknown path or an invalid parent id.
    """
    count = len(segments)
    if count == 0:
        return Resolved({"GET": hello, "HEAD": hello}, authenticated=True)
    head = segments[0]
    if count == 1:
        if head in extra:
            return extra[head]
        if head in _UTILITY:
            return _UTILITY[head]
        if head == "buckets":
            return _plural(Target("bucket"))
        if head == "accounts":
            return _plural(Target("account"))
        raise KintoError(Errno.MISSING_RESOURCE)
    if head == "accounts" and count == 2:
        return _object(Target("account", id=segments[1]))
    if head != "buckets":
        raise KintoError(Errno.MISSING_RESOURCE)
    bucket = segments[1]
    if count == 2:
        return _object(Target("bucket", id=bucket))
    if not OBJECT_ID.match(bucket):
        raise _missing("bucket", bucket)
    kind = segments[2]
    if kind == "history" and count == 3:
        target = Target("history", bucket)
        return Resolved(
            {
                "GET": partial(get_plural, plural=target),
                "HEAD": partial(head_plural, plural=target),
                "DELETE": partial(delete_history, plural=target),
            },
            target,
        )
    if kind == "groups" and count in (3, 4):
        target = Target("group", bucket)
        return _plural(target) if count == 3 else _object(target.with_id(segments[3]))
    if kind != "collections":
        raise KintoError(Errno.MISSING_RESOURCE)
    if count == 3:
        return _plural(Target("collection", bucket))
    collection = segments[3]
    if count == 4:
        return _object(Target("collection", bucket, id=collection))
    if not OBJECT_ID.match(collection):
        raise _missing("collection", collection)
    if segments[4] != "records" or count > 7:
        raise KintoError(Errno.MISSING_RESOURCE)
    target = Target("record", bucket, collection)
    if count == 7:
        if segments[6] != "attachment":
            raise KintoError(Errno.MISSING_RESOURCE)
        record = target.with_id(segments[5])
        return Resolved(
            {
                "POST": partial(post_attachment, target=record),
                "DELETE": partial(delete_attachment, target=record),
            },
            record,
        )
    return _plural(target) if count == 5 else _object(target.with_id(segments[5]))


_PLURALS = {
    "bucket": "/buckets",
    "account": "/accounts",
    "collection": "/buckets/{bid}/collections",
    "group": "/buckets/{bid}/groups",
    "record": "/buckets/{bid}/collections/{cid}/records",
    "history": "/buckets/{bid}/history",
}


def template(resolved: Resolved, segments: list[str]) -> str:
    """The route template of a resolved path (``/buckets/{bid}/collections/{id}``): the label of
    the request in the metrics, never an id."""
    target = resolved.target
    if target is None:
        return "/" + segments[0] if segments else "/"
    plural = _PLURALS.get(target.resource, "/" + target.resource)
    if len(segments) == 7:
        return plural + "/{id}/attachment"
    return plural + "/{id}" if target.id is not None else plural
