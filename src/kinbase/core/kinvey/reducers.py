"""JavaScript reduce functions (``_group``) in a bounded pool of worker processes.

Each reducer runs in QuickJS (an embedded engine without I/O) inside a worker process of its own
pool, one reducer per process at a time. QuickJS's time limit counts the CPU time of its process,
so each reducer gets its whole budget whatever else runs (in threads of the server, reducers
shared one process clock: eight at once were each cut after a quarter of theirs). The pool holds
at most half the cores, and nothing else shares it: endless reducers cannot delay a login (argon2
has its own pool) or the event loop by more than the CPU they take. A reducer that cannot start
within :data:`START_WAIT_SECONDS` is refused (``BLTimeoutError``) rather than queued for ever; a
worker that stops answering is killed and replaced.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import orjson

from kinbase.core.kinvey.errors import KinveyError
from kinbase.types import Document

__all__ = ["REDUCERS", "START_WAIT_SECONDS", "ReducerPool"]

START_WAIT_SECONDS = 10.0
DEFAULT_TIME_LIMIT = 2.0
"""CPU seconds one reduce function may use."""

_MEMORY_LIMIT = 128 * 1024 * 1024

_SCRIPT = """
(function () {
  var input = JSON.parse(__input);
  var reduce = (%s);
  if (typeof reduce !== 'function') { throw new TypeError('reduce is not a function'); }
  var results = [];
  for (var i = 0; i < input.groups.length; i++) {
    var group = input.groups[i];
    var out = JSON.parse(input.initial);
    for (var j = 0; j < group.docs.length; j++) { reduce(group.docs[j], out); }
    results.push(out);
  }
  return JSON.stringify(results);
})()
"""


def run_js(source: str, payload: str, time_limit: float) -> tuple[str, str]:
    """Run in a worker process: ``("ok", results JSON)`` or ``(Kinvey error name, message)``."""
    import quickjs  # type: ignore[import-untyped]

    context = quickjs.Context()
    context.set_time_limit(time_limit)
    context.set_memory_limit(_MEMORY_LIMIT)
    context.set_max_stack_size(1024 * 1024)
    context.set("__input", payload)
    try:
        result = context.eval(_SCRIPT % source)
    except quickjs.JSException as exc:
        message = str(exc)
        first = message.splitlines()[0] if message.strip() else "null"
        if "interrupted" in message:
            return "BLTimeoutError", f"The reduce function ran longer than {time_limit} s."
        if "SyntaxError" in message:
            # The client sent the function: its syntax error is a 400 (BLSyntaxError is a 550,
            # the status of the server's own business logic), issue 16.
            return "BLRuntimeError", first
        if message.strip() == "null" or "out of memory" in message or "stack overflow" in message:
            # QuickJS cannot even allocate the error object when the memory limit is hit.
            return "BLViolationError", first
        return "BLRuntimeError", first
    if not isinstance(result, str):
        return "BLRuntimeError", "The reduce function produced no result."
    return "ok", result


class ReducerPool:
    """At most ``workers`` reducers run at once, each in its own process."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self._executor: ProcessPoolExecutor | None = None
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.workers))
        return self._slots[1]

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("forkserver"),
                max_tasks_per_child=200,
            )
        return self._executor

    def _reset(self) -> None:
        """Kill the workers (one is stuck or died) and start afresh on the next call."""
        executor, self._executor = self._executor, None
        if executor is not None:
            for process in list(executor._processes.values()):
                process.kill()
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._reset()

    async def run(
        self, source: str, initial: Document, groups: list[list[Any]], time_limit: float | None = None
    ) -> list[Any]:
        """Fold each group of documents with ``source``, from a copy of ``initial``.

        Raises:
            KinveyError: BLTimeoutError, BLRuntimeError (a syntax error too), BLViolationError,
                BLInternalError.
        """
        limit = DEFAULT_TIME_LIMIT if time_limit is None else time_limit
        slots = self._semaphore()
        payload = orjson.dumps(
            {"initial": orjson.dumps(initial).decode(), "groups": [{"docs": docs} for docs in groups]}
        ).decode()
        try:
            await asyncio.wait_for(slots.acquire(), START_WAIT_SECONDS)
        except TimeoutError:
            raise KinveyError(
                "BLTimeoutError", "The reduce function could not start in time: too many are running."
            ) from None
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._pool(), run_js, source, payload, limit)
            # The CPU budget is enforced inside the worker; the wall-clock bound catches a worker
            # that stopped answering (it also counts the start of a fresh worker process).
            name, text = await asyncio.wait_for(future, limit * 3 + 10)
        except TimeoutError:
            self._reset()
            raise KinveyError("BLTimeoutError", f"The reduce function ran longer than {limit} s.") from None
        except BrokenProcessPool:
            self._reset()
            raise KinveyError("BLInternalError", "The reduce function's worker stopped.") from None
        finally:
            slots.release()
        if name != "ok":
            raise KinveyError(name, text)
        outs = orjson.loads(text)
        if not isinstance(outs, list):
            raise KinveyError("BLRuntimeError", "The reduce function produced no result.")
        return outs


REDUCERS = ReducerPool()
"""The reducer pool of this server process."""
