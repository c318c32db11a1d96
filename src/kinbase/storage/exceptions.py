"""Errors raised by the storage engines; driver errors are wrapped once, at the engine boundary."""

from __future__ import annotations

from kinbase.errors import BackendUnavailable

__all__ = ["StampConflict", "StorageError"]


class StorageError(BackendUnavailable):
    """The database failed. ``original`` keeps the driver's exception (for the log only: the
    message is always generic, a driver's text never reaches a client)."""

    code = "storage_error"
    default_message = "The storage backend failed; retry later."

    def __init__(self, message: str | None = None, *, original: BaseException | None = None) -> None:
        super().__init__(message)
        self.original = original


class StampConflict(StorageError):
    """An optimistic write (:attr:`kinbase.storage.base.Writer.optimistic`) predicted a stamp that
    another writer of the parent took first, or the parent changed since it was read: the
    transaction was rolled back, nothing of it was written. The caller runs it again without
    ``optimistic`` (one that reaches a client is a 503 "retry")."""

    code = "stamp_conflict"
