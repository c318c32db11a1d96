"""TOTP (RFC 6238) through pyotp: secrets, the ``otpauth://`` configuration, and checking a code.

A code is accepted one 30-second step early or late (clock drift between the phone and the
server), and never twice: the caller keeps the step of the last accepted code and passes it back,
so a code seen over someone's shoulder cannot be replayed within its window.
"""

from __future__ import annotations

from typing import Any

import pyotp
from pyotp.utils import strings_equal

__all__ = ["DIGITS", "PERIOD", "accepted_step", "new_secret", "otpauth_config"]

DIGITS = 6
PERIOD = 30
_WINDOW = 1


def new_secret() -> str:
    """A new random secret: 160 bits in base32, as authenticator apps expect."""
    return pyotp.random_base32(32)


def otpauth_config(secret: str, *, account: str, issuer: str) -> dict[str, Any]:
    """The ``config`` of a new authenticator: the secret and its ``otpauth://`` URI (for a QR code)."""
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=issuer
    )
    return {"secret": secret, "uri": uri, "algorithm": "SHA1", "digits": DIGITS, "period": PERIOD}


def accepted_step(secret: str, code: str, *, now_s: float, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to if it is valid now and newer than ``last_step``, else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = totp.timecode(now_s)
    for step in range(current - _WINDOW, current + _WINDOW + 1):
        if (last_step is None or step > last_step) and strings_equal(code, totp.generate_otp(step)):
            return step
    return None
