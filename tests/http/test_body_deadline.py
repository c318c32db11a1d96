"""Bodies read whole are bounded by their deadline (:class:`BodyDeadline`), watched by one timer
per event loop instead of one per read: a read past its deadline is refused with BodyTimeout, any
other cancellation of the request stays a cancellation, and a body that arrives is read whole."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kinbase.errors import BodyTimeout
from kinbase.http.request import BodyDeadline, HttpRequest

pytestmark = pytest.mark.anyio


def _request(receive: Any, deadline: BodyDeadline | None) -> HttpRequest:
    return HttpRequest(
        method="POST",
        path="/",
        raw_path="/",
        query_string="",
        headers={},
        client="127.0.0.1",
        request_id="0" * 32,
        scope={},
        receive=receive,
        body_deadline=deadline,
    )


def _chunks(*parts: bytes) -> Any:
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


async def _never() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_a_body_that_arrives_is_read_whole() -> None:
    for deadline in (BodyDeadline(5, 1000), None):
        assert await _request(_chunks(b"ab", b"cd", b""), deadline).body(100) == b"abcd"


async def test_a_body_past_its_deadline_is_refused() -> None:
    with pytest.raises(BodyTimeout):
        await _request(_never, BodyDeadline(0.01, 1000)).body(100)
    # the task was not left cancelled: it goes on (the front-end answers 408)
    await asyncio.sleep(0)


async def test_another_cancellation_stays_a_cancellation() -> None:
    task = asyncio.ensure_future(_request(_never, BodyDeadline(60, 1000)).body(100))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_reads_of_several_requests_are_watched_together() -> None:
    slow = asyncio.ensure_future(_request(_never, BodyDeadline(0.01, 1000)).body(100))
    fine = asyncio.ensure_future(_request(_chunks(b"x", b""), BodyDeadline(0.01, 1000)).body(100))
    assert await fine == b"x"
    with pytest.raises(BodyTimeout):
        await slow
