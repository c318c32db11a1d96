"""The recursion guard of the Flex modules' calls back into kinbase.

A Flex handler calls kinbase back (``dataStore``, ``endpointRunner``...) at the ``baasUrl`` of its
task. The official SDKs forward no header of the task on those calls, so the chain of Flex calls
a callback belongs to travels in that URL: kinbase sends ``baasUrl = <base>/_flex/<token>``, where
the token is the list of the calls in progress (each a *link*: a function for an object and hook,
or a service object), signed with the server secret. The Kinvey front-end strips the prefix,
checks the signature and hands the chain on in the :data:`CHAIN_HEADER` of the request (a client
never sets it: the front-end drops it). A Flex call made while serving that request extends the
chain; a call whose link is already in it (an endpoint that calls itself through another, a hook
whose writes run the same hook again, a data link that reads its own collection) or one beyond
:data:`MAX_DEPTH` is refused with ``BLViolationError`` before anything is sent.

A request that carries a chain is a Flex callback: ``X-Kinvey-Skip-Business-Logic: true`` is
honoured on it with the user's credentials too (``useUserContext`` without ``useBl``), as the
reference says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import orjson

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline.request import FLEX_CHAIN_HEADER

__all__ = ["CHAIN_HEADER", "CHAIN_SEGMENT", "MAX_DEPTH", "callback_base", "extend", "links_of", "verify"]

CHAIN_HEADER = FLEX_CHAIN_HEADER
CHAIN_SEGMENT = "_flex"
"""The first path segment of a callback URL: ``/_flex/<token>/appdata/...``."""
MAX_DEPTH = 5
"""Flex calls nested through callbacks, at most (a request, its hook's callback, that one's hook...)."""
_MAX_TOKEN = 4096
_CONTEXT = b"kinbase flex chain\x00"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, _CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()[:18])


def sign(secret: bytes, links: tuple[str, ...]) -> str:
    """The token of ``links`` for a callback URL (URL-safe, no ``/``)."""
    payload = _b64(orjson.dumps(list(links)))
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: bytes, token: str) -> tuple[str, ...] | None:
    """The links of a token this server signed; None for anything else."""
    if len(token) > _MAX_TOKEN:
        return None
    payload, dot, signature = token.partition(".")
    if not dot or not payload.isascii() or not hmac.compare_digest(signature, _signature(secret, payload)):
        return None
    try:
        links = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, orjson.JSONDecodeError):  # pragma: no cover - signed by this server
        return None
    if not isinstance(links, list) or not all(isinstance(link, str) for link in links):
        return None  # pragma: no cover - signed by this server
    return tuple(links)


def encode_header(links: tuple[str, ...]) -> str:
    """The value of :data:`CHAIN_HEADER` (set by the front-end after :func:`verify`)."""
    return orjson.dumps(list(links)).decode()


def links_of(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The chain a request belongs to (empty: a client's own request)."""
    raw = headers.get(CHAIN_HEADER)
    if not raw:
        return ()
    try:
        links = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ()
    return tuple(str(link) for link in links) if isinstance(links, list) else ()


def extend(links: tuple[str, ...], link: str) -> tuple[str, ...]:
    """``links`` followed by ``link``.

    Raises:
        KinveyError: BLViolationError if ``link`` is in the chain already (a circular request) or
            the chain is :data:`MAX_DEPTH` long.
    """
    if link in links:
        raise KinveyError(
            "BLViolationError",
            f"Circular request: {link} is already running in this chain of Flex callbacks "
            f"({' -> '.join(links)}); a Flex handler may not run itself again through kinbase.",
        )
    if len(links) >= MAX_DEPTH:
        raise KinveyError(
            "BLViolationError",
            f"Too many nested Flex callbacks: {' -> '.join((*links, link))} is deeper than {MAX_DEPTH}.",
        )
    return (*links, link)


def callback_base(base: str, secret: bytes, links: tuple[str, ...]) -> str:
    """The ``baasUrl`` of a task made within ``links``."""
    return f"{base.rstrip('/')}/{CHAIN_SEGMENT}/{sign(secret, links)}"
