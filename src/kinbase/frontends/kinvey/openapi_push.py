"""The schemas of the push and email routes in the Kinvey OpenAPI document (merged into
:data:`~.openapi_schemas.COMPONENTS`)."""

from __future__ import annotations

from typing import Any

__all__ = ["PUSH_SCHEMAS"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


PUSH_SCHEMAS: dict[str, Any] = {
    "Email": {
        "type": "object",
        "required": ["from", "to", "subject", "body"],
        "properties": {
            "from": {"type": "string"},
            "to": {"type": ["string", "array"]},
            "cc": {"type": ["string", "array", "null"]},
            "bcc": {"type": ["string", "array", "null"]},
            "replyTo": {"type": ["string", "null"]},
            "subject": {"type": "string"},
            "body": {"type": "string"},
            "html": {"type": ["string", "null"]},
        },
    },
    "MailResult": {"type": "object", "properties": {"mailServerResponse": {"type": "string"}}},
    "Device": {
        "type": "object",
        "required": ["platform", "deviceId"],
        "properties": {
            "platform": {"enum": ["ios", "android"]},
            "deviceId": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4096,
                "pattern": "^[!-~]+$",
                "description": "The FCM or APNs token.",
            },
            "service": {"type": "string"},
            "framework": {"type": "string"},
        },
    },
    "MessageContent": {
        "description": "A text, or a payload for each platform.",
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "iOSAps": {"type": "object"},
                    "iOSExtras": {"type": "object"},
                    "androidPayload": {"type": "object"},
                },
            },
        ],
    },
    "PushMessage": {
        "type": "object",
        "required": ["recipients", "messageContent"],
        "properties": {
            "recipients": {"type": "array", "items": {"type": ["object", "string"]}},
            "messageContent": ref("MessageContent"),
        },
    },
    "PushBroadcast": {
        "type": "object",
        "required": ["messageContent"],
        "properties": {"messageContent": ref("MessageContent")},
    },
    "PushReport": {
        "type": "object",
        "required": ["sent", "failed", "removed", "errors"],
        "properties": {
            "sent": {"type": "integer"},
            "failed": {"type": "integer"},
            "removed": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    },
}
