"""Logging set-up. Only the CLI calls `configure`; modules use `logging.getLogger(__name__)`."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal

from monitor.outputs.formats import inert

LogFormat = Literal["json", "text", "auto"]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

# slack_sdk logs each request's URL at DEBUG, and urllib3 its request line: a webhook's URL
# is its secret, so from these loggers only the scheme and host of a URL are kept.
_URL_LOGGERS = ("slack_sdk", "urllib3")
_URL = re.compile(r"\b(https?://[^/\s'\"]+)[^\s'\",]*")
_REQUEST_LINE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD) /[^\s'\"]*")
# A Slack token that reached a message anyway (an exception text, say) is cut to its kind.
_SLACK_TOKEN = re.compile(r"\b(xox[a-z]|xapp)-[0-9A-Za-z-]+")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is context.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class SafeMessages(logging.Filter):
    """Every record's message made safe for a terminal and free of secret-bearing URLs.

    Messages quote names a client chose (users, hosts, application_name): control characters
    are shown as escapes (`monitor.outputs.formats.inert`), so nothing in a log moves a cursor.
    A handler filter, so it sees the records of every logger, third-party ones included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.name.startswith(_URL_LOGGERS):
            text = _REQUEST_LINE.sub(r"\1 /…", _URL.sub(r"\1/…", text))
        text = _SLACK_TOKEN.sub(r"\1-…", text)
        record.msg, record.args = inert(text, "terminal"), None
        return True


class TextFormatter(logging.Formatter):
    """Readable lines; a traceback's lines (which may quote a client's text) made inert."""

    def formatException(self, ei: ExcInfo) -> str:
        return "\n".join(
            inert(line, "terminal") for line in super().formatException(ei).split("\n")
        )


class JsonFormatter(TextFormatter):
    """One JSON object per line, with the record's `extra` context as top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(fmt: LogFormat = "auto", level: str = "INFO") -> None:
    """Send logs to stderr: JSON lines for daemons and pipes, readable text on a terminal."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(SafeMessages())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # botocore and werkzeug log request details at INFO; keep them quiet unless debugging.
    for noisy in ("botocore", "urllib3", "werkzeug", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
