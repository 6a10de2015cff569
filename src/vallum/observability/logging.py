"""Structured JSON logs: one object per line, the request id on top, every field scrubbed.

``JsonLogging`` puts one handler on the root logger (and on uvicorn's loggers,
whose access log carries URLs); everything it writes goes through ``scrub``.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from vallum.observability.scrub import scrub, scrub_value

__all__ = ["JsonFormatter", "JsonLogging", "ScrubFilter"]

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


class ScrubFilter(logging.Filter):
    """Scrubs a record in place (message, arguments, exception text, extras)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, scrub_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            data["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "request_id":
                data[key] = scrub_value(value)
        if record.exc_info:
            data["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            data["exception"] = scrub(record.exc_text)
        if record.stack_info:
            data["stack"] = scrub(record.stack_info)
        return orjson.dumps(data, default=str).decode()


class JsonLogging:
    """Routes the root and uvicorn loggers through one scrubbing JSON handler; undone by close()."""

    def __init__(self, level: str = "INFO", stream: IO[str] | None = None) -> None:
        self.handler = logging.StreamHandler(stream or sys.stderr)
        self.handler.setFormatter(JsonFormatter())
        self.handler.addFilter(ScrubFilter())
        self._filter = ScrubFilter()
        self._saved: dict[str, tuple[list[logging.Handler], bool]] = {}
        root = logging.getLogger()
        root.addHandler(self.handler)
        root.setLevel(level.upper())
        for name in _UVICORN:
            logger = logging.getLogger(name)
            self._saved[name] = (list(logger.handlers), logger.propagate)
            for old in list(logger.handlers):
                logger.removeHandler(old)
            # A logger-level filter: the uvicorn access log carries URLs with query strings.
            logger.addFilter(self._filter)
            logger.addHandler(self.handler)
            logger.propagate = False

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        for name, (handlers, propagate) in self._saved.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self.handler)
            logger.removeFilter(self._filter)
            for old in handlers:
                logger.addHandler(old)
            logger.propagate = propagate
        self._saved.clear()
        self.handler.close()
