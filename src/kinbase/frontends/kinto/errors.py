"""Kinto's error format ``{code, errno, error, message, info, details}`` and its errno table.

This is the only module of the Kinto front-end that builds an error body. Core errors map to
Kinto's errnos here; errors only the front-end knows (405, 406, 415, 116...) are raised as
:class:`KintoError`.
"""

from __future__ import annotations

from enum import IntEnum
from http import HTTPStatus
from typing import Any

from kinbase.core.files.errors import QuotaExceeded, UploadStalled
from kinbase.core.kinto.errors import InvalidParameter, MissingObject, MissingParent, ObjectChanged
from kinbase.errors import (
    BaaSError,
    BackendUnavailable,
    BodyTimeout,
    BodyTooLarge,
    Conflict,
    InvalidJSON,
    InvalidPath,
    InvalidRequest,
    LimitExceeded,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    TooManyRequests,
)
from kinbase.jsonutil import loads

__all__ = ["ERRORS", "ERROR_INFO", "Errno", "KintoError", "error_body", "invalid"]

ERROR_INFO = "https://github.com/Kinto/kinto/issues/"


class Errno(IntEnum):
    """Kinto's error numbers."""

    MISSING_AUTH_TOKEN = 104
    INVALID_AUTH_TOKEN = 105
    BADJSON = 106
    INVALID_PARAMETERS = 107
    MISSING_PARAMETERS = 108
    INVALID_POSTED_DATA = 109
    INVALID_RESOURCE_ID = 110
    MISSING_RESOURCE = 111
    MISSING_CONTENT_LENGTH = 112
    REQUEST_TOO_LARGE = 113
    MODIFIED_MEANWHILE = 114
    METHOD_NOT_ALLOWED = 115
    VERSION_NOT_AVAILABLE = 116
    CLIENT_REACHED_CAPACITY = 117
    FORBIDDEN = 121
    CONSTRAINT_VIOLATED = 122
    UNDEFINED = 999
    BACKEND = 201
    SERVICE_DEPRECATED = 202


ERRORS: dict[Errno, tuple[int, str]] = {
    Errno.MISSING_AUTH_TOKEN: (401, "Please authenticate yourself to use this endpoint."),
    Errno.INVALID_AUTH_TOKEN: (401, "Please authenticate yourself to use this endpoint."),
    Errno.BADJSON: (400, "Invalid JSON"),
    Errno.INVALID_PARAMETERS: (400, "Invalid parameters"),
    Errno.MISSING_PARAMETERS: (400, "Missing parameters"),
    Errno.INVALID_POSTED_DATA: (400, "Invalid posted data"),
    Errno.INVALID_RESOURCE_ID: (404, "The resource you are looking for could not be found."),
    Errno.MISSING_RESOURCE: (404, "The resource you are looking for could not be found."),
    Errno.MISSING_CONTENT_LENGTH: (411, "A Content-Length header is required."),
    Errno.REQUEST_TOO_LARGE: (413, "The request body is too large."),
    Errno.MODIFIED_MEANWHILE: (412, "Resource was modified meanwhile"),
    Errno.METHOD_NOT_ALLOWED: (405, "Method not allowed on this endpoint."),
    Errno.VERSION_NOT_AVAILABLE: (404, "The requested API version is not available on this server."),
    Errno.CLIENT_REACHED_CAPACITY: (429, "Client has sent too many requests."),
    Errno.FORBIDDEN: (403, "This user cannot access this resource."),
    Errno.CONSTRAINT_VIOLATED: (409, "Integrity constraint violated, please retry."),
    Errno.UNDEFINED: (500, "A programmatic error occured, developers have been informed."),
    Errno.BACKEND: (
        503,
        "Service temporary unavailable due to overloading or maintenance, please retry later.",
    ),
    Errno.SERVICE_DEPRECATED: (
        410,
        "The service you are trying to connect no longer exists at this location.",
    ),
}


