"""``modules.tempObjectStore``: a key-value store shared by the pre hook, the handler and the post hook
of one request (the backend carries it between them in ``tempObjectStore``)."""

from __future__ import annotations

from typing import Any

__all__ = ["TempObjectStore"]


class TempObjectStore:
    """``set``, ``get`` and ``getAll`` on the request's temp object store."""

    def __init__(self, store: dict[str, Any]) -> None:
        self._store = store

    def set(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` and return it."""
        self._store[key] = value
        return value

    def get(self, key: str) -> Any:
        """The value of ``key``, or ``None``."""
        return self._store.get(key)

    def getAll(self) -> dict[str, Any]:
        """The whole store (the live dict)."""
        return self._store

    get_all = getAll
