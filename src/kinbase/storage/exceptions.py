"""Errors raised by the storage engines; driver errors are wrapped once, at the engine boundary."""

from __future__ import annotations

from kinbase.errors import BackendUnavailable

__all__ = ["StorageError"]


class StorageError(BackendUnavailable):
    """The database failed. ``original`` keeps the driver's exception (for the log only: the
    message is always generic, a driver's text never reaches a client)."""

    code = "storage_error"
    default_message = "The storage backend failed; retry later."

    def __init__(self, message: str | None = None, *, original: BaseException | None = None) -> None:
        super().__init__(message)
        self.original = original
