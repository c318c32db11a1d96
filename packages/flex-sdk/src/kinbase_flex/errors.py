"""The errors the SDK raises or hands to module callbacks.

Our exception hierarchy::

    FlexError                     .error (a Kinvey-style name), .description, .debug
      + ModuleError               a module refused a call before sending it (bad arguments,
      |   |                       a circular request, a missing baasUrl)
      |   + QueryError            a Query built with invalid arguments
      + BackendError              the backend answered with an error status (.status_code, .body)
      + BackendUnavailable        the backend could not be reached or did not answer in time
                                  (.original = the httpx exception)

``str(error)`` is the error name (``"DataStoreError"``, ``"EntityNotFound"``...), as the
``message`` of the Error objects the Node SDK hands to its callbacks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BackendError", "BackendUnavailable", "FlexError", "ModuleError", "QueryError"]


class FlexError(Exception):
    """Root of the SDK's errors: a Kinvey-style ``error`` name with ``description`` and ``debug``."""

    def __init__(self, error: str, description: str = "", debug: Any = None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.debug = debug

    def to_json(self) -> dict[str, Any]:
        """The error as a Kinvey error body ``{error, description, debug}``."""
        return {"error": self.error, "description": self.description, "debug": self.debug}


class ModuleError(FlexError):
    """A module refused a call before sending it."""


class QueryError(ModuleError):
    """A :class:`~kinbase_flex.modules.Query` was given an invalid argument."""

    def __init__(self, debug: str, description: str = "An error occurred on the query.") -> None:
        super().__init__("QueryError", description, debug)


class BackendError(FlexError):
    """The backend answered a module call with a status above 299."""

    def __init__(self, status_code: int, body: Any) -> None:
        if isinstance(body, dict):
            error = str(body.get("error") or "BackendError")
            description = str(body.get("description") or "")
            debug = body.get("debug")
        else:
            error, description, debug = "BackendError", f"The backend answered {status_code}", body
        super().__init__(error, description, debug)
        self.status_code = status_code
        self.body = body


class BackendUnavailable(FlexError):
    """The backend could not be reached, or did not answer within the timeout."""

    def __init__(self, debug: str, original: BaseException | None = None) -> None:
        super().__init__("BackendUnavailable", "The backend could not be reached", debug)
        self.original = original
