"""The error that carries a name of Kinvey's error dictionary.

Kinvey-specific failures are part of the Kinvey domain (``UserAlreadyExists``,
``MissingConfiguration``, ``ResultSetSizeExceeded``...), so the core raises them by name; the
status and the wire body of each name are the front-end's (``kinbase.frontends.kinvey.errors``).
"""

from __future__ import annotations

from typing import Any

from kinbase.errors import BaaSError

__all__ = ["KinveyError"]


class KinveyError(BaaSError):
    """An error with a name from Kinvey's dictionary.

    Args:
        name: the dictionary name, e.g. ``"MissingConfiguration"``.
        debug: a hint for the developer (a string or a JSON object).
        description: overrides the dictionary's description (empty: the dictionary's).
    """

    def __init__(self, name: str, debug: Any = "", *, description: str | None = None) -> None:
        self.name = name
        self.description = description or ""
        self.debug = debug
        super().__init__(str(debug) if debug else name, details=debug)
