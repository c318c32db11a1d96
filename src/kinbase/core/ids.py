"""Identifier generators."""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid

__all__ = ["object_id", "uuid4"]

_counter_lock = threading.Lock()
_counter = int.from_bytes(os.urandom(3), "big")
_process_random = os.urandom(5)


def object_id() -> str:
    """A 24-hex-character id in MongoDB ObjectId layout (time, random, counter), as Kinvey generates."""
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) & 0xFFFFFF
        count = _counter
    return (int(time.time()).to_bytes(4, "big") + _process_random + count.to_bytes(3, "big")).hex()


def uuid4() -> str:
    """A random UUID string (Kinto's record ids)."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
