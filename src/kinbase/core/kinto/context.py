"""The request context of a Kinto core call and the storage access it implies."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass

from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.model import from_kinto
from kinbase.storage.base import AppRecord, Reader, StorageBackend, Writer
from kinbase.types import Principal

__all__ = ["KintoContext", "StaleStructure", "after_commit", "reading", "transaction", "writing"]

_AFTER_COMMIT: ContextVar[dict[Hashable, Callable[[], Awaitable[None]]] | None] = ContextVar(
    "kinbase_kinto_after_commit", default=None
)
"""The actions to run once the current :func:`transaction` committed, by key."""


class StaleStructure(Exception):
    """The structure version a context presumed (:attr:`KintoContext.presumed`) is not the
    current one, or could not serve: the request is served again from a version read first."""


@dataclass(frozen=True, slots=True)
class KintoContext:
    """Who calls, in which app, with which settings, inside which transaction.

    Attributes:
        app: the app whose Kinto namespace is addressed.
        config: the app's effective Kinto settings.
        user_id: the Kinto user id (``account:alice``), None when anonymous.
        principals: every principal of the request, in the shared vocabulary.
        tx: the transaction of the enclosing ``/batch``; None outside a batch.
        version: the app's structure version read at the start of the request (None: unknown, read
            everything fresh).
        presumed: ``version`` is the one this worker read last, not read for this request: the
            statement that reads the request's data reads the version too, and the request is
            served again (:class:`StaleStructure`) unless it was the same (see
            :meth:`~kinbase.core.kinto.service.KintoService.context`).
    """

    app: AppRecord
    config: KintoConfig
    user_id: str | None
    principals: frozenset[Principal]
    tx: Writer | None = None
    version: int | None = None
    presumed: bool = False

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def user_principal(self) -> Principal | None:
        return from_kinto(self.user_id) if self.user_id is not None else None

    @property
    def cached(self) -> int | None:
        """The structure version to read cached objects with (None inside a batch, whose
        transaction must see its own uncommitted writes)."""
        return self.version if self.tx is None else None

    def in_transaction(self, tx: Writer | None) -> KintoContext:
        return KintoContext(self.app, self.config, self.user_id, self.principals, tx, None)


@contextlib.asynccontextmanager
async def reading(storage: StorageBackend, ctx: KintoContext) -> AsyncIterator[Reader]:
    """A reader: the batch transaction when there is one (it sees its own writes)."""
    if ctx.tx is not None:
        yield ctx.tx
        return
    async with storage.reader() as reader:
        yield reader


@contextlib.asynccontextmanager
async def writing(
    storage: StorageBackend, ctx: KintoContext, group: Hashable | None = None
) -> AsyncIterator[Writer]:
    """A write transaction: the batch's, or a new one committed at the end of the block (shared
    with other writers of ``group``, one collection, queued at the same time: group commit)."""
    if ctx.tx is not None:
        yield ctx.tx
        return
    async with transaction(storage, group) as writer:
        yield writer


@contextlib.asynccontextmanager
async def transaction(storage: StorageBackend, group: Hashable | None = None) -> AsyncIterator[Writer]:
    """A write transaction of the Kinto API (a request's, or a batch's), which runs the actions
    :func:`after_commit` registered in it once it committed, before the caller goes on (and so
    before the client is answered). Nothing runs if it rolled back."""
    actions: dict[Hashable, Callable[[], Awaitable[None]]] = {}
    token = _AFTER_COMMIT.set(actions)
    try:
        async with storage.writer() if group is None else storage.grouped_writer(group) as writer:
            yield writer
    finally:
        _AFTER_COMMIT.reset(token)
    for action in actions.values():
        await action()


def after_commit(key: Hashable, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` once the current :func:`transaction` committed, once per ``key`` (a
    transaction that changes one thing several times, a ``/batch``, runs the first action
    registered under its key only).

    Raises:
        RuntimeError: outside a transaction of :func:`transaction` (a write whose commit no
            one would follow: its action would never run).
    """
    actions = _AFTER_COMMIT.get()
    if actions is None:
        raise RuntimeError("a Kinto write outside kinbase.core.kinto.context.transaction()")
    actions.setdefault(key, action)
