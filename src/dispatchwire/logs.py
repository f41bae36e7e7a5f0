"""Where the server's log lines go and how they look: `text` for people, `json` for machines.

`DISPATCHWIRE_LOG_FORMAT=json` writes one JSON object a line (python-json-logger): `time`
(ISO 8601, UTC), `level`, `logger`, `message`, and the ids the line is about: `user_id`,
`master_id`, `order_id`, `offer_id`, `socket_id` and this process's `node`. A log call may
pass them as `extra=`; otherwise they are read from the message, whose wording names them
("order 5 placed by user 3", "socket 12 of user 3", "refused GET /api/orders/5"). The
messages never hold tokens, passwords or secrets, so neither does a JSON line.
"""

import logging
import re
import sys

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from dispatchwire.settings import Settings

__all__ = ["IDS", "Ids", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record's attribute each id is kept in, by the word that names it in a message.
IDS = {"user": "user_id", "admin": "user_id", "master": "master_id", "order": "order_id",
       "offer": "offer_id", "socket": "socket_id", "orders": "order_id",
       "assignments": "offer_id"}
_NAMED = re.compile(r"\b(user|admin|master|order|offer|socket) #?(\d+)\b")
_IN_PATH = re.compile(r"/api/(orders|assignments)/(\d+)")
# uvicorn's own start and stop lines, said better by ours ("... ready", the pages' addresses,
# "dispatchwire stopped"): kept for DEBUG, so that a stop is one line.
_UVICORN_LIFECYCLE = ("Started server process", "Waiting for application", "Application startup",
                      "Application shutdown", "Shutting down", "Finished server process",
                      "Uvicorn running on")


class Ids(logging.Filter):
    """Adds to each record the ids its message names (unless given as `extra=`) and the
    node; `node` is set once the broker has named this process."""

    def __init__(self) -> None:
        super().__init__()
        self.node: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.node is not None:
            record.node = self.node
        message = record.getMessage()
        for word, value in (*_NAMED.findall(message), *_IN_PATH.findall(message)):
            attribute = IDS[word]
            if not hasattr(record, attribute):  # the first one named is what the line is about
                setattr(record, attribute, int(value))
        return True


class _Lifecycle(logging.Filter):
    """Turns uvicorn's start and stop lines into DEBUG ones."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and str(record.msg).startswith(_UVICORN_LIFECYCLE):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure_logging(settings: Settings) -> Ids:
    """Log to standard error in the configured format; the filter that holds the node id."""
    handler = logging.StreamHandler(sys.stderr)
    ids = Ids()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(
            "%(levelname)s %(name)s %(message)s", timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "color_message", "taskName"]))
        handler.addFilter(ids)
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    logging.getLogger("uvicorn.error").addFilter(_Lifecycle())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # noise at import
    # What the formats above never show, logging need not look up for every line (the
    # "Optimization" section of the logging HOWTO): ~2 µs of a ~10 µs line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # the caller's file and line
    return ids
