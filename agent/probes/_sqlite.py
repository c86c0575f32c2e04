"""Reading another program's SQLite database (a browser's) without touching it.

Only regular files are opened (a FIFO would block the open), of a bounded size, read-only
(`mode=ro`: SQLite never writes, never creates), with a short busy timeout and a deadline on
each query. A database its program holds locked (Chromium keeps its own locked while it
runs) is read a second time as `immutable`: without taking any lock and without its journal,
as the file is on disk at that moment; what that cannot read is a note, never a wait.
"""

from __future__ import annotations

import sqlite3
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from agent.files import FileTooLarge, NotRegularFile

# A browser's cookie or login database is a few MiB; a profile with years of history, tens.
MAX_DATABASE = 256 * 1024 * 1024
# SQLite calls the progress handler every this many virtual machine steps.
_STEPS = 10_000


class StoreUnreadable(ValueError):
    """A store that is missing what it should hold, damaged, or of a form not known here."""


def _require_small_regular(path: Path) -> None:
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f"{path} is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(f"{path} is not a regular file")
    if info.st_size > MAX_DATABASE:
        raise FileTooLarge(f"{path} is larger than {MAX_DATABASE} bytes")


@contextmanager
def open_read_only(
    path: Path, timeout: float, *, immutable: bool = False
) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at `path`; every statement run on it is
    interrupted once `timeout` seconds have passed (sqlite3.OperationalError)."""
    _require_small_regular(path)
    uri = f"{path.absolute().as_uri()}?mode=ro"
    if immutable:
        uri += "&immutable=1"
    deadline = time.monotonic() + timeout
    connection = sqlite3.connect(uri, uri=True, timeout=min(timeout, 0.25))
    with closing(connection):
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), _STEPS)
        yield connection


def query_one(
    path: Path, sql: str, parameters: Sequence[Any], timeout: float
) -> tuple[tuple[Any, ...] | None, bool]:
    """The first row of `sql`, and whether the database was held locked by its program (and
    so read as it is on disk, without its lock). sqlite3.Error when it cannot be read."""
    try:
        with open_read_only(path, timeout) as db:
            return db.execute(sql, parameters).fetchone(), False
    except sqlite3.OperationalError as err:
        if "locked" not in str(err) and "busy" not in str(err):
            raise
    with open_read_only(path, timeout, immutable=True) as db:
        return db.execute(sql, parameters).fetchone(), True