class KintoError(BaaSError):
    """An error with an explicit Kinto errno (and optionally another status or message)."""

    def __init__(
        self,
        errno: Errno,
        message: str | None = None,
        *,
        status: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        known_status, known_message = ERRORS[errno]
        super().__init__(message or known_message, details=details)
        self.errno = errno
        self.status = status or known_status
        self.headers = headers or {}


def invalid(location: str, name: str, description: str) -> KintoError:
    """A 400 "Invalid parameters" with one detail."""
    return _invalid_error(InvalidParameter(location, name, description))


def _invalid_error(exc: InvalidParameter) -> KintoError:
    return KintoError(
        Errno.INVALID_PARAMETERS,
        exc.message,
        details=[{"location": exc.location, "name": exc.name, "description": exc.description}],
    )


def _classify(exc: BaaSError) -> KintoError:
    if isinstance(exc, KintoError):
        return exc
    if isinstance(exc, InvalidParameter):
        return _invalid_error(exc)
    if isinstance(exc, InvalidJSON):
        detail = {"location": "body", "name": "", "description": exc.message}
        return KintoError(Errno.BADJSON, "body: Invalid JSON", status=400, details=[detail])
    if isinstance(exc, QuotaExceeded):
        return KintoError(Errno.FORBIDDEN, exc.message, status=507)
    if isinstance(exc, UploadStalled | BodyTimeout):
        return KintoError(Errno.INVALID_POSTED_DATA, exc.message, status=408)
    if isinstance(exc, BodyTooLarge):
        return KintoError(Errno.REQUEST_TOO_LARGE, exc.message)
    if isinstance(exc, LimitExceeded | InvalidPath):
        location = exc.location if isinstance(exc, LimitExceeded) else "path"
        detail = {"location": location, "name": "", "description": exc.message}
        return KintoError(Errno.INVALID_PARAMETERS, exc.message, details=[detail])
    if isinstance(exc, InvalidRequest):
        detail = {"location": "body", "name": "", "description": exc.message}
        return KintoError(Errno.INVALID_PARAMETERS, exc.message, details=[detail])
    if isinstance(exc, NotAuthenticated):
        return KintoError(Errno.MISSING_AUTH_TOKEN, headers={"WWW-Authenticate": 'Basic realm="Realm"'})
    if isinstance(exc, PermissionDenied):
        return KintoError(Errno.FORBIDDEN)
    if isinstance(exc, MissingObject):
        return KintoError(Errno.INVALID_RESOURCE_ID, details=exc.details)
    if isinstance(exc, MissingParent):
        return KintoError(Errno.MISSING_RESOURCE, details=exc.details)
    if isinstance(exc, NotFound):
        return KintoError(Errno.MISSING_RESOURCE)
    if isinstance(exc, PreconditionFailed):
        return KintoError(Errno.MODIFIED_MEANWHILE, exc.message)
    if isinstance(exc, Conflict):
        return KintoError(Errno.CONSTRAINT_VIOLATED)
    if isinstance(exc, TooManyRequests):
        return KintoError(
            Errno.CLIENT_REACHED_CAPACITY, exc.message, headers={"Retry-After": str(exc.retry_after)}
        )
    if isinstance(exc, BackendUnavailable):
        return KintoError(Errno.BACKEND)
    return KintoError(Errno.UNDEFINED)


def error_body(exc: BaaSError, retry_after: int = 30) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, the JSON body and the extra headers of ``exc`` in Kinto's format.

    A failed precondition carries ``details.existing`` (the current object, or nothing); the
    caller adds its ETag.
    """
    error = _classify(exc)
    status = error.status
    body: dict[str, Any] = {
        "code": status,
        "errno": int(error.errno),
        "error": "Invalid parameters"
        if error.errno == Errno.INVALID_PARAMETERS
        else HTTPStatus(status).phrase,
        "message": error.message,
    }
    headers = dict(error.headers)
    if status >= 500:
        body["info"] = ERROR_INFO
    if status in (409, 429, 503):
        headers.setdefault("Retry-After", str(retry_after))
    if isinstance(exc, ObjectChanged):
        body["details"] = {"existing": _existing(exc)} if exc.existing is not None else {}
    elif error.details is not None:
        body["details"] = error.details
    return status, body, headers


def _existing(exc: ObjectChanged) -> Any:
    assert exc.existing is not None
    return loads(exc.existing)
