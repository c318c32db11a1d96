"""Multi-factor authentication (TOTP) of Kinvey users."""

from kinbase.core.kinvey.mfa.service import MfaChallenge, MfaService

__all__ = ["MfaChallenge", "MfaService"]
