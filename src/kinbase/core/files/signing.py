"""Signed, expiring links to file bytes: what a client presents instead of credentials.

A link token is ``<version>.<expires>.<signature>``: the version of the bytes it reaches (each
upload gets a new one, so replacing a file invalidates every earlier link), the expiry in
seconds since the epoch (``0``: never, for public files) and a URL-safe HMAC-SHA256 over the
purpose (``upload``, ``download``, ``remove``), the app, the file, the version and the expiry.
The key is derived from the server secret (shared by every worker and machine), never the secret
itself, and verification runs in constant time. A tampered field changes the signature; an
expired link is refused even with a valid signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kinbase.errors import PermissionDenied

__all__ = ["LinkExpired", "LinkInvalid", "LinkRefused", "LinkSigner", "Purpose", "SignedLink"]

Purpose = Literal["upload", "download", "remove"]
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


class LinkRefused(PermissionDenied):
    """A signed link that may not be used."""

    code = "link_refused"


class LinkInvalid(LinkRefused):
    code = "link_invalid"
    default_message = "The signature of this URL is not valid."


class LinkExpired(LinkRefused):
    code = "link_expired"
    default_message = "This URL has expired."


@dataclass(frozen=True, slots=True)
class SignedLink:
    """A verified (or freshly signed) link: the version it reaches and when it expires (0: never)."""

    version: str
    expires: int
    token: str


class LinkSigner:
    """Sign and verify link tokens with a key derived from the server secret."""

    def __init__(self, secret: Callable[[], bytes], clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock
        self._key: bytes | None = None

    def _derived(self) -> bytes:
        if self._key is None:
            self._key = hmac.new(self._secret(), b"kinbase file links v1", hashlib.sha256).digest()
        return self._key

    def _mac(self, purpose: Purpose, app_key: str, file_id: str, version: str, expires: int) -> str:
        message = "\x00".join((purpose, app_key, file_id, version, str(expires))).encode()
        digest = hmac.new(self._derived(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(
        self, purpose: Purpose, app_key: str, file_id: str, version: str, ttl_seconds: int | None
    ) -> SignedLink:
        """A link valid for ``ttl_seconds`` (None: forever)."""
        expires = 0 if ttl_seconds is None else int(self._clock()) + max(1, ttl_seconds)
        token = f"{version}.{expires}.{self._mac(purpose, app_key, file_id, version, expires)}"
        return SignedLink(version, expires, token)

    def verify(self, purpose: Purpose, app_key: str, file_id: str, token: str | None) -> SignedLink:
        """The link ``token`` stands for.

        Raises:
            LinkInvalid: a malformed token or a signature that does not match.
            LinkExpired: a valid signature whose expiry has passed.
        """
        match = _TOKEN.match(token or "")
        if match is None:
            raise LinkInvalid()
        version, expires_text, signature = match.groups()
        expires = int(expires_text)
        expected = self._mac(purpose, app_key, file_id, version, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise LinkInvalid()
        if expires and expires <= self._clock():
            raise LinkExpired()
        return SignedLink(version, expires, token or "")
