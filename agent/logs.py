"""The log: one line a message on stderr ("hygiene: warning: ..."), which the terminal shows
and the service manager keeps. Set up by agent.cli for the commands that log; the commands
people type to see where things stand do not load logging at all."""

from __future__ import annotations

import logging
from typing import Any

from agent.text import printable


class _LowercaseLevel(logging.Formatter):
    """The log's one sink for outside text: a message is one line, escaped whole (a newline
    in a file name cannot forge a log line); a traceback keeps its own newlines."""

    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable(super().formatException(ei), lines=True)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), lines=True)


def to_stderr(*, verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_LowercaseLevel("hygiene: %(levelname)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler], force=True
    )
