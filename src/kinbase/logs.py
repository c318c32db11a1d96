"""Logging set-up: the request id of the request being served, and JSON lines as an option.

The server sets :data:`REQUEST_ID` for each request (a context variable, so each task sees its
own); :class:`RequestIdFilter` copies it onto every record as ``request_id``. With the setting
``log_format = "json"`` each record is one JSON object per line (``time``, ``level``, ``logger``,
``message``, ``request_id`` when there is one, ``exception`` with the traceback).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

__all__ = ["REQUEST_ID", "JsonFormatter", "RequestIdFilter", "configure_logging"]

REQUEST_ID: ContextVar[str | None] = ContextVar("kinbase_request_id", default=None)
"""The id of the request the current task serves (None outside a request)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the current request's, or None) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str, log_format: str) -> None:
    """Send the root logger's records to stderr as text or JSON lines (``log_format``), with the
    request id. Replaces the root logger's handlers (uvicorn's loggers propagate to it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if log_format == "json":
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            for old in list(logger.handlers):
                logger.removeHandler(old)
            logger.propagate = True
