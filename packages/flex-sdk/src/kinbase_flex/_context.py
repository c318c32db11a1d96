"""The per-request objects: the ``context`` a handler receives and the state of one task."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

from kinbase_flex._logger import FlexLogger

__all__ = ["Context", "TaskKind", "TaskState"]

TaskKind = Literal["data", "functions", "auth"]

_ALIASES = {
    "entity_id": "entityId",
    "service_object_name": "serviceObjectName",
    "hook_type": "hookType",
    "user_id": "userId",
    "object_name": "objectName",
    "temp_object_store": "tempObjectStore",
    "login_options": "loginOptions",
}
_KNOWN = {
    "method",
    "headers",
    "username",
    "userId",
    "entityId",
    "serviceObjectName",
    "objectName",
    "hookType",
    "body",
    "query",
    "tempObjectStore",
    "loginOptions",
    "params",
}


class Context(dict[str, Any]):
    """The ``context`` (``request``) argument of a handler: a dict whose keys read as attributes.

    ``context.body``, ``context["body"]`` and the snake_case spellings (``context.entity_id``) are the
    same value. A documented field that the request did not carry reads as ``None`` (JavaScript's
    ``undefined``); the key itself is absent, as on the wire.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        key = _ALIASES.get(name, name)
        try:
            return self[key]
        except KeyError:
            if key in _KNOWN:
                return None
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[_ALIASES.get(name, name)] = value

    def __delattr__(self, name: str) -> None:
        self.pop(_ALIASES.get(name, name), None)


class TaskState:
    """One task in flight: the mutable task dict, and whether (and how) it has been answered.

    ``done()``/``next()`` may be called from a worker thread (plain handlers run in one) or from the
    event loop; the first to :meth:`claim` the task answers it, later calls are logged and ignored.
    """

    def __init__(
        self,
        task: dict[str, Any],
        kind: TaskKind,
        name: str,
        loop: asyncio.AbstractEventLoop,
        logger: FlexLogger,
    ) -> None:
        self.task = task
        self.kind = kind
        self.name = name
        self.loop = loop
        self.logger = logger
        self.finished: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None
        self.timed_out = False
        self.custom_properties_changed = False
        self._claimed = False
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """Take the right to answer; ``False`` (and a logged error) if the task was answered already."""
        with self._lock:
            if self._claimed:
                self.logger.error(self._already_answered_message())
                return False
            self._claimed = True
            return True

    def resolve(self) -> None:
        """Release the reply (thread-safe)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._set()
        else:
            self.loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    def fail(self, exc: BaseException) -> None:
        """Answer with an error reply because the handler (or one of its callbacks) raised."""
        with self._lock:
            if self._claimed:
                self.logger.error(
                    f"{self._where()} raised after it had answered: {type(exc).__name__}: {exc}"
                )
                return
            self._claimed = True
        self.error = exc
        self.resolve()

    def time_out(self) -> bool:
        """Mark the task as timed out, unless it was answered meanwhile."""
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
        self.timed_out = True
        return True

    def _where(self) -> str:
        if self.kind == "functions":
            return f'Flex Functions handler "{self.name}"'
        if self.kind == "auth":
            return f'FlexAuth handler "{self.name}"'
        request = self.task["request"]
        return f"Data handler {request.get('method')} for {request.get('serviceObjectName')}"

    def _already_answered_message(self) -> str:
        if self.kind == "functions":
            return (
                f'Invoked done() or next() more than once to the same Flex Functions request to "{self.name}"'
            )
        if self.kind == "auth":
            return (
                "Invoked done() or next() more than once to the same FlexAuth request in handler "
                f'"{self.name}"'
            )
        request = self.task["request"]
        return (
            "Invoked done() or next() more than once to the same Flex Data handler "
            f"{request.get('method')} for {request.get('serviceObjectName')}"
        )
