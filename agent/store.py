"""The agent's durable state: findings, snoozes, events and notifications, in SQLite.

One file, ``<state_dir>/store.db`` (folder 0700, files 0600), in WAL mode. ``PRAGMA
user_version`` is the schema version; ``MIGRATIONS`` holds one step per version and each
step runs in its own transaction, so a newer schema is one appended function.

Only what a check chose to show a person is kept (subject, message, advice); a finding's
``evidence`` is never written. A store that cannot be read, or that a newer version wrote,
is moved aside (never deleted) and a fresh one is started. Anything the disk or another
process refuses surfaces as ``StoreError``: one sentence, no traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal

from agent.errors import AgentError
from agent.fingerprint import ensure_private_dir, unusable_state_folder
from agent.models import CheckResult, Finding, Severity, Status

log = logging.getLogger(__name__)

STORE_FILE = "store.db"
SIDE_FILES = ("-wal", "-shm", "-journal")
DETAIL_MAX = 200
_SQLITE_MAGIC = b"SQLite format 3\x00"

# Primary SQLite result codes (the low byte of an extended code).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_NOMEM = 7
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_PERM = 3
_SQLITE_NOTADB = 26
_DAMAGED = (_SQLITE_CORRUPT, _SQLITE_NOTADB)


class StoreError(AgentError):
    """The store cannot be read or written (full disk, read-only, locked); one sentence."""


class _Unusable(Exception):
    """The file at the store's path is not a store this version can use."""

    def __init__(self, kind: Literal["corrupt", "newer"], reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True)
class FindingState:
    id: str
    check: str
    subject: str
    severity: Severity
    message: str
    advice: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    snoozed_until: datetime | None  # the later of an active check- and finding-level snooze
    times_notified: int
    last_notified: datetime | None


@dataclass(frozen=True)
class CheckState:
    id: str
    last_run: datetime
    status: Status
    error: str | None


@dataclass(frozen=True)
class Change:
    kind: Literal["appeared", "changed", "resolved"]
    finding: FindingState


@dataclass(frozen=True)
class NotificationRecord:
    id: int
    at: datetime
    check: str
    kind: str
    title: str
    body: str
    urgency: str
    backend: str
    delivered: bool
    reason: str | None
    server_id: int | None
    finding_ids: tuple[str, ...]
    response: str | None = None  # "snoozed it for 1d", "opened the details", "dismissed it"
    response_at: datetime | None = None


@dataclass(frozen=True)
class TrustedNetwork:
    fingerprint: str  # keyed: the network's name or gateway address cannot be read back
    kind: str  # "Wi-Fi" or "wired": what the fingerprint was made of
    label: str
    added_at: datetime


@dataclass(frozen=True)
class CachedPath:
    """One path a scan looked at: its stat signature (device, inode, size, mtime_ns; None when
    it was not there) and, for a file that was read, what was found in it."""

    path: str
    signature: tuple[int, int, int, int] | None
    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    target: str
    detail: str


# --- schema ---------------------------------------------------------------------------


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


Migration = Callable[[sqlite3.Connection], None]

# MIGRATIONS[n] takes a store from version n to n + 1. Append; never edit a released step.
MIGRATIONS: tuple[Migration, ...] = (_v0_to_v1, _v1_to_v2, _v2_to_v3, _v3_to_v4)

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
        }
    ),
    "checks": frozenset({"id", "first_seen", "last_seen", "last_status", "last_error"}),
    "trusted_networks": frozenset({"fingerprint", "kind", "label", "added_at"}),
    "scan_cache": frozenset(
        {"scanner", "path", "device", "inode", "size", "mtime_ns", "version", "record"}
    ),
    "snoozes": frozenset({"target", "until", "created_at"}),
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


# --- the store ------------------------------------------------------------------------


