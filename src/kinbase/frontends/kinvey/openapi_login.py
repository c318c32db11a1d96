"""The schemas of the login routes in the Kinvey OpenAPI document: the MFA answers and the auth
host's OAuth forms, tokens and errors (merged into :data:`~.openapi_schemas.COMPONENTS`)."""

from __future__ import annotations

from typing import Any

__all__ = ["LOGIN_SCHEMAS"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_ID = {"type": "string", "minLength": 1, "maxLength": 1024}

LOGIN_SCHEMAS: dict[str, Any] = {
    # -- multi-factor authentication ------------------------------------------------------------
    "LoginAnswer": {
        "description": "The user with `_kmd.authtoken`, or (API version 6, a user with an "
        "authenticator and neither `recoveryCode` nor a live `deviceToken`) the MFA challenge.",
        "anyOf": [ref("User"), ref("MfaChallenge")],
    },
    "MfaChallenge": {
        "type": "object",
        "required": ["mfaRequired", "mfaSessionToken", "userId", "authenticators"],
        "properties": {
            "mfaRequired": {"const": True},
            "mfaSessionToken": {"type": "string"},
            "userId": _ID,
            "authenticators": ref("Authenticators"),
        },
    },
    "ChallengeInput": {
        "type": "object",
        "required": ["authenticatorId"],
        "properties": {"authenticatorId": {"type": "string"}},
    },
    "MfaCode": {
        "type": "object",
        "required": ["code"],
        "properties": {
            "code": {"type": "string", "description": "A TOTP code, or a recovery code."},
            "createDeviceToken": {"type": "boolean"},
        },
    },
    "MfaComplete": {
        "type": "object",
        "required": ["mfaRequired", "user", "authToken"],
        "properties": {
            "mfaRequired": {"const": False},
            "user": ref("User"),
            "authToken": {"type": "string"},
            "deviceToken": {"type": "string", "description": "With `createDeviceToken: true`."},
        },
    },
    "AuthenticatorInput": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "type": {"enum": ["totp"]}},
    },
    "Authenticator": {
        "type": "object",
        "required": ["id", "name", "type"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "type": {"enum": ["totp"]},
            "config": {
                "type": "object",
                "description": "Only in the creation answer: the TOTP secret and its otpauth:// URI.",
                "properties": {"secret": {"type": "string"}, "uri": {"type": "string"}},
            },
        },
    },
    "Authenticators": {"type": "array", "items": ref("Authenticator")},
    "RecoveryCodes": {
        "type": "object",
        "required": ["recoveryCodes"],
        "properties": {
            "recoveryCodes": {"type": "array", "items": {"type": "string"}},
            "remaining": {"type": "integer", "description": "GET: how many unused codes are left."},
        },
    },
    # -- the auth host (OAuth 2.0) ------------------------------------------------------------
    "AuthorizeForm": {
        "type": "object",
        "required": ["client_id", "redirect_uri", "response_type"],
        "properties": {
            "client_id": {"type": "string"},
            "redirect_uri": {"type": "string"},
            "response_type": {"const": "code"},
            "state": {"type": "string"},
        },
    },
    "TempLogin": {
        "type": "object",
        "required": ["temp_login_uri"],
        "properties": {"temp_login_uri": {"type": "string", "format": "uri"}},
    },
    "LoginForm": {
        "type": "object",
        "required": ["state", "username", "password"],
        "properties": {
            "state": {"type": "string"},
            "username": {"type": "string"},
            "password": {"type": "string"},
            "otp": {"type": "string", "description": "A TOTP or recovery code (users with MFA)."},
        },
    },
    "TokenForm": {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"enum": ["authorization_code", "password", "refresh_token"]},
            "client_id": {"type": "string"},
            "code": {"type": "string"},
            "redirect_uri": {"type": "string"},
            "username": {"type": "string"},
            "password": {"type": "string"},
            "refresh_token": {"type": "string"},
        },
    },
    "TokenPair": {
        "type": "object",
        "required": ["access_token", "refresh_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer"},
        },
    },
    "OAuthError": {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"type": "string", "examples": ["invalid_grant", "invalid_client"]},
            "error_description": {"type": "string"},
            "description": {"type": "string", "description": "The same text, where the Kinvey SDKs read it."},
            "debug": {"type": "string"},
        },
    },
}
