"""Log set-up: one line per event, naming the job and the worker it concerns; JSON lines on request.

Code that logs about a job passes them as `extra={"job_id": ..., "worker_id": ...}` (see
`event_log`); the formatters put them in every line, so an operator can grep or query by either.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

CONTEXT_FIELDS = ("job_id", "worker_id", "epoch")


def first_line(error: BaseException) -> str:
    """An exception's first line: driver errors run to many lines, a log event should be one."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def one_line(message: str) -> str:
    """A message folded onto one line: what a client sees of an error (the traceback stays in the log)."""
    return " ".join(message.split())


def event_log(logger: logging.Logger, **context: Any) -> logging.LoggerAdapter:
    """A logger whose lines all carry this context, e.g. event_log(log, worker_id=w, job_id=3)."""
    return logging.LoggerAdapter(logger, context)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update({key: getattr(record, key) for key in CONTEXT_FIELDS if hasattr(record, key)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if hasattr(record, key))
        if not context:
            return line
        first, newline, rest = line.partition("\n")  # keep the context on the event's line, before a traceback
        return f"{first} [{context}]{newline}{rest}"


def configure(*, level: str, json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # Alembic says a lot at INFO about its plugins; its migration steps are worth keeping.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(level.upper())
