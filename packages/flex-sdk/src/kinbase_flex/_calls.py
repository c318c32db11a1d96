"""How module calls run: on the service's event loop, answered by a callback or awaited.

Every module method that talks to the backend returns a :class:`Pending` at once, as the Node SDK
returns a Promise. The call itself always runs on the service's event loop, whichever thread made it
(plain handlers run in a worker thread). Use it in one of three ways::

    store.find(query, callback)          # Node style: callback(err, result) runs on the event loop
    result = await store.find(query)     # in an ``async def`` handler
    result = store.find(query).result()  # in a plain handler (it runs in a worker thread)

A callback may be a plain function or ``async def``; one that takes a single parameter gets only
``err``. An exception raised by a callback answers the request with a ``runtimeError`` reply.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

import httpx

from kinbase_flex._jsutil import dumps, loads
from kinbase_flex.errors import BackendError, BackendUnavailable

__all__ = ["CallRuntime", "Pending"]

T = TypeVar("T")

_MISSING: Any = object()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Pending(Generic[T]):
    """The result of a module call: awaitable, or ``.result()`` from a worker thread."""

    def __init__(self, future: concurrent.futures.Future[T], loop: asyncio.AbstractEventLoop) -> None:
        self._future = future
        self._loop = loop

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self._future).__await__()

    def result(self, timeout: float | None = None) -> T:
        """Block until the call is answered (not on the event loop: ``await`` it there)."""
        if _on_loop(self._loop):
            raise RuntimeError("Pending.result() would block the event loop: use `await` in an async handler")
        return self._future.result(timeout)

    def done(self) -> bool:
        return self._future.done()


def _accepts_one_argument(callback: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):
        return False
    positional = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return False
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional == 1


class CallRuntime:
    """What the modules of one task need: the loop, the HTTP client and where callback errors go."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client: Callable[[], httpx.AsyncClient],
        timeout: float,
        on_callback_error: Callable[[BaseException], None],
    ) -> None:
        self.loop = loop
        self._client = client
        self.timeout = timeout
        self._on_callback_error = on_callback_error

    def submit(
        self, call: Callable[[], Awaitable[T]], callback: Callable[..., Any] | None = None
    ) -> Pending[T]:
        """Run ``call()`` on the loop; hand the outcome to ``callback`` if given."""

        async def runner() -> T:
            try:
                result = await call()
            except Exception as exc:
                if callback is not None:
                    await self._invoke(callback, exc, None)
                raise
            if callback is not None:
                await self._invoke(callback, None, result)
            return result

        future = asyncio.run_coroutine_threadsafe(runner(), self.loop)
        return Pending(future, self.loop)

    async def _invoke(self, callback: Callable[..., Any], err: BaseException | None, result: Any) -> None:
        try:
            outcome = callback(err) if _accepts_one_argument(callback) else callback(err, result)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:  # noqa: BLE001 - not swallowed: it becomes the request's error reply
            self._on_callback_error(exc)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        params: dict[str, str] | None = None,
        body: Any = _MISSING,
        auth: tuple[str, str] | None = None,
        error_status: int = 300,
    ) -> Any:
        """Send one request to the backend; a status ``>= error_status`` raises :class:`BackendError`."""
        request_headers = dict(headers)
        content: bytes | None = None
        if body is not _MISSING:
            content = dumps(body)
            request_headers.setdefault("Content-Type", "application/json")
        try:
            # httpx enforces the timeout per network operation; wait_for bounds the whole call, so
            # no transport (a slow server trickling bytes, a custom transport) can make it hang.
            response = await asyncio.wait_for(
                self._client().request(
                    method,
                    url,
                    headers=request_headers,
                    params=params or None,
                    content=content,
                    auth=auth,
                    timeout=self.timeout,
                ),
                self.timeout,
            )
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise BackendUnavailable(f"No answer from {method} {url} within {self.timeout} s", exc) from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"{method} {url} failed: {type(exc).__name__}: {exc}", exc) from exc
        data: Any = None
        if response.content:
            try:
                data = loads(response.content)
            except ValueError:
                data = response.text
        if response.status_code >= error_status:
            raise BackendError(response.status_code, data)
        return data
