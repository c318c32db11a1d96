"""The components of the Kinvey OpenAPI document: schemas, parameters, security schemes.

JSON Schema 2020-12, as OpenAPI 3.1 takes it. Entities are open objects (any field) with the
system fields described; the error schema is Kinvey's ``{error, description, debug}``.
"""

from __future__ import annotations

from typing import Any

from kinbase.frontends.kinvey.openapi_login import LOGIN_SCHEMAS
from kinbase.frontends.kinvey.openapi_push import PUSH_SCHEMAS

__all__ = ["COMPONENTS", "ref"]


def ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


_ID = {"type": "string", "minLength": 1, "maxLength": 1024}
_SEGMENT = {**_ID, "pattern": "^[^/\\x00-\\x1f\\x7f-\\x9f\\ufffd]+$"}
"""A path segment: no ``/`` and none of the characters the edge refuses (``kinbase.http.limits``)."""
_COLLECTION = {"type": "string", "pattern": "^[A-Za-z0-9-][A-Za-z0-9_.-]{0,127}$"}
"""A collection name (``check_collection_name``; ``user``, ``group``, ``system`` are reserved)."""
_REDUCE = "function(doc, out) { out.count++; }"
_IDS = {"type": "array", "items": {"type": "string"}}
_ISO = {"type": "string", "format": "date-time"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every error; `error` is a name of Kinvey's dictionary (an SDK error class).",
        "required": ["error", "description", "debug"],
        "properties": {
            "error": {"type": "string", "examples": ["EntityNotFound", "InvalidCredentials"]},
            "description": {"type": "string"},
            "debug": {"description": "A hint for the developer: a string or an object."},
        },
    },
    "Acl": {
        "type": "object",
        "properties": {
            "creator": {"type": "string"},
            "gr": {"type": "boolean", "description": "Readable by every user."},
            "gw": {"type": "boolean", "description": "Writable by every user."},
            "r": _IDS,
            "w": _IDS,
            "groups": {"type": "object", "properties": {"r": _IDS, "w": _IDS}},
            "roles": {"type": "object", "properties": {"r": _IDS, "u": _IDS, "d": _IDS}},
        },
    },
    "Kmd": {
        "type": "object",
        "properties": {"ect": _ISO, "lmt": _ISO, "llt": _ISO, "authtoken": {"type": "string"}},
    },
    "EntityInput": {
        "type": "object",
        "description": "Any JSON object; `_id` is generated unless given, `_acl` and `_kmd` are optional.",
        "properties": {"_id": _ID, "_acl": ref("Acl"), "_kmd": {"type": "object"}},
    },
    "Entity": {
        "type": "object",
        "required": ["_id", "_acl", "_kmd"],
        "properties": {"_id": _ID, "_acl": ref("Acl"), "_kmd": ref("Kmd")},
    },
    "Entities": {"type": "array", "items": ref("Entity")},
    "Count": {
        "type": "object",
        "required": ["count"],
        "properties": {"count": {"type": "integer", "minimum": 0}},
    },
    "ItemError": {
        "type": "object",
        "required": ["index", "error"],
        "properties": {
            "index": {"type": "integer"},
            "error": {"type": "string"},
            "description": {"type": "string"},
            "debug": {},
            "code": {"type": "integer"},
            "errmsg": {"type": "string"},
        },
    },
    "MultiInsert": {
        "type": "object",
        "required": ["entities", "errors"],
        "properties": {
            "entities": {"type": "array", "items": {"anyOf": [ref("Entity"), {"type": "null"}]}},
            "errors": {"type": "array", "items": ref("ItemError")},
        },
    },
    "DeltaSet": {
        "type": "object",
        "required": ["changed", "deleted"],
        "properties": {
            "changed": ref("Entities"),
            "deleted": {"type": "array", "items": {"type": "object", "properties": {"_id": _ID}}},
        },
    },
    "GroupRequest": {
        "type": "object",
        "required": ["key", "initial", "reduce"],
        "examples": [
            {"key": {"title": True}, "initial": {"count": 0}, "reduce": _REDUCE},
            {"key": {}, "initial": {"count": 0}, "reduce": _REDUCE, "condition": {"n": {"$gte": 1}}},
        ],
        "properties": {
            "key": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "initial": {"type": "object"},
            "reduce": {
                "type": "string",
                "description": "JavaScript source: function(doc, out) {...}",
                "examples": [_REDUCE],
            },
            "condition": {"type": "object", "description": "A filter, as `query`."},
        },
    },
    "GroupResult": {"type": "array", "items": {"type": "object"}},
    "CollectionSettings": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "deltaSet": {
                "type": "object",
                "properties": {"enabled": {"type": "boolean"}, "deletedTtlDays": {"type": "integer"}},
            },
            "permissions": {
                "type": "object",
                "properties": {"level": {"enum": ["private", "shared", "readonly", "full"]}},
            },
            "indexes": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
            "autoIndex": {"type": "boolean"},
        },
    },
    "Handshake": {
        "type": "object",
        "required": ["version", "kinvey"],
        "properties": {
            "version": {"type": "string"},
            "kinvey": {"type": "string"},
            "appName": {"type": "string"},
            "environmentName": {"type": "string"},
        },
    },
    "UserInput": {
        "type": "object",
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string"},
            "email": {"type": "string"},
        },
    },
    "Login": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    },
    "User": {
        "type": "object",
        # ``username`` is absent when a list's ``fields`` leaves it out.
        "required": ["_id"],
        "properties": {"_id": _ID, "username": {"type": "string"}, "_acl": ref("Acl"), "_kmd": ref("Kmd")},
    },
    "Users": {"type": "array", "items": ref("User")},
    "Filter": {"type": "object", "description": "A MongoDB-style filter (see docs/query-language.md)."},
    "GroupInput": {
        "type": "object",
        "properties": {
            "_id": _ID,
            "users": {
                "type": "object",
                "properties": {
                    "all": {"type": "boolean"},
                    "list": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
                },
            },
            "groups": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
        },
    },
    "RoleInput": {"type": "object", "properties": {"_id": _ID, "name": {"type": "string"}}},
    "Roles": {"type": "array", "items": ref("Entity")},
    "Memberships": {"type": "array", "items": {"type": "object"}},
    "UsernameQuery": {
        "type": "object",
        "required": ["username"],
        "properties": {"username": {"type": "string"}},
    },
    "UsernameExists": {
        "type": "object",
        "required": ["usernameExists"],
        "properties": {"usernameExists": {"type": "boolean"}},
    },
    "EmailQuery": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
    "RemoveCollection": {
        "type": "object",
        "required": ["collectionName"],
        "properties": {"collectionName": _COLLECTION},
    },
    "Any": {"description": "Any JSON value."},
    "Bytes": {"type": "string", "format": "binary", "description": "The file's bytes."},
    "FileInput": {
        "type": "object",
        "description": "A file's metadata: any field besides these; `_id` is generated unless given.",
        "properties": {
            "_id": _ID,
            "_filename": {"type": "string"},
            "_public": {"type": "boolean"},
            "size": {"type": "integer", "minimum": 0},
            "mimeType": {"type": "string"},
            "_acl": ref("Acl"),
        },
    },
    "File": {
        "type": "object",
        # ``_filename`` is absent when a list's ``fields`` leaves it out (issue 16's long run).
        "required": ["_id", "_acl", "_kmd"],
        "properties": {
            "_id": _ID,
            "_filename": {"type": "string"},
            "_public": {"type": "boolean"},
            "size": {"type": "integer"},
            "mimeType": {"type": "string"},
            "_acl": ref("Acl"),
            "_kmd": ref("Kmd"),
            "_downloadURL": {"type": "string", "format": "uri"},
            "_expiresAt": _ISO,
        },
    },
    "FileUpload": {
        "type": "object",
        "required": ["_id", "_uploadURL", "_expiresAt", "_requiredHeaders"],
        "properties": {
            "_id": _ID,
            "_uploadURL": {"type": "string", "format": "uri"},
            "_expiresAt": _ISO,
            "_requiredHeaders": {"type": "object"},
        },
    },
    "Files": {"type": "array", "items": ref("File")},
    "LegacyURL": {"type": "object", "required": ["URI"], "properties": {"URI": {"type": "string"}}},
    "AppConfig": {
        "type": "object",
        "description": "The app configuration (docs/app-config.md): as JSON, or the same file as TOML.",
        "properties": {
            name: {"type": "object"}
            for name in ("flex_services", "collections", "endpoints", "auth", "schedules", "push")
        },
        "additionalProperties": False,
    },
    "ApplyResult": {
        "type": "object",
        "required": ["applied", "dryRun", "changes", "version", "indexesBuilt"],
        "properties": {
            "applied": {"type": "boolean"},
            "dryRun": {"type": "boolean"},
            "changes": {"type": "array", "items": {"type": "string"}},
            "version": {"type": ["integer", "null"]},
            "indexesBuilt": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Schedules": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name", "cron", "service", "function", "enabled", "nextRun"],
            "properties": {
                "name": {"type": "string"},
                "cron": {"type": "string"},
                "service": {"type": "string"},
                "function": {"type": "string"},
                "enabled": {"type": "boolean"},
                "nextRun": {"type": ["string", "null"], "format": "date-time"},
            },
        },
    },
    "ScheduleRuns": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["schedule", "tick", "status", "started", "worker"],
            "properties": {
                "schedule": {"type": "string"},
                "tick": {"type": "string", "format": "date-time"},
                "status": {"enum": ["running", "succeeded", "failed", "abandoned"]},
                "started": _ISO,
                "ended": {"type": ["string", "null"], "format": "date-time"},
                "durationMs": {"type": ["integer", "null"]},
                "statusCode": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"]},
                "worker": {"type": "string"},
            },
        },
    },
}


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or _SEGMENT,
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _header(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_PARAMETERS: dict[str, Any] = {
    "app_key": _path("app_key", "The app key (`kid_...`)."),
    "collection": _path("collection", "A collection name.", _COLLECTION),
    "entity_id": _path("entity_id", "An entity `_id`."),
    "user_id": _path("user_id", "A user `_id`."),
    "group_id": _path("group_id", "A group `_id`."),
    "role_id": _path("role_id", "A role `_id`."),
    "login": _path("login", "A username (or an email, or an `_id`)."),
    "endpoint": _path("endpoint", "The name of a custom endpoint."),
    "authenticator_id": _path("authenticator_id", "An authenticator `id`."),
    "client_id": {**_query("client_id", "`APP_KEY`, or `APP_KEY.<auth service>`."), "required": True},
    "redirect_uri": {
        **_query("redirect_uri", "A redirect URI registered for the auth service."),
        "required": True,
    },
    "response_type": {**_query("response_type", "Must be `code`.", {"enum": ["code"]}), "required": True},
    "state": _query("state", "The client's own value, sent back with the code."),
    "query": _query("query", "A MongoDB-style filter, as JSON text."),
    "sort": _query("sort", 'Sort keys as JSON text (`{"age": -1}`) or a field name.'),
    "limit": _query("limit", "At most this many entities.", {"type": "string", "pattern": "^[0-9]+$"}),
    "skip": _query("skip", "Skip this many entities.", {"type": "string", "pattern": "^[0-9]+$"}),
    "fields": _query("fields", "A comma list of fields to return (`_id`, `_acl`, `_kmd` always are)."),
    "since": {
        **_query("since", "An `X-Kinvey-Request-Start` of an earlier read (required).", _ISO),
        "required": True,
    },
    "hard": _query(
        "hard", "`true` deletes the user for good (soft by default).", {"enum": ["true", "false"]}
    ),
    "soft": _query("soft", "API version 1: `true` for a soft delete.", {"enum": ["true", "false"]}),
    "token": _query("token", "The one-time token of the mail's link."),
    "file_id": _path("file_id", "A file `_id`."),
    "name": _path("name", "A file's `_filename`."),
    "tls": _query(
        "tls", "Kept for the SDKs (links use the scheme kinbase was reached at).", {"enum": ["true", "false"]}
    ),
    "ttl_in_seconds": _query(
        "ttl_in_seconds", "How long the _downloadURL lives.", {"type": "string", "pattern": "^[0-9]+$"}
    ),
    "link_token": {
        "name": "token",
        "in": "query",
        "required": True,
        "description": "The signed token of the URL (its credential).",
        "schema": {"type": "string"},
    },
    "content_type": _header("X-Kinvey-Content-Type", "The file's media type (required from API version 4)."),
    "content_range": _header("Content-Range", "`bytes a-b/N` (a chunk), `bytes */N` (how much arrived)."),
    "format": _query("format", "`toml` or `json` (default: JSON).", {"enum": ["toml", "json"]}),
    "dry_run": _query("dry_run", "`true`: answer the changes, apply nothing.", {"enum": ["true", "false"]}),
    "schedule": _query("schedule", "Only the runs of this schedule."),
    "api_version": _header(
        "X-Kinvey-API-Version",
        "The API version (default 3): 0 to 6; others are refused (`400 APIVersionNotAvailable`).",
        {"type": "string", "pattern": "^0{0,2}[0-6]$"},
    ),
    "items_count": _header(
        "X-Kinvey-Include-Items-Count", "`true` adds `X-Kinvey-Items-Count`.", {"enum": ["true", "false"]}
    ),
    "skip_bl": _header(
        "X-Kinvey-Skip-Business-Logic",
        "`true` skips collection hooks (master secret only).",
        {"enum": ["true", "false"]},
    ),
    "delete_collection": {
        **_header("X-Kinvey-Delete-Entire-Collection", "Must be `true`.", {"enum": ["true"]}),
        "required": True,
    },
}

_SECURITY: dict[str, Any] = {
    "appSecret": {"type": "http", "scheme": "basic", "description": "`app key : app secret`."},
    "masterSecret": {
        "type": "http",
        "scheme": "basic",
        "description": "`app key : master secret`: bypasses ACLs.",
    },
    "userPassword": {
        "type": "http",
        "scheme": "basic",
        "description": "`username : password`, API versions before 6.",
    },
    "session": {
        "type": "http",
        "scheme": "Kinvey",
        "description": "`Authorization: Kinvey <_kmd.authtoken>` of a login or sign-up.",
    },
    "mfaSession": {
        "type": "http",
        "scheme": "KinveyMFA",
        "description": "`Authorization: KinveyMFA <mfaSessionToken>` of a login that answered `mfaRequired`.",
    },
    "oauthClient": {
        "type": "http",
        "scheme": "basic",
        "description": "`client_id : app secret` (the client_id is `APP_KEY` or `APP_KEY.<auth service>`).",
    },
}

_SCHEMAS |= LOGIN_SCHEMAS | PUSH_SCHEMAS

COMPONENTS: dict[str, Any] = {
    "schemas": _SCHEMAS,
    "parameters": _PARAMETERS,
    "securitySchemes": _SECURITY,
}
