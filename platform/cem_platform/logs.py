"""Structured logs: one JSON object per line on stderr, with the fields passed in ``extra``; or, for the demo, one
text file per component."""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cem_platform.settings import LogSettings

__all__ = ["COMPONENT_LOGGERS", "JsonFormatter", "TextFormatter", "configure_logging", "log_to_files"]

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; extra fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines (the demo): time, level, logger, message, then the extra fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text."""
        text = super().format(record)
        extras = [
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        ]
        return f"{text} {' '.join(extras)}" if extras else text


def configure_logging(settings: LogSettings) -> None:
    """Send the platform's logs to stderr, as JSON unless ``CEM_LOG_JSON=false``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.json else TextFormatter())
    root = logging.getLogger("cem")
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    root.propagate = False


#: Which loggers write to which component's file in :func:`log_to_files`; every other logger goes to ``api``.
COMPONENT_LOGGERS: Mapping[str, tuple[str, ...]] = {
    "ingest": ("cem.ingest", "cem.live"),
    "jobs": ("cem.jobs", "cem.alarms", "cem.timeseries", "cem_registry"),
    "clients": ("cem_clients", "flet", "flet_web", "httpx", "httpcore", "websockets"),
}
_FILE_BYTES = 5_000_000  # per file; two older files are kept, so a component's log stays under 15 MB


class _ComponentFilter(logging.Filter):
    """Passes the records of one component: its loggers, or (``rest``) every logger no component claims."""

    def __init__(self, prefixes: tuple[str, ...], *, rest: bool = False) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.rest = rest

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record belongs to this component."""
        if self.rest:
            claimed = (p for names in COMPONENT_LOGGERS.values() for p in names)
            return not any(record.name == p or record.name.startswith(p + ".") for p in claimed)
        return any(record.name == p or record.name.startswith(p + ".") for p in self.prefixes)


def log_to_files(directory: Path, level: str = "INFO") -> dict[str, Path]:
    """Send every log record of the process to one rotating text file per component in ``directory`` (the demo,
    whose terminal keeps only what the person at it needs); returns the files by component.

    Run it again after anything that configures logging (Litestar's app does): loggers that got their own
    handlers (``cem``, ``litestar``) lose them and propagate to the files, and nothing is left on stderr.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = {name: directory / f"{name}.log" for name in ("api", *COMPONENT_LOGGERS)}
    handlers: list[logging.Handler] = []
    for name, path in files.items():
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=_FILE_BYTES, backupCount=2, encoding="utf-8")
        handler.setFormatter(TextFormatter())
        handler.addFilter(_ComponentFilter(COMPONENT_LOGGERS.get(name, ()), rest=name == "api"))
        handlers.append(handler)
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.handlers:
            for old in logger.handlers:
                old.close()
            logger.handlers.clear()
            logger.propagate = True
    logging.captureWarnings(True)  # library warnings go to the api file, not to the terminal
    return files
