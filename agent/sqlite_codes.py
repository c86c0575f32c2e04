"""SQLite's primary result codes, for the two databases the agent writes (the store and the
osquery report) to say in words why SQLite refused."""

from __future__ import annotations

import sqlite3

PERM = 3
BUSY = 5
LOCKED = 6
NOMEM = 7
READONLY = 8
IOERR = 10
CORRUPT = 11
FULL = 13
CANTOPEN = 14
NOTADB = 26


def primary(err: sqlite3.Error) -> int:
    """The error's primary result code: the low byte of its extended one."""
    return int(getattr(err, "sqlite_errorcode", -1) or -1) & 0xFF
