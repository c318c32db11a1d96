"""The errors kinbase raises below the protocol front-ends.

Core, query and storage code raise only these. Each front-end has one module that maps them to its
wire format (Kinvey ``{error, description, debug}``, Kinto ``{code, errno, error, message}``).

Our exception hierarchy::

    BaaSError
      + ConfigurationError
      + InvalidRequest (400)
      |   + InvalidQuery            a filter, sort or modifier that cannot be parsed or is refused
      |   + InvalidJSON             a body that is not JSON
      |   + ValidationFailed        a body that is JSON but not acceptable
      |   + BodyTooLarge (413)
      |   + BodyTimeout (408)       a body slower than ``body_timeout_seconds`` (connection closed)
      |   + LimitExceeded           over a documented limit (nesting, clauses, headers, batch size)
      |   + InvalidPath             a path with a character no identifier can hold
      + NotAuthenticated (401)
      + PermissionDenied (403)
      + NotFound (404)
      |   + AppNotFound
      |   + CollectionNotFound
      |   + ObjectNotFound
      + Conflict (409)
      |   + AlreadyExists
      + PreconditionFailed (412)
      + TooManyRequests (429)       .retry_after = seconds (a login throttle)
      + BackendUnavailable (503)
          + QueryTimeout            a statement ran longer than the query budget
          + StorageError*           .original = the driver exception

    * defined in kinbase.storage.exceptions, next to the backends that raise them
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "AppNotFound",
    "BaaSError",
    "BackendUnavailable",
    "BodyTimeout",
    "BodyTooLarge",
    "CollectionNotFound",
    "ConfigurationError",
    "Conflict",
    "InvalidJSON",
    "InvalidPath",
    "InvalidQuery",
    "InvalidRequest",
    "LimitExceeded",
    "NotAuthenticated",
    "NotFound",
    "ObjectNotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "QueryTimeout",
    "TooManyRequests",
    "ValidationFailed",
]


class BaaSError(Exception):
    """Root of every error kinbase raises on purpose.

    Attributes:
        status_code: the HTTP status a front-end should use unless its protocol says otherwise.
        code: a stable machine name.
        message: a human-readable explanation, safe to show to the client.
        details: optional structured context (field names, the existing object...).
    """

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "An internal error occurred."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class ConfigurationError(BaaSError):
    code = "configuration_error"
    default_message = "The configuration is invalid."


class InvalidRequest(BaaSError):
    status_code = 400
    code = "invalid_request"
    default_message = "The request could not be understood."


class InvalidQuery(InvalidRequest):
    code = "invalid_query"
    default_message = "The query is invalid."


class InvalidJSON(InvalidRequest):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class ValidationFailed(InvalidRequest):
    code = "validation_failed"
    default_message = "The request body is not acceptable."


class BodyTooLarge(InvalidRequest):
    status_code = 413
    code = "body_too_large"
    default_message = "The request body is too large."


class BodyTimeout(InvalidRequest):
    """The request body did not arrive in time (``body_timeout_seconds``): the connection is
    closed after the answer, since the rest of the body may still be on its way."""

    status_code = 408
    code = "body_timeout"
    default_message = "The request body did not arrive in time."


class LimitExceeded(InvalidRequest):
    """A request over one of the documented limits.

    Attributes:
        location: where the excess is: ``body``, ``querystring``, ``header`` or ``path``.
    """

    code = "limit_exceeded"
    default_message = "The request exceeds a limit of this server."

    def __init__(self, message: str | None = None, *, location: str = "body") -> None:
        super().__init__(message)
        self.location = location


class InvalidPath(InvalidRequest):
    code = "invalid_path"
    default_message = "The path contains a character that no identifier may hold."


class NotAuthenticated(BaaSError):
    status_code = 401
    code = "not_authenticated"
    default_message = "Invalid credentials."


class PermissionDenied(BaaSError):
    status_code = 403
    code = "permission_denied"
    default_message = "The credentials are not allowed to run this operation."


class NotFound(BaaSError):
    status_code = 404
    code = "not_found"
    default_message = "The requested object was not found."


class AppNotFound(NotFound):
    code = "app_not_found"
    default_message = "This app backend was not found."


class CollectionNotFound(NotFound):
    code = "collection_not_found"
    default_message = "This collection was not found."


class ObjectNotFound(NotFound):
    code = "object_not_found"
    default_message = "This object was not found."


class Conflict(BaaSError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class AlreadyExists(Conflict):
    code = "already_exists"
    default_message = "An object with this identifier already exists."


class PreconditionFailed(BaaSError):
    status_code = 412
    code = "precondition_failed"
    default_message = "The object was modified meanwhile."


class BackendUnavailable(BaaSError):
    status_code = 503
    code = "backend_unavailable"
    default_message = "A backend is unavailable; retry later."


class QueryTimeout(BackendUnavailable):
    """A statement ran longer than the server's query budget and was cancelled (it changed nothing)."""

    code = "query_timeout"
    default_message = (
        "The query ran longer than this server allows and was cancelled; narrow it or add an index."
    )


class TooManyRequests(BaaSError):
    """Refused for a while (a login throttle). ``retry_after`` is in whole seconds."""

    status_code = 429
    code = "too_many_requests"
    default_message = "Too many failed attempts; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
