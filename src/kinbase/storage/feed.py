"""The invalidation feed: how the workers of one deployment tell each other what changed.

A worker caches things it reads on every request (apps, memberships, login-throttle answers). When
one of them changes, the worker that changed it publishes ``(topic, key)`` on a feed; every other
worker subscribed to the same feed drops its cached copy. The feeds are the core's
(:mod:`kinbase.core.invalidation`: Redis, or a log in the database); an engine that can push
messages itself offers one (:meth:`StorageBackend.invalidation_feed`, PostgreSQL's
``LISTEN``/``NOTIFY``).

A pushed message is exact, not merely fast: :meth:`SubscribedFeed.send` returns only once every
process subscribed when it was sent has dropped its copy and said so (an acknowledgement on the
same channel), so the change is acknowledged to its client after every worker stopped trusting
the old value. Without that, a worker whose event loop took the client's next request before the
message (a loaded machine does) served the old value once more: seen for an ended Kinvey session.
A process that does not acknowledge within :attr:`SubscribedFeed.ack_timeout` (it died, or its
loop is stalled) costs the sender that long and a warning, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import ClassVar, Protocol

import orjson

__all__ = [
    "Deliver",
    "InvalidationFeed",
    "Reset",
    "SubscribedFeed",
    "channel_name",
    "decode",
    "encode",
    "encode_ack",
]

log = logging.getLogger(__name__)

Deliver = Callable[[str, str], None]
"""Called with ``(topic, key)`` for each message another process published."""

Reset = Callable[[], None]
"""Called when messages may have been missed (the feed was lost): every cache is dropped."""


class InvalidationFeed(Protocol):
    """A channel shared by every process of one deployment (one database)."""

    connected: bool
    """Subscribed (messages of the others arrive); while False nothing cached is trusted."""

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        """Subscribe; ``deliver`` gets the messages of the other processes from now on."""

    async def send(self, topic: str, key: str) -> None:
        """Publish one message to every other subscribed process (best effort: a failure is
        logged and the other processes reset their caches when they notice the feed is lost)."""

    async def poll(self) -> None:
        """Deliver what is waiting, before a cache is trusted (cheap; a no-op for pushed feeds
        that are connected). While a feed is lost it calls ``reset`` so nothing cached is trusted."""

    async def stop(self) -> None:
        """Unsubscribe and close."""


def channel_name(identity: str) -> str:
    """A channel name of the deployment whose database is ``identity`` (letters and digits only,
    so it is a valid PostgreSQL identifier and Redis channel)."""
    return "kinbase_invalidate_" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def encode(sender: str, topic: str, key: str) -> str:
    """A message: ``sender`` is ``ORIGIN.N``, the sending process and its message number (a
    process of an earlier version sent its bare origin and awaits no acknowledgement)."""
    return orjson.dumps([sender, topic, key]).decode()


def encode_ack(sender: str) -> str:
    """The acknowledgement of the message ``sender`` (two elements: a process of an earlier
    version, which knows only messages of three, ignores it)."""
    return orjson.dumps(["ack", sender]).decode()


def decode(payload: str | bytes) -> tuple[str, str, str] | None:
    """``(sender, topic, key)``, or None for a message that is not ours."""
    value = _load(payload)
    if value is not None and len(value) == 3:
        return value[0], value[1], value[2]
    return None


def _load(payload: str | bytes) -> list[str] | None:
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


class _Acks:
    """The acknowledgements of one message, until as many as its receivers arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.expected: int | None = None
        self.done = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        self._check()

    def expect(self, receivers: int) -> None:
        self.expected = receivers
        self._check()

    def _check(self) -> None:
        if self.expected is not None and self.count >= self.expected:
            self.done.set()


