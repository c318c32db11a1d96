"""``flex.logger``: one JSON line per message on standard output, as the Node SDK writes them."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from kinbase_flex._jsutil import dumps

__all__ = ["FlexLogger"]


class FlexLogger:
    """``info``, ``warn``, ``error`` and ``fatal`` write ``{"message": ..., "level": ...}`` and a newline.

    Each returns the line it wrote (``None`` for a ``None`` message, which is not logged). An exception
    is logged as ``"TypeName: message"``; any other value is logged as JSON.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def _log(self, level: str, message: Any) -> str | None:
        if message is None:
            return None
        if isinstance(message, BaseException):
            message = f"{type(message).__name__}: {message}"
        line = dumps({"message": message, "level": level}).decode() + "\n"
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line)
            stream.flush()
        return line

    def info(self, message: Any) -> str | None:
        return self._log("info", message)

    def warn(self, message: Any) -> str | None:
        return self._log("warning", message)

    warning = warn

    def error(self, message: Any) -> str | None:
        return self._log("error", message)

    def fatal(self, message: Any) -> str | None:
        return self._log("fatal", message)
