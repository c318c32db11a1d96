"""The push provider interface: deliver one message to a batch of devices of one platform."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kinbase.core.push.devices import Device
from kinbase.core.push.messages import PushMessage

__all__ = ["Delivery", "PushProvider", "each"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one device: delivered, or not (``gone``: the token is no longer valid and
    should be forgotten)."""

    device: Device
    ok: bool
    gone: bool = False
    error: str | None = None


class PushProvider(ABC):
    """A push service (FCM, APNs, a webhook). One instance per app and configuration."""

    name: str

    @abstractmethod
    async def send(self, devices: Sequence[Device], message: PushMessage) -> list[Delivery]:
        """Deliver ``message`` to every device; never raises for a device's failure (it is a
        :class:`Delivery` with ``ok=False``)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the provider's connections."""


async def each(
    devices: Sequence[Device], send: Callable[[Device], Awaitable[Delivery]], concurrency: int = 16
) -> list[Delivery]:
    """``send`` to every device, at most ``concurrency`` at a time, in order."""
    slots = asyncio.Semaphore(concurrency)

    async def one(device: Device) -> Delivery:
        async with slots:
            return await send(device)

    return list(await asyncio.gather(*(one(d) for d in devices)))