class SubscribedFeed:
    """A feed pushed by a server over a subscription (Redis pub/sub, PostgreSQL ``LISTEN``): the
    subscribe → deliver → reconnect-with-back-off loop, the reset on a gap and the
    acknowledgements, shared by the transports, which implement :meth:`_subscribe` and
    :meth:`_post`."""

    errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)
    """What a lost connection raises in :meth:`_subscribe` (then the loop resets and retries)."""

    max_payload: ClassVar[int | None] = None
    """The longest message the transport carries, in bytes (a longer key is sent as ``*``)."""

    ack_timeout: float = 2.0
    """How long :meth:`send` waits for the acknowledgements of the other processes."""

    def __init__(self, identity: str, origin: str) -> None:
        self.channel = channel_name(identity)
        self._origin = origin
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._reset: Reset = lambda: None
        self._sent = 0
        self._pending: dict[str, _Acks] = {}
        self._acking: set[asyncio.Task[int | None]] = set()
        self.connected = False

    async def _post(self, payload: str, *, count: bool) -> int | None:
        """Publish ``payload`` on the channel; with ``count``, return how many subscribers will
        receive it. None when it could not be sent (the transport logged why)."""
        raise NotImplementedError

    async def send(self, topic: str, key: str) -> None:
        """Publish, then wait until every subscribed process (this one's own subscriber
        included) acknowledged; when this process is not subscribed it cannot hear them and
        only publishes."""
        self._sent += 1
        sender = f"{self._origin}.{self._sent}"
        payload = encode(sender, topic, key)
        if self.max_payload is not None and len(payload.encode()) > self.max_payload:
            payload = encode(sender, topic, "*")
        acks = _Acks() if self.connected else None
        if acks is not None:
            self._pending[sender] = acks
        try:
            receivers = await self._post(payload, count=True)
            if acks is None or receivers is None:
                return
            acks.expect(receivers)
            try:
                async with asyncio.timeout(self.ack_timeout):
                    await acks.done.wait()
            except TimeoutError:
                log.warning(
                    "an invalidation was acknowledged by %d of %d processes within %.1f s; "
                    "the others serve their copy until they hear it",
                    acks.count,
                    receivers,
                    self.ack_timeout,
                )
        finally:
            self._pending.pop(sender, None)

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        self._reset = reset
        self._task = asyncio.create_task(self._listen(deliver), name="kinbase-invalidations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def _subscribe(self, deliver: Deliver) -> None:
        """Subscribe, call :meth:`_on_subscribed`, then hand every message of the channel to
        :meth:`_receive` until the connection is lost (raise one of :attr:`errors`)."""
        raise NotImplementedError

    def _on_subscribed(self) -> None:
        self.connected = True
        self._reset()  # anything sent while this worker was not subscribed
        if self._subscribed.is_set():
            log.warning("invalidation feed back; caches are on again")
        self._subscribed.set()

    def _receive(self, payload: str | bytes, deliver: Deliver) -> None:
        value = _load(payload)
        if value is None:
            return
        if len(value) == 2 and value[0] == "ack":
            acks = self._pending.get(value[1])
            if acks is not None:
                acks.add()
            return
        if len(value) != 3:
            return
        sender, topic, key = value
        origin, numbered, _ = sender.partition(".")
        if origin != self._origin:
            deliver(topic, key)  # the copy is dropped before the acknowledgement leaves
        if numbered:
            self._acknowledge(encode_ack(sender))

    def _acknowledge(self, ack: str) -> None:
        """Send ``ack`` (in a task of its own: :meth:`_receive` runs in the subscriber's loop);
        a stopped feed sends nothing (its transport is closed)."""
        if self._task is None:
            return
        task = asyncio.create_task(self._post(ack, count=False))
        self._acking.add(task)
        task.add_done_callback(self._acking.discard)

    async def _listen(self, deliver: Deliver) -> None:
        delay = 0.1
        while True:
            try:
                await self._subscribe(deliver)
            except self.errors as exc:
                if self.connected:
                    log.warning("invalidation feed lost (%s); caches are off until it is back", exc)
            if self.connected:
                delay = 0.1  # it was up: retry soon
            self.connected = False
            self._reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def poll(self) -> None:
        if not self.connected:
            self._reset()

    async def stop(self) -> None:
        tasks = [*self._acking, *([self._task] if self._task is not None else [])]
        for task in tasks:  # acknowledgements in flight too: the transport closes after this
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self.connected = False
