"""The store's schema: one migration step per version, and what the newest must contain.

``PRAGMA user_version`` is the schema version. ``MIGRATIONS[n]`` takes a store from version
n to n + 1, each step in its own transaction, so a newer schema is one appended function.
Append; never edit a released step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Literal


class Unusable(Exception):
    """The file at the store's path is not a store this version can use."""

    def __init__(self, kind: Literal["corrupt", "newer"], reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE findings (
            id TEXT PRIMARY KEY,
            check_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            severity TEXT NOT NULL,
            message TEXT NOT NULL,
            advice TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            resolved_at TEXT,
            times_notified INTEGER NOT NULL DEFAULT 0,
            last_notified TEXT
        )"""
    )
    conn.execute("CREATE INDEX findings_by_check ON findings (check_id, resolved_at)")
    conn.execute(
        """CREATE TABLE checks (
            id TEXT PRIMARY KEY,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            last_status TEXT NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE snoozes (
            target TEXT PRIMARY KEY,
            until TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            check_id TEXT,
            detail TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX events_by_target ON events (target)")
    conn.execute("CREATE INDEX events_by_check ON events (check_id)")
    conn.execute(
        """CREATE TABLE notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            check_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            urgency TEXT NOT NULL,
            backend TEXT NOT NULL,
            delivered INTEGER NOT NULL,
            reason TEXT,
            server_id INTEGER,
            finding_ids TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX notifications_by_time ON notifications (at)")


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    # What the person did with a notice: snoozed it, opened the details, dismissed it.
    conn.execute("ALTER TABLE notifications ADD COLUMN response TEXT")
    conn.execute("ALTER TABLE notifications ADD COLUMN response_at TEXT")
    conn.execute("CREATE INDEX notifications_by_server_id ON notifications (server_id)")
    # Why a check could not run last time, so that `hygiene status` does not read as clean.
    conn.execute("ALTER TABLE checks ADD COLUMN last_error TEXT")


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    # What a scan found in each file (no secret: agent/credentials/model.py Fact), and the
    # stat signature it had then; a file with the same signature is not read again. Paths
    # only looked at (a folder, a file not there) have no record.
    conn.execute(
        """CREATE TABLE scan_cache (
            scanner TEXT NOT NULL,
            path TEXT NOT NULL,
            device INTEGER,
            inode INTEGER,
            size INTEGER,
            mtime_ns INTEGER,
            version TEXT NOT NULL,
            record TEXT,
            PRIMARY KEY (scanner, path)
        )"""
    )


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    # Networks the person marked as trusted: only a keyed fingerprint of the Wi-Fi name or
    # of the gateway's hardware address, never the name or address itself.
    conn.execute(
        """CREATE TABLE trusted_networks (
            fingerprint TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            label TEXT NOT NULL,
            added_at TEXT NOT NULL
        )"""
    )


# The check whose finding ids and messages were, up to schema 4, computed from the values it
# found (a keyed or slow hash of each password; "it is only 7 characters").
_VALUED_CHECK = "credentials"


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """Forget everything the credentials check kept that was computed from a secret.

    Its finding ids (in findings, events, snoozes and the notifications' finding_ids), its
    messages (in findings and the notifications' bodies) and its scan cache (each secret's
    keyed hash) could test a guess of the value. They cannot be rewritten from the store
    alone, so they go: the next scan finds the same problems again under ids of where and
    what they are (agent/checks/credentials.py) and tells them once more. A snooze of one
    of those findings goes with it; a snooze of the whole check stays. secure_delete zeroes
    the deleted rows where they lay; `scrub` then leaves no old page in the WAL or the file.
    """
    conn.execute("PRAGMA secure_delete = ON")
    valued = "SELECT id FROM findings WHERE check_id = ?"
    conn.execute(f"DELETE FROM snoozes WHERE target IN ({valued})", (_VALUED_CHECK,))  # noqa: S608
    conn.execute(f"DELETE FROM events WHERE target IN ({valued})", (_VALUED_CHECK,))  # noqa: S608
    conn.execute("DELETE FROM notifications WHERE check_id = ?", (_VALUED_CHECK,))
    conn.execute("DELETE FROM findings WHERE check_id = ?", (_VALUED_CHECK,))
    conn.execute("DELETE FROM scan_cache WHERE scanner = ?", (_VALUED_CHECK,))
    # A file's size told a password's length (a one-line .netrc): its change time instead.
    conn.execute("ALTER TABLE scan_cache RENAME COLUMN size TO ctime_ns")


def _v5_to_v6(conn: sqlite3.Connection) -> None:
    # Notices that are due but held back (the hourly cap, quiet hours, a grace period), with
    # why and when they go, so that status, notifications and the page can say so. The
    # agent replaces them all after each decision; a row is a notice, not a finding.
    conn.execute(
        """CREATE TABLE held (
            check_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            reason TEXT NOT NULL,
            goes_at TEXT NOT NULL,
            since TEXT NOT NULL,
            finding_ids TEXT NOT NULL
        )"""
    )


def _v6_to_v7(conn: sqlite3.Connection) -> None:
    # A notice says a finding in one short sentence (its notice) under a title picked by its
    # kind (its reason). A finding kept before has neither until its check runs again.
    conn.execute("ALTER TABLE findings ADD COLUMN reason TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE findings ADD COLUMN notice TEXT NOT NULL DEFAULT ''")


def _v7_to_v8(conn: sqlite3.Connection) -> None:
    # An admin policy's exception covers a finding until a date: the finding stays (it is
    # not fixed), shown with the end and the admin's reason, and is not notified meanwhile.
    # The agent replaces a check's rows each time the check runs.
    conn.execute(
        """CREATE TABLE exceptions (
            finding_id TEXT PRIMARY KEY NOT NULL,
            check_id TEXT NOT NULL,
            until TEXT NOT NULL,
            reason TEXT NOT NULL
        )"""
    )


def scrub(conn: sqlite3.Connection) -> None:
    """After _v4_to_v5 has committed: fold the WAL into the file and empty it, then rebuild
    the file without its free pages, so that no copy of a deleted row is left on disk.

    Best effort: another process reading the store holds the WAL, and VACUUM waits for it
    only as long as the busy timeout; the rows are gone from the database either way.
    """
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError:
        pass


# Files beside the store that a version before schema 5 may have left holding a message
# made from a value ("the last Details you opened"). No longer written: Details opens the
# page (agent/page.py) since schema 6.
STALE_FILES = ("status.txt",)

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: tuple[Migration, ...] = (
    _v0_to_v1,
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
    _v5_to_v6,
    _v6_to_v7,
    _v7_to_v8,
)
# The version after which the store is scrubbed (see scrub) once the migration has run.
_SCRUB_AFTER = 5

# What the newest schema must contain; a store lacking any of it is damaged.
_EXPECTED_COLUMNS: dict[str, frozenset[str]] = {
    "findings": frozenset(
        {
            "id",
            "check_id",
            "subject",
            "severity",
            "message",
            "advice",
            "first_seen",
            "last_seen",
            "resolved_at",
            "times_notified",
            "last_notified",
            "reason",
            "notice",
        }
    ),
    "checks": frozenset({"id", "first_seen", "last_seen", "last_status", "last_error"}),
    "trusted_networks": frozenset({"fingerprint", "kind", "label", "added_at"}),
    "scan_cache": frozenset(
        {"scanner", "path", "device", "inode", "ctime_ns", "mtime_ns", "version", "record"}
    ),
    "snoozes": frozenset({"target", "until", "created_at"}),
    "held": frozenset({"check_id", "kind", "title", "reason", "goes_at", "since", "finding_ids"}),
    "exceptions": frozenset({"finding_id", "check_id", "until", "reason"}),
    "events": frozenset({"seq", "at", "kind", "target", "check_id", "detail"}),
    "notifications": frozenset(
        {
            "id",
            "at",
            "check_id",
            "kind",
            "title",
            "body",
            "urgency",
            "backend",
            "delivered",
            "reason",
            "server_id",
            "finding_ids",
            "response",
            "response_at",
        }
    ),
}


def newest() -> int:
    """The schema version this code writes (read at call time: tests append a step)."""
    return len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def is_blank(conn: sqlite3.Connection) -> bool:
    """Version 0 and not a table in it: a file created but not yet migrated, or empty."""
    if user_version(conn):
        return False
    return not conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]


def judge(conn: sqlite3.Connection) -> int:
    """The file's schema version; raises Unusable for a newer or a damaged schema."""
    version = user_version(conn)
    if version > newest():
        raise Unusable("newer", f"schema {version}, this version knows {newest()}")
    if version == 0 and not is_blank(conn):
        raise Unusable("corrupt", "it holds tables but no schema version")
    if version == newest():
        require_schema(conn)
    return version


def migrate(conn: sqlite3.Connection) -> bool:
    """Run each migration still due, one transaction per step, then check the result; True
    when the store was scrubbed of what an older version computed from secret values (the
    caller then removes STALE_FILES).

    `conn` is in autocommit mode (isolation_level None) and may be shared with other
    processes: each step re-reads the version under the write lock.
    """
    version = user_version(conn)
    scrubbing = 0 < version < _SCRUB_AFTER <= newest()  # a store made now holds nothing old
    while version < newest():
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = user_version(conn)
            if version < newest():
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(f"PRAGMA user_version = {version:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    if scrubbing:
        scrub(conn)
    require_schema(conn)
    return scrubbing


def require_schema(conn: sqlite3.Connection) -> None:
    for table, columns in _EXPECTED_COLUMNS.items():
        have = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise Unusable("corrupt", f"its table {table} is missing")
        if missing := columns - have:
            raise Unusable("corrupt", f"its table {table} lacks {', '.join(sorted(missing))}")
