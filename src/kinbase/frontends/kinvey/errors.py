"""Kinvey's error format: ``{"error": <name>, "description": ..., "debug": ...}``.

This is the only module of the Kinvey front-end that builds an error body, and the only place that
knows the status of each name of Kinvey's error dictionary (``../shared/specs/kinvey.md`` §5.2).
Core errors map to dictionary names here; the core raises Kinvey-only errors by name
(:class:`~kinbase.core.kinvey.errors.KinveyError`). A 5xx never carries an internal message: its
``debug`` is the request id, under which the message is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from kinbase.core.files.errors import FileNotFound, QuotaExceeded, UploadGone, UploadStalled
from kinbase.core.files.signing import LinkExpired, LinkRefused
from kinbase.core.kinvey.errors import KinveyError
from kinbase.errors import (
    AlreadyExists,
    AppNotFound,
    BaaSError,
    BackendUnavailable,
    BodyTimeout,
    BodyTooLarge,
    CollectionNotFound,
    Conflict,
    InvalidJSON,
    InvalidPath,
    InvalidQuery,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    ObjectNotFound,
    PermissionDenied,
    PreconditionFailed,
    TooManyRequests,
    ValidationFailed,
)
from kinbase.storage.blobs import UploadBusy

__all__ = ["ERRORS", "KinveyError", "error_body", "item_error", "status_of"]

logger = logging.getLogger("kinbase.kinvey")

ERRORS: dict[str, tuple[int, str]] = {
    # name: (status, description); MissingConfiguration is 403 as the DevCenter table says.
    "ParameterValueOutOfRange": (
        400,
        "The value specified for one of the request parameters is out of range",
    ),
    "InvalidQuerySyntax": (400, "The query string in the request has an invalid syntax"),
    "MissingQuery": (400, "The request is missing a query string"),
    "JSONParseError": (400, "Unable to parse the JSON in the request"),
    "MissingRequestHeader": (400, "The request is missing a required header"),
    "IncompleteRequestBody": (400, "The request body is either missing or incomplete"),
    "MissingRequestParameter": (400, "A required parameter is missing from the request"),
    "InvalidIdentifier": (400, "One of more identifier names in the request has an invalid format"),
    "FeatureUnavailable": (400, "Requested functionality is unavailable in this API version"),
    "CORSDisabled": (400, "Cross Origin Support is disabled for this application"),
    "APIVersionNotAvailable": (
        400,
        "This API version is not available for your app. "
        "Please retry your request with a supported API version",
    ),
    "BadRequest": (400, "Unable to understand request"),
    "BLRuntimeError": (400, "The Business Logic script has a runtime error. See debug message for details"),
    "ResultSetSizeExceeded": (400, "Your query produced more than 10,000 results. Please rewrite your query"),
    "MissingConfiguration": (403, "This feature is not properly configured for this app backend"),
    "InvalidCredentials": (401, "Invalid credentials. Please retry your request with correct credentials"),
    "InsufficientCredentials": (
        401,
        "The credentials used to authenticate this request are not authorized to run this operation. "
        "Please retry your request with appropriate credentials",
    ),
    "WritesToCollectionDisallowed": (
        403,
        "This collection is configured to disallow any modifications to an existing entity or creation of "
        "new entities",
    ),
    "IndirectCollectionAccessDisallowed": (
        403,
        "Please use the appropriate API to access this collection for this app backend",
    ),
    "AppProblem": (
        403,
        "There is a problem with this app backend that prevents execution of this operation. Please contact "
        "support",
    ),
    "EntityNotFound": (404, "This entity not found in the collection"),
    "CollectionNotFound": (404, "This collection not found for this app backend"),
    "AppNotFound": (404, "This app backend not found"),
    "UserNotFound": (404, "This user does not exist for this app backend"),
    "BlobNotFound": (404, "This blob not found for this app backend"),
    "DocumentNotFound": (404, "The document was not found"),
    "UserAlreadyExists": (
        409,
        "This username is already taken. Please retry your request with a different username",
    ),
    "EntityAlreadyExists": (409, "An entity with this _id already exists in the collection"),
    "StaleRequest": (409, "The time window for this request has expired"),
    "RequestEntityTooLarge": (413, "The request body is too large"),
    "KinveyInternalErrorRetry": (
        500,
        "The Kinvey server encountered an unexpected error. Please retry your request",
    ),
    "KinveyInternalErrorStop": (
        500,
        "The Kinvey server encountered an unexpected error. Please contact support",
    ),
    "DuplicateEndUsers": (500, "More than one user registered with this username for this application"),
    "ServerError": (500, "The server encountered an error"),
    "APIVersionNotImplemented": (
        501,
        "This API version is not implemented. Please retry your request with a supported API version",
    ),
    "BLSyntaxError": (550, "The Business Logic script has a syntax error(s)"),
    "BLTimeoutError": (550, "The Business Logic script did not complete in time"),
    "BLViolationError": (550, "The Business Logic script violated a constraint"),
    "BLInternalError": (550, "The Business Logic script did not complete"),
    "LoginThrottled": (429, "Too many failed login attempts. Please wait before retrying"),
    "ServiceUnavailable": (503, "The service is temporarily unavailable. Please retry your request"),
    "NotAllowed": (405, "The request is not allowed"),
    # kinbase's file errors (the signed URLs and the byte store; no dictionary name covers them)
    "InvalidSignature": (403, "The signature of this URL is not valid"),
    "URLExpired": (403, "This URL has expired. Please retrieve the file's metadata again for a new one"),
    "RequestTimeout": (408, "The request took too long to arrive. Send it again (an upload: resume it)"),
    "QuotaExceeded": (507, "The app's files would pass its storage quota"),
}

_CLIENT_5XX = ("QuotaExceeded",)
"""5xx names caused by the request itself: their message is the client's to read, not logged."""


