"""Kinvey's error dictionary and the error that carries one of its names.

Kinvey-specific failures are part of the Kinvey domain (``UserAlreadyExists``,
``MissingConfiguration``, ``ResultSetSizeExceeded``...), so the core raises them directly; the
front-end only renders them (``kinbase.frontends.kinvey.errors``).
"""

from __future__ import annotations

from typing import Any

from kinbase.errors import BaaSError

__all__ = ["ERRORS", "KinveyError"]

ERRORS: dict[str, tuple[int, str]] = {
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
    "MissingConfiguration": (400, "This feature is not properly configured for this app backend"),
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
}


class KinveyError(BaaSError):
    """An error with a name from Kinvey's dictionary.

    Args:
        name: the dictionary name, e.g. ``"MissingConfiguration"``.
        debug: a hint for the developer (a string or a JSON object).
        description: overrides the dictionary's description.
        status: overrides the dictionary's status.
    """

    def __init__(
        self, name: str, debug: Any = "", *, description: str | None = None, status: int | None = None
    ) -> None:
        known_status, known_description = ERRORS.get(name, (400, name))
        self.name = name
        self.status = status or known_status
        self.description = description or known_description
        self.debug = debug
        super().__init__(self.description, details=debug)
