"""Kinvey's error format: ``{"error": <name>, "description": ..., "debug": ...}``.

This is the only module of the Kinvey front-end that builds an error body. Core errors map to the
names of Kinvey's error dictionary (``../shared/specs/kinvey.md`` §5.2); Kinvey-only errors are
raised as :class:`KinveyError` with their dictionary name.
"""

from __future__ import annotations

from typing import Any

from kinbase.core.kinvey.errors import ERRORS, KinveyError
from kinbase.errors import (
    AlreadyExists,
    AppNotFound,
    BaaSError,
    BackendUnavailable,
    BodyTooLarge,
    CollectionNotFound,
    Conflict,
    InvalidJSON,
    InvalidQuery,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    ObjectNotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationFailed,
)

__all__ = ["ERRORS", "KinveyError", "error_body"]


def _name_of(exc: BaaSError) -> str:
    if isinstance(exc, InvalidQuery):
        return "InvalidQuerySyntax"
    if isinstance(exc, InvalidJSON):
        return "JSONParseError"
    if isinstance(exc, BodyTooLarge):
        return "RequestEntityTooLarge"
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
    if isinstance(exc, BackendUnavailable):
        return "ServiceUnavailable"
    return "KinveyInternalErrorRetry"


def error_body(exc: BaaSError) -> tuple[int, dict[str, Any]]:
    """The status and the Kinvey body for ``exc``. The core message becomes ``debug``."""
    if isinstance(exc, KinveyError):
        return exc.status, {"error": exc.name, "description": exc.description, "debug": exc.debug}
    name = _name_of(exc)
    status, description = ERRORS[name]
    debug: Any = exc.message if exc.message != exc.default_message else ""
    return status, {"error": name, "description": description, "debug": debug}