def status_of(name: str) -> int:
    """The HTTP status of a dictionary name (400 for a name the dictionary lacks)."""
    return ERRORS.get(name, (400, name))[0]


def _name_of(exc: BaaSError) -> str:
    name = _file_name_of(exc)
    if name is not None:
        return name
    if isinstance(exc, InvalidQuery):
        return "InvalidQuerySyntax"
    if isinstance(exc, InvalidJSON):
        return "JSONParseError"
    if isinstance(exc, BodyTooLarge):
        return "RequestEntityTooLarge"
    if isinstance(exc, BodyTimeout):
        return "RequestTimeout"
    if isinstance(exc, InvalidPath):
        return "InvalidIdentifier"
    if isinstance(exc, ValidationFailed | InvalidRequest):
        return "BadRequest"
    if isinstance(exc, NotAuthenticated):
        return "InvalidCredentials"
    if isinstance(exc, PermissionDenied):
        return "InsufficientCredentials"
    if isinstance(exc, AppNotFound):
        return "AppNotFound"
    if isinstance(exc, CollectionNotFound):
        return "CollectionNotFound"
    if isinstance(exc, ObjectNotFound | NotFound):
        return "EntityNotFound"
    if isinstance(exc, AlreadyExists):
        return "EntityAlreadyExists"
    if isinstance(exc, PreconditionFailed | Conflict):
        return "StaleRequest"
    if isinstance(exc, TooManyRequests):
        return "LoginThrottled"
    if isinstance(exc, BackendUnavailable):
        return "ServiceUnavailable"
    return "KinveyInternalErrorRetry"


def _file_name_of(exc: BaaSError) -> str | None:
    if isinstance(exc, LinkRefused):
        return "URLExpired" if isinstance(exc, LinkExpired) else "InvalidSignature"
    if isinstance(exc, FileNotFound | UploadGone):
        return "BlobNotFound"
    if isinstance(exc, UploadStalled):
        return "RequestTimeout"
    if isinstance(exc, UploadBusy):
        return "ServiceUnavailable"  # another writer holds the upload: the SDKs retry a 5xx
    if isinstance(exc, QuotaExceeded):
        return "QuotaExceeded"
    return None


def error_body(exc: BaaSError | None, request_id: str) -> tuple[int, dict[str, Any]]:
    """The status and the Kinvey body for ``exc`` (None: an internal error).

    A core message becomes ``debug``, except in a 5xx: that one is logged with ``request_id`` and
    the client gets the request id instead.
    """
    if isinstance(exc, KinveyError):
        status, description = ERRORS.get(exc.name, (400, exc.name))
        name, debug = exc.name, exc.debug
        description = exc.description or description
    else:
        name = _name_of(exc) if exc is not None else "KinveyInternalErrorRetry"
        status, description = ERRORS[name]
        debug = exc.message if exc is not None and exc.message != exc.default_message else ""
    if status >= 500 and status != 550 and name not in _CLIENT_5XX:
        if exc is not None:
            logger.warning("%s (request id %s): %s", name, request_id, exc.message)
        debug = f"request id {request_id}"
    return status, {"error": name, "description": description, "debug": debug}


def item_error(index: int, exc: KinveyError) -> dict[str, Any]:
    """One entry of a multi-insert ``errors`` array, in every spelling the SDKs read."""
    duplicate = exc.name == "EntityAlreadyExists"
    name = "KinveyInternalErrorRetry" if duplicate else exc.name
    description = (
        "An entity with that _id already exists in this collection"
        if duplicate
        else exc.description or ERRORS.get(exc.name, (400, exc.name))[1]
    )
    message = str(exc.debug) or description
    return {
        "index": index,
        "error": name,
        "description": description,
        "debug": exc.debug,
        "code": 11000 if duplicate else status_of(exc.name),
        "errmsg": f"E11000 duplicate key error: {message}" if duplicate else message,
    }