class Store:
    """The agent's state in ``<state_dir>/store.db``. Open with ``Store.open(state_dir)``."""

    SCHEMA_VERSION: ClassVar[int] = len(MIGRATIONS)
    # Seconds to wait for another process (the agent, a CLI command) to finish writing.
    BUSY_TIMEOUT: ClassVar[float] = 5.0

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        """Open (creating or migrating) the store; set an unusable file aside first."""
        path = Path(state_dir).absolute() / STORE_FILE
        try:
            ensure_private_dir(path.parent)
        except OSError as err:
            raise StoreError(unusable_state_folder(path.parent, err)) from None
        for attempt in range(2):
            try:
                return cls(path, _connect(path))
            except _Unusable as unusable:
                if attempt:
                    break
                aside = _set_aside(path, unusable.kind)
                if unusable.kind == "newer":
                    log.warning(
                        "The store %s was written by a newer version of hygiene-agent (%s), "
                        "so it was moved to %s and a fresh store was started.",
                        path,
                        unusable.reason,
                        aside,
                    )
                else:
                    log.warning(
                        "The store %s could not be used (%s), so it was moved to %s "
                        "and a fresh store was started.",
                        path,
                        unusable.reason,
                        aside,
                    )
        raise StoreError(f"A fresh store could not be started at {path}.")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # --- findings -----------------------------------------------------------------------

    def record_results(self, results: Sequence[CheckResult], now: datetime) -> list[Change]:
        """Bring the findings of every passed or failed check up to date; one transaction.

        A result with status error or skip says nothing about its findings, which are
        left as they were.
        """
        stamp = _ts(now)
        changes: list[Change] = []
        with self._write("save the check results to"):
            snoozes = self._active_snoozes(now)
            for result in results:
                self._touch_check(result.check, result.status, result.error, stamp)
                if result.status not in (Status.passed, Status.fail):
                    continue
                present: dict[str, Finding] = {f.id: f for f in result.findings}
                for finding in present.values():
                    kind = self._upsert(result, finding, stamp)
                    if kind is not None:
                        changes.append(Change(kind, self._state(finding.id, snoozes)))
                rows = self._conn.execute(
                    "SELECT id FROM findings WHERE check_id = ? AND resolved_at IS NULL "
                    "ORDER BY first_seen, id",
                    (result.check,),
                ).fetchall()
                for (finding_id,) in rows:
                    if finding_id in present:
                        continue
                    self._conn.execute(
                        "UPDATE findings SET resolved_at = ? WHERE id = ?", (stamp, finding_id)
                    )
                    state = self._state(str(finding_id), snoozes)
                    self._event(stamp, "resolved", state.id, state.check, state.subject)
                    changes.append(Change("resolved", state))
        return changes

    def current(self, now: datetime) -> list[FindingState]:
        """Unresolved findings: most severe first, then the oldest first."""
        with self._read("read the current findings in"):
            snoozes = self._active_snoozes(now)
            rows = self._conn.execute(
                "SELECT id, check_id, subject, severity, message, advice, first_seen, last_seen, "
                "resolved_at, times_notified, last_notified FROM findings "
                "WHERE resolved_at IS NULL"
            ).fetchall()
        states = [_finding_state(row, snoozes) for row in rows]
        states.sort(key=lambda s: (-s.severity.rank, s.first_seen, s.id))
        return states

    def checks(self) -> list[CheckState]:
        """Each check the agent has run: how it went last time, by check id."""
        with self._read("read the checks in"):
            rows = self._conn.execute(
                "SELECT id, last_seen, last_status, last_error FROM checks ORDER BY id"
            ).fetchall()
        return [
            CheckState(
                id=str(check_id),
                last_run=_parse(last_seen),
                status=Status(str(status)),
                error=None if error is None else str(error),
            )
            for check_id, last_seen, status, error in rows
        ]

    def get(self, finding_id: str, now: datetime) -> FindingState | None:
        with self._read("read a finding in"):
            return self._state_or_none(finding_id, self._active_snoozes(now))

    def known_target(self, target: str) -> bool:
        """True for a finding id or a check id this store has ever seen."""
        with self._read("look up a check or finding in"):
            row = self._conn.execute(
                "SELECT EXISTS (SELECT 1 FROM findings WHERE id = ? OR check_id = ?) "
                "OR EXISTS (SELECT 1 FROM checks WHERE id = ?)",
                (target, target, target),
            ).fetchone()
        return bool(row[0])

    # --- snoozes ------------------------------------------------------------------------

    def snooze(self, target: str, until: datetime, now: datetime) -> None:
        """Snooze a check id or a finding id until `until`, replacing an earlier snooze."""
        stamp, until_stamp = _ts(now), _ts(until)
        with self._write("save a snooze in"):
            self._conn.execute(
                "INSERT INTO snoozes (target, until, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (target) DO UPDATE SET until = excluded.until, "
                "created_at = excluded.created_at",
                (target, until_stamp, stamp),
            )
            self._event(stamp, "snoozed", target, self._check_of(target), f"until {until_stamp}")

    def unsnooze(self, target: str, now: datetime) -> bool:
        """Lift a snooze; False when the target was not snoozed (an expired one is dropped)."""
        stamp = _ts(now)
        with self._write("lift a snooze in"):
            row = self._conn.execute(
                "SELECT until FROM snoozes WHERE target = ?", (target,)
            ).fetchone()
            if row is None:
                return False
            self._conn.execute("DELETE FROM snoozes WHERE target = ?", (target,))
            if str(row[0]) <= stamp:
                return False
            self._event(stamp, "unsnoozed", target, self._check_of(target), "")
        return True

    def snoozes(self, now: datetime) -> dict[str, datetime]:
        """Active snoozes: target -> until."""
        with self._read("read the snoozes in"):
            return self._active_snoozes(now)

    # --- notifications ------------------------------------------------------------------

    def record_notification(
        self,
        *,
        at: datetime,
        check: str,
        kind: str,
        title: str,
        body: str,
        urgency: str,
        backend: str,
        delivered: bool,
        reason: str | None,
        server_id: int | None,
        finding_ids: Sequence[str],
    ) -> NotificationRecord:
        """Log a notification (delivered or not) and count it against its findings."""
        stamp = _ts(at)
        ids = tuple(finding_ids)
        with self._write("save a notification to"):
            cursor = self._conn.execute(
                "INSERT INTO notifications (at, check_id, kind, title, body, urgency, backend, "
                "delivered, reason, server_id, finding_ids) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stamp,
                    check,
                    kind,
                    title,
                    body,
                    urgency,
                    backend,
                    int(delivered),
                    reason,
                    server_id,
                    json.dumps(list(ids)),
                ),
            )
            record_id = cursor.lastrowid
            event = "notified" if delivered else "delivery failed"
            detail = f"{kind} via {backend}" if delivered else f"{kind} via {backend}: {reason}"
            for target in ids or (check,):
                self._event(stamp, event, target, check, detail)
            if delivered and ids:
                self._conn.executemany(
                    "UPDATE findings SET times_notified = times_notified + 1, last_notified = ? "
                    "WHERE id = ?",
                    [(stamp, finding_id) for finding_id in ids],
                )
        if record_id is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise StoreError(f"The store {self.path} did not number a new notification.")
        return NotificationRecord(
            id=record_id,
            at=_parse(stamp),
            check=check,
            kind=kind,
            title=title,
            body=body,
            urgency=urgency,
            backend=backend,
            delivered=delivered,
            reason=reason,
            server_id=server_id,
            finding_ids=ids,
        )

    def notifications(self, limit: int | None = None) -> list[NotificationRecord]:
        """The notification log, newest first."""
        count = -1 if limit is None else max(limit, 0)  # LIMIT -1: no limit
        with self._read("read the notification log in"):
            rows = self._conn.execute(
                _SELECT_NOTIFICATIONS + "ORDER BY at DESC, id DESC LIMIT ?",
                (count,),
            ).fetchall()
        return [_notification(row) for row in rows]

    def delivered_since(self, since: datetime) -> int:
        """How many notifications were delivered at or after `since`."""
        with self._read("count the notifications in"):
            row = self._conn.execute(
                "SELECT count(*) FROM notifications WHERE delivered = 1 AND at >= ?",
                (_ts(since),),
            ).fetchone()
        return int(row[0])

    def last_server_id(self, check: str) -> int | None:
        """The server's id of the newest delivered notification of `check` that has one."""
        with self._read("read the notification log in"):
            row = self._conn.execute(
                "SELECT server_id FROM notifications "
                "WHERE check_id = ? AND delivered = 1 AND server_id IS NOT NULL "
                "ORDER BY at DESC, id DESC LIMIT 1",
                (check,),
            ).fetchone()
        return None if row is None else int(row[0])

    def by_server_id(self, backend: str, server_id: int) -> NotificationRecord | None:
        """The newest notification the server numbered `server_id` (servers reuse ids)."""
        with self._read("read the notification log in"):
            row = self._conn.execute(
                _SELECT_NOTIFICATIONS + "WHERE backend = ? AND server_id = ? AND delivered = 1 "
                "ORDER BY at DESC, id DESC LIMIT 1",
                (backend, server_id),
            ).fetchone()
        return None if row is None else _notification(row)

    def record_response(self, record: NotificationRecord, response: str, now: datetime) -> None:
        """What the person did with a notification; the first answer is the one kept."""
        stamp = _ts(now)
        with self._write("save your answer to a notification in"):
            cursor = self._conn.execute(
                "UPDATE notifications SET response = ?, response_at = ? "
                "WHERE id = ? AND response IS NULL",
                (response, stamp, record.id),
            )
            if cursor.rowcount:
                for target in record.finding_ids or (record.check,):
                    self._event(stamp, "answered", target, record.check, response)

    # --- history ------------------------------------------------------------------------

    def events(self, target: str | None = None) -> list[Event]:
        """The history, oldest first; for a check id, also the events of its findings."""
        query = "SELECT at, kind, target, detail FROM events"
        params: tuple[str, ...] = ()
        if target is not None:
            query += " WHERE target = ? OR check_id = ?"
            params = (target, target)
        with self._read("read the history in"):
            rows = self._conn.execute(query + " ORDER BY seq", params).fetchall()
        return [Event(_parse(at), str(kind), str(tgt), str(det)) for at, kind, tgt, det in rows]

    # --- trusted networks ---------------------------------------------------------------

    def trust_network(self, network: TrustedNetwork) -> None:
        with self._write("save the trusted network to"):
            self._conn.execute(
                "INSERT INTO trusted_networks (fingerprint, kind, label, added_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET "
                "label = excluded.label",
                (network.fingerprint, network.kind, network.label, _ts(network.added_at)),
            )

    def untrust_network(self, fingerprint: str | None = None, label: str | None = None) -> int:
        """Forget the networks with this fingerprint or label; how many there were."""
        with self._write("forget the trusted network in"):
            done = self._conn.execute(
                "DELETE FROM trusted_networks WHERE fingerprint = ? OR label = ?",
                (fingerprint, label),
            )
        return int(done.rowcount)

    def trusted_networks(self) -> list[TrustedNetwork]:
        with self._read("read the trusted networks in"):
            rows = self._conn.execute(
                "SELECT fingerprint, kind, label, added_at FROM trusted_networks ORDER BY added_at"
            ).fetchall()
        return [TrustedNetwork(str(f), str(k), str(lb), _parse(at)) for f, k, lb, at in rows]

    # --- scan cache ---------------------------------------------------------------------

    def scan_cache(self, scanner: str, version: str) -> list[CachedPath]:
        """What `scanner` (at `version`) saw last time; empty when it was another version."""
        with self._read("read the scan cache in"):
            rows = self._conn.execute(
                "SELECT path, device, inode, size, mtime_ns, record FROM scan_cache "
                "WHERE scanner = ? AND version = ?",
                (scanner, version),
            ).fetchall()
        cached = []
        for path, device, inode, size, mtime_ns, record in rows:
            signature = None
            if device is not None:
                signature = (int(device), _unsigned(int(inode)), int(size), int(mtime_ns))
            try:
                loaded = json.loads(record) if record is not None else None
            except ValueError:
                continue  # a damaged row is a file read again, nothing worse
            cached.append(CachedPath(str(path), signature, loaded))
        return cached

    def keep_scan_cache(self, scanner: str, version: str, paths: Sequence[CachedPath]) -> None:
        """Replace what `scanner` saw with `paths`, in one transaction."""
        with self._write("save the scan cache to"):
            self._conn.execute("DELETE FROM scan_cache WHERE scanner = ?", (scanner,))
            self._conn.executemany(
                "INSERT INTO scan_cache (scanner, path, device, inode, size, mtime_ns, version, "
                "record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        scanner,
                        p.path,
                        *(_signed(v) for v in p.signature or (None, None, None, None)),
                        version,
                        None if p.record is None else json.dumps(p.record, sort_keys=True),
                    )
                    for p in paths
                ],
            )

    # --- internals ----------------------------------------------------------------------

    @contextmanager
    def _write(self, action: str) -> Iterator[None]:
        """One write transaction; any SQLite failure rolls it back and becomes StoreError."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise _store_error(self.path, action, err) from None

    @contextmanager
    def _read(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            raise _store_error(self.path, action, err) from None

    def _touch_check(self, check: str, status: Status, error: str | None, stamp: str) -> None:
        self._conn.execute(
            "INSERT INTO checks (id, first_seen, last_seen, last_status, last_error) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, "
            "last_status = excluded.last_status, last_error = excluded.last_error",
            (check, stamp, stamp, status.value, error),
        )

    def _upsert(
        self, result: CheckResult, finding: Finding, stamp: str
    ) -> Literal["appeared", "changed"] | None:
        # Only what a person is shown is kept; `finding.evidence` is never written.
        severity = (finding.severity or result.severity).value
        row = self._conn.execute(
            "SELECT severity, message, advice, resolved_at FROM findings WHERE id = ?",
            (finding.id,),
        ).fetchone()
        if row is None or row[3] is not None:
            # New, or back after being resolved: a fresh occurrence, not yet told to anyone.
            self._conn.execute(
                "INSERT INTO findings (id, check_id, subject, severity, message, advice, "
                "first_seen, last_seen, resolved_at, times_notified, last_notified) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL) "
                "ON CONFLICT (id) DO UPDATE SET check_id = excluded.check_id, "
                "subject = excluded.subject, severity = excluded.severity, "
                "message = excluded.message, advice = excluded.advice, "
                "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
                "resolved_at = NULL, times_notified = 0, last_notified = NULL",
                (
                    finding.id,
                    result.check,
                    finding.subject,
                    severity,
                    finding.message,
                    finding.advice,
                    stamp,
                    stamp,
                ),
            )
            self._event(
                stamp, "appeared", finding.id, result.check, f"{severity}: {finding.subject}"
            )
            return "appeared"
        old_severity, old_message, old_advice = str(row[0]), str(row[1]), str(row[2])
        self._conn.execute(
            "UPDATE findings SET check_id = ?, subject = ?, severity = ?, message = ?, "
            "advice = ?, last_seen = ? WHERE id = ?",
            (
                result.check,
                finding.subject,
                severity,
                finding.message,
                finding.advice,
                stamp,
                finding.id,
            ),
        )
        what = []
        if old_severity != severity:
            what.append(f"severity {old_severity} -> {severity}")
        if old_message != finding.message:
            what.append("message")
        if old_advice != finding.advice:
            what.append("advice")
        if not what:
            return None
        self._event(stamp, "changed", finding.id, result.check, ", ".join(what))
        return "changed"

    def _event(self, stamp: str, kind: str, target: str, check: str | None, detail: str) -> None:
        if len(detail) > DETAIL_MAX:
            detail = detail[: DETAIL_MAX - 1] + "…"
        self._conn.execute(
            "INSERT INTO events (at, kind, target, check_id, detail) VALUES (?, ?, ?, ?, ?)",
            (stamp, kind, target, check, detail),
        )

    def _check_of(self, target: str) -> str | None:
        row = self._conn.execute("SELECT check_id FROM findings WHERE id = ?", (target,)).fetchone()
        return None if row is None else str(row[0])

    def _active_snoozes(self, now: datetime) -> dict[str, datetime]:
        rows = self._conn.execute(
            "SELECT target, until FROM snoozes WHERE until > ?", (_ts(now),)
        ).fetchall()
        return {str(target): _parse(until) for target, until in rows}

    def _state_or_none(self, finding_id: str, snoozes: dict[str, datetime]) -> FindingState | None:
        row = self._conn.execute(
            "SELECT id, check_id, subject, severity, message, advice, first_seen, last_seen, "
            "resolved_at, times_notified, last_notified FROM findings WHERE id = ?",
            (finding_id,),
        ).fetchone()
        return None if row is None else _finding_state(row, snoozes)

    def _state(self, finding_id: str, snoozes: dict[str, datetime]) -> FindingState:
        state = self._state_or_none(finding_id, snoozes)
        if state is None:  # pragma: no cover - only called for rows written in this transaction
            raise StoreError(f"The store {self.path} lost finding {finding_id} while writing it.")
        return state


# --- opening, checking, setting aside -------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to a usable, current store at `path`; raises _Unusable or StoreError."""
    _open_for_writing(path)
    _tighten(path)
    try:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except OSError as err:
        raise StoreError(f"The store {path} cannot be read: {_os_reason(err)}.") from None
    if head and head != _SQLITE_MAGIC:
        raise _Unusable("corrupt", "it is not an SQLite database")
    try:
        # mode=rw: never let SQLite create the file; _open_for_writing made it, 0600.
        conn = sqlite3.connect(
            f"{path.as_uri()}?mode=rw",
            uri=True,
            timeout=Store.BUSY_TIMEOUT,
            isolation_level=None,
        )
    except sqlite3.Error as err:
        raise _store_error(path, "open", err) from None
    try:
        _prepare(conn)
    except sqlite3.Error as err:
        conn.close()
        if _code(err) in _DAMAGED:
            raise _Unusable("corrupt", f"SQLite says: {err}") from None
        raise _store_error(path, "open", err) from None
    except BaseException:
        conn.close()
        raise
    for suffix in SIDE_FILES:
        _tighten(path.with_name(path.name + suffix))
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    """Check the file, switch to WAL and run any migrations still due."""
    check = conn.execute("PRAGMA quick_check").fetchall()
    if [tuple(row) for row in check] != [("ok",)]:
        raise _Unusable("corrupt", f"its integrity check failed: {check[0][0]}")
    version = _user_version(conn)
    if version > Store.SCHEMA_VERSION:
        raise _Unusable("newer", f"schema {version}, this version knows {Store.SCHEMA_VERSION}")
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise _Unusable("corrupt", "it holds tables but no schema version")
    if version > 0:
        _require_schema(conn, version)
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL mode (still {mode})")
    # NORMAL in WAL: a commit is in the WAL before COMMIT returns, so it survives the
    # process being killed; only a power cut can take back the latest transactions.
    conn.execute("PRAGMA synchronous = NORMAL")
    while version < Store.SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = _user_version(conn)
            if version < Store.SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
                conn.execute(f"PRAGMA user_version = {version:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    _require_schema(conn, version)


def _require_schema(conn: sqlite3.Connection, version: int) -> None:
    if version != Store.SCHEMA_VERSION:
        return  # an older store: its migrations will bring it up to date
    for table, columns in _EXPECTED_COLUMNS.items():
        have = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise _Unusable("corrupt", f"its table {table} is missing")
        if missing := columns - have:
            raise _Unusable("corrupt", f"its table {table} lacks {', '.join(sorted(missing))}")


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _set_aside(path: Path, kind: str) -> Path:
    """Rename the store (and its WAL/SHM) to store.db.<kind>-<UTC time>; never overwrite."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = f"{path.name}.{kind}-{stamp}"
    aside = path.with_name(base)
    n = 1
    while any(
        p.exists() or p.is_symlink()
        for p in [aside, *(aside.with_name(aside.name + s) for s in SIDE_FILES)]
    ):
        n += 1
        aside = path.with_name(f"{base}-{n}")
    try:
        # Side files first: a WAL left next to a fresh store.db would be replayed into it.
        for suffix in SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(aside.with_name(aside.name + suffix))
        path.rename(aside)
    except OSError as err:
        raise StoreError(
            f"The unusable store {path} cannot be moved aside: {_os_reason(err)}."
        ) from None
    return aside


def _open_for_writing(path: Path) -> None:
    """Create the file 0600 if missing, and make sure we may write it.

    SQLite quietly falls back to read-only on a file it may not write; an agent whose
    every write fails later is worse than one clear error now.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise StoreError(
            f"The store {path} cannot be opened for writing: {_os_reason(err)}."
        ) from None
    os.close(fd)


def _tighten(path: Path) -> None:
    """Take away group and other access (a read-only file stays read-only)."""
    if os.name != "posix":
        return
    try:
        mode = path.stat().st_mode & 0o7777
        if mode & 0o077:
            path.chmod(mode & 0o7700)
    except OSError:
        # Gone meanwhile, or not ours; the 0700 folder still keeps others out.
        pass


# --- errors ---------------------------------------------------------------------------


def _code(err: sqlite3.Error) -> int:
    return int(getattr(err, "sqlite_errorcode", -1) or -1) & 0xFF


def _store_error(path: Path, action: str, err: sqlite3.Error) -> StoreError:
    code = _code(err)
    if code == _SQLITE_FULL:
        why = "the disk is full"
    elif code == _SQLITE_READONLY:
        why = "the file or its folder is read-only"
    elif code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        why = "another process is holding it locked; try again shortly"
    elif code in (_SQLITE_CANTOPEN, _SQLITE_PERM):
        why = "the file or its folder cannot be opened for writing (check its permissions)"
    elif code == _SQLITE_IOERR:
        why = "the disk reported an input/output error"
    elif code == _SQLITE_NOMEM:
        why = "the system is out of memory"
    elif code in _DAMAGED:
        why = "the file is damaged and will be set aside when the agent next starts"
    else:
        why = str(err).rstrip(".").replace("\n", " ") or type(err).__name__
    return StoreError(f"Cannot {action} the store {path}: {why}.")


def _os_reason(err: OSError) -> str:
    return (err.strerror or str(err)).rstrip(".").lower()


# --- conversions ----------------------------------------------------------------------


def _signed(value: int | None) -> int | None:
    # SQLite integers are signed 64-bit; some file systems use all 64 bits of an inode number.
    if value is not None and value >= 1 << 63:
        return value - (1 << 64)
    return value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _ts(moment: datetime) -> str:
    """ISO-8601 UTC text of one fixed width, so text order is time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the store keeps timezone-aware times only, not {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse(text: object) -> datetime:
    return datetime.fromisoformat(str(text)).astimezone(UTC)


def _parse_optional(text: object) -> datetime | None:
    return None if text is None else _parse(text)


def _finding_state(row: tuple[object, ...], snoozes: dict[str, datetime]) -> FindingState:
    (
        finding_id,
        check,
        subject,
        severity,
        message,
        advice,
        first_seen,
        last_seen,
        resolved_at,
        times_notified,
        last_notified,
    ) = row
    until = [t for t in (snoozes.get(str(check)), snoozes.get(str(finding_id))) if t is not None]
    return FindingState(
        id=str(finding_id),
        check=str(check),
        subject=str(subject),
        severity=Severity(str(severity)),
        message=str(message),
        advice=str(advice),
        first_seen=_parse(first_seen),
        last_seen=_parse(last_seen),
        resolved_at=_parse_optional(resolved_at),
        snoozed_until=max(until) if until else None,
        times_notified=int(str(times_notified)),
        last_notified=_parse_optional(last_notified),
    )


_SELECT_NOTIFICATIONS = (
    "SELECT id, at, check_id, kind, title, body, urgency, backend, delivered, reason, "
    "server_id, finding_ids, response, response_at FROM notifications "
)


def _notification(row: tuple[object, ...]) -> NotificationRecord:
    (
        record_id,
        at,
        check,
        kind,
        title,
        body,
        urgency,
        backend,
        delivered,
        reason,
        server_id,
        finding_ids,
        response,
        response_at,
    ) = row
    ids = json.loads(str(finding_ids))
    return NotificationRecord(
        id=int(str(record_id)),
        at=_parse(at),
        check=str(check),
        kind=str(kind),
        title=str(title),
        body=str(body),
        urgency=str(urgency),
        backend=str(backend),
        delivered=bool(delivered),
        reason=None if reason is None else str(reason),
        server_id=None if server_id is None else int(str(server_id)),
        finding_ids=tuple(str(i) for i in ids),
        response=None if response is None else str(response),
        response_at=_parse_optional(response_at),
    )
