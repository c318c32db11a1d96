"""Errors of the Kinto core that carry more than the shared ones (the front-end renders them).

::

    ValidationFailed
      + InvalidParameter     one bad parameter: location (body, querystring, path, header), name
    NotFound
      + MissingObject        the object of an object endpoint (Kinto errno 110)
      + MissingParent        a bucket or collection above the target (Kinto errno 111)
    PreconditionFailed
      + ObjectChanged        If-Match / If-None-Match failed; carries the current object
"""

from __future__ import annotations

from kinbase.errors import NotFound, PreconditionFailed, ValidationFailed
from kinbase.types import Stamp

__all__ = ["InvalidParameter", "MissingObject", "MissingParent", "ObjectChanged"]


class InvalidParameter(ValidationFailed):
    """One invalid parameter.

    Args:
        location: ``body``, ``querystring``, ``path`` or ``header``.
        name: the parameter (``data.id``, ``_limit``, ``If-Match``...).
        description: what is wrong with it.
    """

    code = "invalid_parameter"

    def __init__(self, location: str, name: str, description: str) -> None:
        super().__init__(f"{name} in {location}: {description}")
        self.location = location
        self.name = name
        self.description = description


class MissingObject(NotFound):
    code = "missing_object"

    def __init__(self, resource_name: str, object_id: str) -> None:
        super().__init__(details={"id": object_id, "resource_name": resource_name})


class MissingParent(NotFound):
    code = "missing_parent"

    def __init__(self, resource_name: str, object_id: str) -> None:
        super().__init__(details={"id": object_id, "resource_name": resource_name})


class ObjectChanged(PreconditionFailed):
    """A precondition failed. ``existing`` is the current object's data as JSON text (None when
    there is none) and ``stamp`` the timestamp the response's ETag should carry."""

    code = "object_changed"

    def __init__(self, existing: str | None, stamp: Stamp | None) -> None:
        super().__init__("Resource was modified meanwhile")
        self.existing = existing
        self.stamp = stamp
