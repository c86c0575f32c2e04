"""Audit results for the tools admins already run: osquery, log shippers and Prometheus.

Three local files, rewritten after each audit cycle, that other programs on the machine
read; nothing is sent anywhere by the agent itself (docs/fleet.md has the layouts and
ready-to-paste configuration):

- ``hygiene.db``: a small SQLite database of its own (not the agent's store) for osquery's
  auto_table_construction, in WAL mode so that osquery can read while a cycle is written.
- ``events.jsonl``: one JSON object per line for each check whose status or finding count
  changed, rotated by size for Fluent Bit, Vector or Wazuh's logcollector.
- ``hygiene-<uid>.prom``: gauges for node_exporter's textfile collector, replaced
  atomically; one file per person on a shared computer, named by numeric uid.

Besides each check's status, every output says what the agent itself is: its version, a
heartbeat (the time of its last cycle, so that a stopped agent is a query away), the policy
layers in force (name, revision, hash, signing key) and what was refused or not written.

By default only each check's status and counts leave: no subject, path, message or host
name. An admin policy may ask for details (``details=True``), which adds finding subjects
and messages to the SQLite file and subjects to the JSON lines, never to Prometheus.
``reported_fields`` lists exactly what leaves, for ``hygiene checks``. A finding's evidence
is never written anywhere. Failures surface as ``FleetError``: one sentence, no traceback.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sqlite3
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType

from agent import sqlite_codes as sq
from agent.errors import AgentError
from agent.files import write_whole
from agent.models import CheckResult, Severity, Status
from agent.policy_settings import LayerInfo
from agent.text import printable

if sys.platform != "win32":
    import fcntl

REPORT_FOLDER = "report"
SQLITE_FILE = "hygiene.db"
EVENTS_FILE = "events.jsonl"
PROM_FILE = "hygiene.prom"  # layout 1's one file per folder; removed when it is this user's

# The layout's version: in PRAGMA user_version and meta, and in each JSON lines event and
# hygiene_agent_info; bump it with the docs.
LAYOUT_VERSION = 2
PRODUCER = "hygiene-agent"

DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_KEEP = 3
# Seconds write_sqlite keeps retrying while another process holds the database locked.
DEFAULT_LOCK_TIMEOUT = 10.0

# Less free space than this, and an I/O error from SQLite means the disk is full.
_NEARLY_FULL = 64 * 1024

# A JSON lines "agent" event goes out when what it says changes, and at least this often.
AGENT_EVENT_EVERY = timedelta(hours=1)

SKIP_REASONS = ("not_applicable", "disabled_by_user", "disabled_by_admin", "excepted")
PROBLEM_KINDS = ("rejected", "pull_failed", "user_file_refused", "report_failed")

_HYGIENE_COLUMNS = (
    "check_id",
    "status",
    "skip_reason",
    "severity",
    "findings",
    "excepted",
    "excepted_until",
    "notes",
    "updated_at",
    "updated_at_unix",
)
_AGENT_COLUMNS = (
    "version",
    "uid",
    "heartbeat_at",
    "heartbeat_at_unix",
    "policy_name",
    "policy_revision",
    "problems",
)
_LAYER_COLUMNS = ("position", "level", "source", "name", "revision", "sha256", "signer")
_PROBLEM_COLUMNS = ("kind", "sentence")
_FINDINGS_COLUMNS = ("check_id", "finding_id", "subject", "severity", "message")
_META_KEYS = ("producer", "layout", "details", "updated_at")
_EVENT_FIELDS = (
    "event",
    "time",
    "host",
    "check",
    "status",
    "skip_reason",
    "severity",
    "findings",
    "excepted",
    "excepted_until",
    "previous_status",
)
_AGENT_EVENT_FIELDS = ("event", "time", "host", "layout", *_AGENT_COLUMNS[:2], "policy", "problems")


@dataclass(frozen=True)
class AgentFacts:
    """What the reports say about the agent itself. `layers`: the policy layers in force,
    lowest first, with a person's own files already stripped of their path; `problems`:
    (kind, sentence or None), kind one of PROBLEM_KINDS, sentences free of the home folder."""

    version: str
    uid: int | None
    policy_name: str
    policy_revision: int
    layers: Sequence[LayerInfo] = ()
    problems: Sequence[tuple[str, str | None]] = field(default_factory=list)

    def said(self) -> tuple[object, ...]:
        """What an "agent" event says, to tell when it changed."""
        return (self.version, self.uid, tuple(self.layers), tuple(self.problems))


class FleetError(AgentError):
    """A fleet output cannot be written (full disk, unwritable folder, held locked)."""


def report_dir(state_dir: Path) -> Path:
    """Where the three outputs go by default: ``<state_dir>/report``."""
    return state_dir / REPORT_FOLDER


def reported_fields(details: bool, *, host: bool = False) -> dict[str, list[str]]:
    """For each output, the fields that leave this process: what `hygiene checks` shows.
    `host`: the admin policy names a host for the JSON lines."""
    sqlite_fields = [f"hygiene.{column}" for column in _HYGIENE_COLUMNS]
    sqlite_fields += [f"hygiene_agent.{column}" for column in _AGENT_COLUMNS]
    sqlite_fields += [f"hygiene_policy.{column}" for column in _LAYER_COLUMNS]
    sqlite_fields += [f"hygiene_problems.{column}" for column in _PROBLEM_COLUMNS]
    sqlite_fields += [f"meta.{key}" for key in _META_KEYS]
    event_fields = [f for f in _EVENT_FIELDS if host or f != "host"]
    event_fields += [f for f in _AGENT_EVENT_FIELDS if f not in _EVENT_FIELDS]
    if details:
        sqlite_fields += [f"hygiene_findings.{column}" for column in _FINDINGS_COLUMNS]
        event_fields.append("subjects")
    return {
        "osquery SQLite": sqlite_fields,
        "JSON lines": event_fields,
        "Prometheus": [f"{name}{{{','.join(labels)}}}" for name, labels in _PROM_SERIES],
    }


# --- osquery: SQLite --------------------------------------------------------------------


class SqliteReport:
    """The osquery report, kept open from one cycle to the next.

    A connection held open means the write-ahead log is never checkpointed and removed on
    close; that moment is the only one at which a reader without a busy timeout (osquery's
    ATC sets none) is turned away with "database is locked". The background agent keeps
    one of these for its lifetime; a single audit can call `write_sqlite`. Not for use by
    two threads at the same time.
    """

    def __init__(self, path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    def write(
        self,
        results: Sequence[CheckResult],
        at: datetime,
        details: bool,
        agent: AgentFacts | None = None,
    ) -> None:
        """Replace every row (of ``hygiene``, the agent's tables, and ``hygiene_findings``
        with details) in one transaction; a database held locked by another process is
        retried for `lock_timeout` seconds. A check reported twice keeps its last result.
        `at` is the heartbeat as well as the audit's time."""
        stamp, unix = _stamp(at), _unix(at)
        latest = _latest(results)

        def replace(conn: sqlite3.Connection) -> bool:
            _replace_rows(
                conn,
                self.path,
                latest=latest,
                stamp=stamp,
                unix=unix,
                details=details,
                agent=agent,
            )
            return True

        self._retried(replace)

    def beat(self, at: datetime) -> bool:
        """Only the heartbeat, in the rows the last `write` made: one small UPDATE. False
        when there is nothing to update (not written yet by this object, or the file was
        removed or replaced meanwhile): then `write` it whole."""
        if self._conn is None or not self._same_file():
            return False

        def update(conn: sqlite3.Connection) -> bool:
            done = conn.execute(
                "UPDATE hygiene_agent SET heartbeat_at = ?, heartbeat_at_unix = ?",
                (_stamp(at), _unix(at)),
            )
            return done.rowcount == 1

        return self._retried(update)

    def _retried(self, work: Callable[[sqlite3.Connection], bool]) -> bool:
        """`work` on the connection, retried for `lock_timeout` seconds while another
        process holds the database locked; any failure is one FleetError sentence."""
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                conn = self._connection()
                remaining = max(0.1, deadline - time.monotonic())
                conn.execute(f"PRAGMA busy_timeout = {int(remaining * 1000):d}")
                return work(conn)
            except sqlite3.Error as err:
                self.close()
                if sq.primary(err) in (sq.BUSY, sq.LOCKED) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise _sqlite_error(self.path, err, self.lock_timeout) from None
            except OSError as err:
                self.close()
                raise FleetError(
                    f"Cannot write the osquery report {self.path}: {_reason(err)}."
                ) from None
            except BaseException:
                self.close()
                raise

    def _same_file(self) -> bool:
        try:
            info = self.path.stat()
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def close(self) -> None:
        if self._conn is not None:
            with suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
        self._identity = None

    def __enter__(self) -> SqliteReport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteReport({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and not self._same_file():
            # Removed or replaced meanwhile: writing on would go to a file nobody reads.
            self.close()
        if self._conn is None:
            _make_folder(self.path.parent, f"The folder {self.path.parent} for the osquery report")
            existed = _existing_regular(self.path)
            conn = sqlite3.connect(
                f"{self.path.absolute().as_uri()}?mode=rwc",
                uri=True,
                timeout=self.lock_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                if not existed and os.name == "posix":
                    # osquery reads it as root; the folder decides who else may.
                    self.path.chmod(0o644)
                _set_up(conn)
                info = self.path.stat()
            except BaseException:
                conn.close()
                raise
            self._conn, self._identity = conn, (info.st_dev, info.st_ino)
        return self._conn


def write_sqlite(
    path: Path,
    results: Sequence[CheckResult],
    at: datetime,
    details: bool,
    *,
    agent: AgentFacts | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> None:
    """Write one cycle to the osquery report and close it (see `SqliteReport.write`)."""
    with SqliteReport(path, lock_timeout=lock_timeout) as report:
        report.write(results, at, details, agent)


def previous_from_sqlite(path: Path) -> dict[str, tuple[str, int]] | None:
    """The statuses and finding counts the last cycle wrote, for `changes` after a restart;
    None when there is no readable report."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            rows = conn.execute("SELECT check_id, status, findings FROM hygiene").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return {str(check): (str(status), int(count)) for check, status, count in rows}


def _set_up(conn: sqlite3.Connection) -> None:
    # Rows of a dropped details table are zeroed on disk, not just unlinked.
    conn.execute("PRAGMA secure_delete = ON")
    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
    if mode != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL mode (still {mode})")
    conn.execute("PRAGMA synchronous = NORMAL")


def _replace_rows(
    conn: sqlite3.Connection,
    path: Path,
    *,
    latest: Mapping[str, CheckResult],
    stamp: str,
    unix: int,
    details: bool,
    agent: AgentFacts | None,
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        _ensure_layout(conn, path)
        _fill(conn, latest, stamp, unix, details)
        _fill_agent(conn, agent, stamp, unix)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    # An empty WAL keeps no rows a cycle replaced (subjects, once details are turned off).
    # Best effort: while a reader still uses old frames this reports busy, not an error.
    with suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _ensure_layout(conn: sqlite3.Connection, path: Path) -> None:
    """Create the layout in a new file, or rebuild one an older or newer version wrote;
    refuse any other program's database."""
    names = {
        str(name): str(kind)
        for name, kind in conn.execute(
            "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        )
    }
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if names:
        producer = None
        if names.get("meta") == "table":
            row = conn.execute("SELECT value FROM meta WHERE key = 'producer'").fetchone()
            producer = None if row is None else str(row[0])
        if producer != PRODUCER:
            raise FleetError(
                f"Cannot write the osquery report {path}: it is another program's database; "
                "choose another path or remove it."
            )
        if version == LAYOUT_VERSION:
            return
        for name, kind in names.items():
            if kind in ("table", "view"):
                conn.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
    conn.execute(
        """CREATE TABLE hygiene (
            check_id TEXT PRIMARY KEY NOT NULL,
            status TEXT NOT NULL,
            skip_reason TEXT,
            severity TEXT NOT NULL,
            findings INTEGER NOT NULL,
            excepted INTEGER NOT NULL,
            excepted_until TEXT,
            notes INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            updated_at_unix INTEGER NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE hygiene_agent (
            version TEXT NOT NULL,
            uid INTEGER,
            heartbeat_at TEXT NOT NULL,
            heartbeat_at_unix INTEGER NOT NULL,
            policy_name TEXT NOT NULL,
            policy_revision INTEGER NOT NULL,
            problems INTEGER NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE hygiene_policy (
            position INTEGER PRIMARY KEY NOT NULL,
            level TEXT NOT NULL,
            source TEXT,
            name TEXT,
            revision INTEGER,
            sha256 TEXT NOT NULL,
            signer TEXT
        )"""
    )
    conn.execute("CREATE TABLE hygiene_problems (kind TEXT NOT NULL, sentence TEXT)")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
    conn.execute(f"PRAGMA user_version = {LAYOUT_VERSION:d}")


def _fill(
    conn: sqlite3.Connection,
    latest: Mapping[str, CheckResult],
    stamp: str,
    unix: int,
    details: bool,
) -> None:
    conn.execute("DELETE FROM hygiene")
    conn.executemany(
        "INSERT INTO hygiene (check_id, status, skip_reason, severity, findings, excepted, "
        "excepted_until, notes, updated_at, updated_at_unix) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                _clean(r.check),
                r.status.value,
                _skip_reason(r),
                r.severity.value,
                len(r.findings),
                len(r.excepted),
                None if (end := excepted_until(r)) is None else end.isoformat(),
                len(r.notes),
                stamp,
                unix,
            )
            for r in latest.values()
        ],
    )
    if details:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS hygiene_findings (
                check_id TEXT NOT NULL,
                finding_id TEXT NOT NULL,
                subject TEXT NOT NULL,
                severity TEXT NOT NULL,
                message TEXT NOT NULL,
                PRIMARY KEY (check_id, finding_id)
            )"""
        )
        conn.execute("DELETE FROM hygiene_findings")
        conn.executemany(
            "INSERT OR REPLACE INTO hygiene_findings (check_id, finding_id, subject, severity, "
            "message) VALUES (?, ?, ?, ?, ?)",
            [
                (
                    _clean(r.check),
                    _clean(f.id),
                    _clean(f.subject),
                    (f.severity or r.severity).value,
                    _clean(f.message),
                )
                for r in latest.values()
                for f in r.findings
            ],
        )
    else:
        conn.execute("DROP TABLE IF EXISTS hygiene_findings")
    conn.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [
            ("producer", PRODUCER),
            ("layout", str(LAYOUT_VERSION)),
            ("details", "1" if details else "0"),
            ("updated_at", stamp),
        ],
    )


def _fill_agent(conn: sqlite3.Connection, agent: AgentFacts | None, stamp: str, unix: int) -> None:
    conn.execute("DELETE FROM hygiene_agent")
    conn.execute("DELETE FROM hygiene_policy")
    conn.execute("DELETE FROM hygiene_problems")
    if agent is None:
        return
    conn.execute(
        "INSERT INTO hygiene_agent (version, uid, heartbeat_at, heartbeat_at_unix, "
        "policy_name, policy_revision, problems) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            _clean(agent.version),
            agent.uid,
            stamp,
            unix,
            _clean(agent.policy_name),
            agent.policy_revision,
            len(agent.problems),
        ),
    )
    conn.executemany(
        "INSERT INTO hygiene_policy (position, level, source, name, revision, sha256, signer) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(n, *_layer_row(layer)) for n, layer in enumerate(agent.layers)],
    )
    conn.executemany(
        "INSERT INTO hygiene_problems (kind, sentence) VALUES (?, ?)",
        [(kind, None if s is None else _clean(s)) for kind, s in agent.problems],
    )


def _layer_row(layer: LayerInfo) -> tuple[object, ...]:
    source = None if layer.level == "user" else _clean(layer.source)
    name = None if layer.name is None else _clean(layer.name)
    signer = None if layer.signer is None else _clean(layer.signer)
    return (layer.level, source, name, layer.revision, layer.sha256, signer)


def _skip_reason(result: CheckResult) -> str | None:
    if result.status is not Status.skip:
        return None
    return result.skip_reason or "not_applicable"


def excepted_until(result: CheckResult) -> date | None:
    """The soonest end of the exceptions that cover a finding of the check, if any."""
    return min((e.until for e in result.excepted), default=None)


def _existing_regular(path: Path) -> bool:
    """Whether the report database exists; anything but a regular file is refused.

    Only SQLite ever opens the file: closing any other descriptor of it would drop the
    locks SQLite holds on it in this process (SQLite's "How To Corrupt", 2.2), and a FIFO
    would block the open. SQLite itself refuses a file that is not a database."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if not os.access(path.parent, os.W_OK):
            # Said as the other outputs say it, rather than as SQLite's "cannot open".
            raise PermissionError(errno.EACCES, "permission denied", str(path)) from None
        return False
    _require_regular(info)
    return True


def _sqlite_error(path: Path, err: sqlite3.Error, lock_timeout: float) -> FleetError:
    code = sq.primary(err)
    if code in (sq.BUSY, sq.LOCKED):
        return FleetError(
            f"Cannot write the osquery report {path}: another process kept it locked for "
            f"{lock_timeout:g} seconds; the next audit writes it again."
        )
    if code == sq.FULL:
        why = "the disk is full"
    elif code == sq.READONLY:
        why = "the file or its folder is read-only"
    elif code in (sq.CANTOPEN, sq.PERM):
        why = "the file or its folder cannot be opened for writing (check its permissions)"
    elif code == sq.IOERR:
        # A full disk met while growing the WAL index comes back as a plain I/O error.
        full = _free_bytes(path.parent) < _NEARLY_FULL
        why = "the disk is full" if full else "the disk reported an input/output error"
    elif code == sq.NOMEM:
        why = "the system is out of memory"
    elif code == sq.NOTADB:
        why = "it is not an SQLite database; choose another path or remove it"
    elif code == sq.CORRUPT:
        why = "the file is damaged; remove it and the next audit writes a fresh one"
    else:
        why = str(err).rstrip(".").replace("\n", " ") or type(err).__name__
    return FleetError(f"Cannot write the osquery report {path}: {why}.")


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return _NEARLY_FULL


# --- log shippers: JSON lines -----------------------------------------------------------


def snapshot(results: Sequence[CheckResult]) -> dict[str, tuple[str, int]]:
    """Each check's status and finding count: the `previous` of the next `changes` call."""
    return {r.check: (r.status.value, len(r.findings)) for r in _latest(results).values()}


def changes(
    previous: Mapping[str, tuple[str, int]] | None,
    results: Sequence[CheckResult],
    *,
    at: datetime | None = None,
    details: bool = False,
    host: str | None = None,
) -> list[dict[str, object]]:
    """One event per check whose status or finding count differs from `previous`; every
    check when `previous` is None (the first cycle). An event has a "host" only when an
    admin policy names one: a shipper adds the machine's name itself."""
    stamp = _stamp(at or datetime.now(UTC))
    events: list[dict[str, object]] = []
    for result in _latest(results).values():
        now = (result.status.value, len(result.findings))
        before = None if previous is None else previous.get(result.check)
        if previous is not None and before == now:
            continue
        event: dict[str, object] = {"event": "check", "time": stamp}
        if host is not None:
            event["host"] = _clean(host)
        event |= {"check": _clean(result.check), "status": now[0]}
        if (reason := _skip_reason(result)) is not None:
            event["skip_reason"] = reason
        event |= {"severity": result.severity.value, "findings": now[1]}
        if result.excepted:
            end = excepted_until(result)
            event |= {"excepted": len(result.excepted), "excepted_until": str(end)}
        event["previous_status"] = None if before is None else before[0]
        if details:
            event["subjects"] = [_clean(f.subject) for f in result.findings]
        events.append(event)
    return events


def agent_event(agent: AgentFacts, at: datetime, *, host: str | None = None) -> dict[str, object]:
    """The JSON lines event that says what the agent is: written on its first cycle, when
    its version, policy or problems change, and every AGENT_EVENT_EVERY as a heartbeat."""
    event: dict[str, object] = {"event": "agent", "time": _stamp(at)}
    if host is not None:
        event["host"] = _clean(host)
    event |= {
        "layout": LAYOUT_VERSION,
        "version": _clean(agent.version),
        "uid": agent.uid,
        "policy": [
            dict(zip(_LAYER_COLUMNS[1:], _layer_row(layer), strict=True)) for layer in agent.layers
        ],
        "problems": [
            {"kind": kind, "sentence": None if s is None else _clean(s)}
            for kind, s in agent.problems
        ],
    }
    return event


def append_events(
    path: Path,
    events: Sequence[Mapping[str, object]],
    max_bytes: int = DEFAULT_MAX_BYTES,
    keep: int = DEFAULT_KEEP,
) -> None:
    """Append one JSON line per event, in one write and one fsync per batch.

    Before a write would take the file past `max_bytes`, it is renamed to ``<name>.1``
    (``.1`` to ``.2`` and so on, `keep` of them; the oldest is deleted) and a fresh file is
    started: a shipper that follows the name finishes the old file and then reads the new
    one, and every line is whole in exactly one file. A batch larger than `max_bytes` is
    split at line boundaries; a single line larger than it gets a file of its own.
    """
    if max_bytes < 1 or keep < 0:
        raise ValueError(f"max_bytes must be 1 or more and keep 0 or more, not {max_bytes}, {keep}")
    if not events:
        return
    lines = [
        json.dumps(dict(e), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        + b"\n"
        for e in events
    ]
    _make_folder(path.parent, f"The folder {path.parent} for the event log")
    try:
        with _exclusive(path.parent):
            _append_lines(path, lines, max_bytes, keep)
    except OSError as err:
        raise FleetError(f"Cannot append to the event log {path}: {_reason(err)}.") from None


def _append_lines(path: Path, lines: Sequence[bytes], max_bytes: int, keep: int) -> None:
    fd = _open_log(path)
    try:
        size = os.fstat(fd).st_size
        batch = bytearray()
        for line in lines:
            if size + len(batch) + len(line) > max_bytes and size + len(batch) > 0:
                if batch:
                    _write_whole(fd, bytes(batch), size)
                os.close(fd)
                fd = -1
                _rotate(path, keep)
                fd = _open_log(path)
                size = 0
                batch.clear()
            batch += line
        _write_whole(fd, bytes(batch), size)
    finally:
        if fd >= 0:
            os.close(fd)


def _open_log(path: Path) -> int:
    with suppress(FileNotFoundError):
        _require_regular(path.stat())
    # Non-blocking as well: a FIFO put there between the two is refused, never waited on.
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | nonblocking | getattr(os, "O_CLOEXEC", 0)
    # Never through a symbolic link: it would append the events to whatever it points at.
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as err:
        if path.is_symlink():
            raise OSError(err.errno, "it is a symbolic link, not a file") from None
        raise
    try:
        info = _regular(fd)
        if os.name == "posix" and info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_whole(fd: int, data: bytes, size: int) -> None:
    """Write all of `data` and sync it, or put the file back at `size`: never half a line."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        with suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _rotate(path: Path, keep: int) -> None:
    if keep == 0:
        path.unlink(missing_ok=True)
    else:
        path.with_name(f"{path.name}.{keep}").unlink(missing_ok=True)
        for n in range(keep - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{n + 1}"))
        path.replace(path.with_name(f"{path.name}.1"))
    _sync_folder(path.parent)


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """Hold a lock on `folder` so that two agents never rotate the same log at once."""
    if sys.platform == "win32":
        yield
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- Prometheus: textfile collector -----------------------------------------------------


_PROM_SERIES = (
    ("hygiene_check_failing", ("check", "uid")),
    ("hygiene_check_status", ("check", "status", "uid")),
    ("hygiene_check_skip_reason", ("check", "reason", "uid")),
    ("hygiene_findings", ("check", "severity", "uid")),
    ("hygiene_excepted_findings", ("check", "uid")),
    ("hygiene_last_audit_timestamp_seconds", ("uid",)),
    ("hygiene_agent_heartbeat_timestamp_seconds", ("uid",)),
    ("hygiene_agent_info", ("version", "layout", "uid")),
    ("hygiene_policy_layer_info", ("level", "name", "revision", "sha256", "signer", "uid")),
    ("hygiene_policy_problems", ("kind", "uid")),
)
_PROM_HELP = {
    "hygiene_check_failing": "1 when the check failed in the last audit, else 0.",
    "hygiene_check_status": "The check's status in the last audit (1) among all (0).",
    "hygiene_check_skip_reason": "Why a skipped check did not run (1) among all reasons (0).",
    "hygiene_findings": "Findings of the check in the last audit, by severity.",
    "hygiene_excepted_findings": "Findings an admin policy's exception covers.",
    "hygiene_last_audit_timestamp_seconds": "When the last audit finished (Unix time).",
    "hygiene_agent_heartbeat_timestamp_seconds": "When the agent last ran a cycle (Unix time).",
    "hygiene_agent_info": "The agent's version and report layout (always 1).",
    "hygiene_policy_layer_info": "Each policy layer in force (always 1).",
    "hygiene_policy_problems": "Policies refused, sources not pulled, reports not written.",
}


def prometheus_text(
    results: Sequence[CheckResult],
    at: datetime,
    agent: AgentFacts | None = None,
    *,
    last_audit: datetime | None = None,
) -> str:
    """The textfile collector's content: check ids, statuses, severities and the agent's
    own state; with a numeric `uid` label when `agent` has one. `at`: the heartbeat;
    `last_audit`: when a check last ran (`at` when not given)."""
    latest = list(_latest(results).values())
    uid = None if agent is None or agent.uid is None else str(agent.uid)
    rows: dict[str, list[str]] = {name: [] for name, _ in _PROM_SERIES}

    def add(series: str, value: int, **labels: str) -> None:
        if uid is not None:
            labels["uid"] = uid
        inside = ",".join(f'{key}="{_label(v)}"' for key, v in labels.items())
        rows[series].append(f"{series}{{{inside}}} {value}" if inside else f"{series} {value}")

    for r in latest:
        add("hygiene_check_failing", int(r.status is Status.fail), check=r.check)
        for status in Status:
            add("hygiene_check_status", int(r.status is status), check=r.check, status=status.value)
        reason = _skip_reason(r)
        for one in SKIP_REASONS:
            add("hygiene_check_skip_reason", int(reason == one), check=r.check, reason=one)
        counts = dict.fromkeys(Severity, 0)
        for finding in r.findings:
            counts[finding.severity or r.severity] += 1
        for severity, n in counts.items():
            add("hygiene_findings", n, check=r.check, severity=severity.value)
        add("hygiene_excepted_findings", len(r.excepted), check=r.check)
    add("hygiene_last_audit_timestamp_seconds", _unix(last_audit or at))
    if agent is not None:
        add("hygiene_agent_heartbeat_timestamp_seconds", _unix(at))
        add("hygiene_agent_info", 1, version=agent.version, layout=str(LAYOUT_VERSION))
        for layer in agent.layers:
            add(
                "hygiene_policy_layer_info",
                1,
                level=layer.level,
                name=layer.name or "",
                revision="" if layer.revision is None else str(layer.revision),
                sha256=layer.sha256,
                signer=layer.signer or "",
            )
        kinds = [kind for kind, _ in agent.problems]
        for kind in PROBLEM_KINDS:
            add("hygiene_policy_problems", kinds.count(kind), kind=kind)
    out: list[str] = []
    for name, _ in _PROM_SERIES:
        if rows[name]:
            out += [f"# HELP {name} {_PROM_HELP[name]}", f"# TYPE {name} gauge", *rows[name]]
    return "\n".join(out) + "\n"


def prom_file(uid: int | None) -> str:
    """The textfile's name: one per person, by numeric uid (never the user name)."""
    return PROM_FILE if uid is None else f"hygiene-{uid:d}.prom"


def write_prometheus(
    directory: Path,
    results: Sequence[CheckResult],
    at: datetime,
    agent: AgentFacts | None = None,
    *,
    last_audit: datetime | None = None,
) -> None:
    """Replace ``<directory>/hygiene-<uid>.prom`` atomically (a temporary file in the same
    folder, then a rename), 0644 so that node_exporter can read it under its own user. The
    folder is the admin's to make: a missing one is an error, never created here (made by
    the person's agent, it would belong to the person, and node_exporter reads it as root)."""
    uid = None if agent is None else agent.uid
    write_prometheus_text(
        directory, prometheus_text(results, at, agent, last_audit=last_audit), uid
    )


def write_prometheus_text(directory: Path, text: str, uid: int | None) -> None:
    """`text` as ``<directory>/hygiene-<uid>.prom``, as write_prometheus writes it."""
    target = directory / prom_file(uid)
    try:
        folder = directory.stat()
    except FileNotFoundError:
        folder = None
    except OSError as err:  # a folder on the way that the person may not enter
        raise FleetError(
            f"Cannot write the Prometheus textfile {target}: {_reason(err)}."
        ) from None
    if folder is None or not stat.S_ISDIR(folder.st_mode):
        why = "does not exist" if folder is None else "is not a folder"
        raise FleetError(
            f"Cannot write the Prometheus textfile {target}: its folder {why}, and the agent "
            "does not create it (make it for node_exporter, writable by the people whose "
            "agents report there)."
        )
    try:
        write_whole(target, text.encode(), 0o644)
        with suppress(PermissionError):
            # A shared folder may be write-only for people (mode 1773): the file is in
            # place, only its rename's durability over a power cut is not asked for.
            _sync_folder(directory)
    except OSError as err:
        why = _owned_elsewhere(target, uid) or _reason(err)
        raise FleetError(f"Cannot write the Prometheus textfile {target}: {why}.") from None
    if uid is not None:
        _drop_old_prom(directory / PROM_FILE, uid)


_HEARTBEAT = re.compile(r"^(hygiene_agent_heartbeat_timestamp_seconds(?:\{[^}]*\})?) \d+$", re.M)


def with_heartbeat(text: str, at: datetime) -> str:
    """The textfile `text` with its heartbeat moved to `at`, and nothing else changed."""
    return _HEARTBEAT.sub(lambda m: f"{m[1]} {_unix(at)}", text, count=1)


def _owned_elsewhere(target: Path, uid: int | None) -> str | None:
    """Why a sticky shared folder refuses the rename: someone else made the file first."""
    try:
        owner = target.lstat().st_uid
    except OSError:
        return None
    if uid is None or owner == uid:
        return None
    return (
        f"another user (uid {owner}) made a file of that name there first, and only they or "
        "an admin can remove it; what it says is not this person's"
    )


def _drop_old_prom(path: Path, uid: int) -> None:
    """Layout 1's ``hygiene.prom``, when this person's agent wrote it: left there, it would
    be read beside the new file for ever. Another person's is theirs to remove."""
    with suppress(OSError):
        if path.lstat().st_uid == uid and stat.S_ISREG(path.lstat().st_mode):
            path.unlink()


def _label(value: str) -> str:
    """A label value escaped as the exposition format asks: backslash, quote, newline."""
    return _clean(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --- shared -----------------------------------------------------------------------------


def _latest(results: Sequence[CheckResult]) -> dict[str, CheckResult]:
    return {r.check: r for r in results}


def _clean(text: str) -> str:
    """Outside text as every fleet output writes it: control and bidirectional characters
    and a file name's undecodable bytes (lone surrogates) shown as escapes
    (agent.text.printable), so an admin's console shows them inert and the write never
    fails on them."""
    return printable(text)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"fleet outputs take timezone-aware times only, not {at!r}")
    return at.astimezone(UTC)


def _stamp(at: datetime) -> str:
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unix(at: datetime) -> int:
    return int(_utc(at).timestamp())


def _make_folder(folder: Path, what: str, mode: int = 0o700) -> None:
    """Create a missing folder and any missing parents with `mode`, whatever the umask (a
    parent may be the agent's private state folder); leave existing ones be."""
    try:
        missing = []
        probe = folder
        while not probe.exists() and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            try:
                path.mkdir(mode=mode)
            except FileExistsError:
                if path.is_dir():  # another process made it meanwhile
                    continue
                raise
            if os.name == "posix":
                path.chmod(mode)
    except OSError as err:
        raise FleetError(f"{what} cannot be created: {_reason(err)}.") from None
    if not folder.is_dir():
        raise FleetError(f"{what} cannot be created: a file is in its place.")


def _regular(fd: int) -> os.stat_result:
    return _require_regular(os.fstat(fd))


def _require_regular(info: os.stat_result) -> os.stat_result:
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "it is not a regular file")
    return info


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut (POSIX; Windows has no folder fsync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(err: OSError) -> str:
    return (err.strerror or str(err)).rstrip(".").lower()


class Outputs:
    """The outputs a policy's `report:` asks for, written after each cycle with every
    check's latest result (a cycle runs only the checks that are due), and the agent's
    heartbeat. What could not be written last time is reported by the outputs that can."""

    def __init__(self, state_dir: Path, *, failures: Sequence[str] = ()) -> None:
        """`failures`: what the last cycle could not write, as noted for `hygiene status`
        (a new process says it too)."""
        self.folder = state_dir / REPORT_FOLDER
        self.latest: dict[str, CheckResult] = {}
        self.previous: dict[str, tuple[str, int]] | None = None
        # What the last write could not write, one sentence each.
        self.failures: list[str] = list(failures)
        self._sqlite: SqliteReport | None = None
        self._last_audit: datetime | None = None
        self._agent_said: tuple[object, ...] | None = None
        self._agent_said_at: datetime | None = None
        # What the last whole write wrote with, and its textfile: a cycle that brings
        # nothing new moves only the heartbeat (a small UPDATE, one line of the textfile).
        self._written: tuple[object, ...] | None = None
        self._prom_text: str | None = None

    def write(
        self,
        results: Sequence[CheckResult],
        at: datetime,
        *,
        details: bool,
        osquery: bool,
        jsonl: bool,
        prometheus_dir: Path | None,
        host: str | None = None,
        agent: AgentFacts | None = None,
    ) -> list[str]:
        """Every output asked for; what could not be written, one sentence each. `results`
        may be empty: a heartbeat. `host`: the name the admin policy gives this device in
        the JSON lines."""
        said: tuple[object, ...] = (
            None if agent is None else agent.said(),
            details,
            osquery,
            jsonl,
        )
        written = (*said, prometheus_dir, host, tuple(self.failures))
        if not results and written == self._written:
            return self._beat(
                at,
                details=details,
                osquery=osquery,
                jsonl=jsonl,
                prometheus_dir=prometheus_dir,
                host=host,
                agent=agent,
            )
        self.latest.update({r.check: r for r in results})
        if results or self._last_audit is None:
            self._last_audit = at
        current = list(self.latest.values())
        if agent is not None and self.failures:
            failed = [("report_failed", home_free(f)) for f in self.failures]
            agent = AgentFacts(
                agent.version,
                agent.uid,
                agent.policy_name,
                agent.policy_revision,
                agent.layers,
                [*agent.problems, *failed],
            )
        problems = []
        problems += self._forget(osquery=osquery, details=details)
        if jsonl and self.previous is None:
            # After a restart, what the last cycle wrote: only real changes become events.
            self.previous = previous_from_sqlite(self.folder / SQLITE_FILE) or {}
        if osquery:
            try:
                if self._sqlite is None:
                    self._sqlite = SqliteReport(self.folder / SQLITE_FILE)
                self._sqlite.write(current, at, details, agent)
            except FleetError as err:
                problems.append(str(err))
        if jsonl:
            path = self.folder / EVENTS_FILE
            try:
                events = changes(self.previous or None, current, at=at, details=details, host=host)
                facts = None if agent is None else agent.said()
                due = self._agent_event_due(at)
                tell = agent is not None and (facts != self._agent_said or due)
                if agent is not None and tell:
                    events.insert(0, agent_event(agent, at, host=host))
                append_events(path, events)
                self.previous = snapshot(current)
                if tell:
                    self._agent_said, self._agent_said_at = facts, at
            except FleetError as err:
                problems.append(str(err))
        if prometheus_dir is not None:
            try:
                text = prometheus_text(current, at, agent, last_audit=self._last_audit)
                write_prometheus_text(prometheus_dir, text, None if agent is None else agent.uid)
                self._prom_text = text
            except FleetError as err:
                problems.append(str(err))
        self.failures = problems
        self._written = None if problems else (*said, prometheus_dir, host, ())
        return problems

    def _agent_event_due(self, at: datetime) -> bool:
        """The hourly "agent" event of the JSON lines, when nothing else brought one."""
        return self._agent_said_at is None or at - self._agent_said_at >= AGENT_EVENT_EVERY

    def _beat(
        self,
        at: datetime,
        *,
        details: bool,
        osquery: bool,
        jsonl: bool,
        prometheus_dir: Path | None,
        host: str | None,
        agent: AgentFacts | None,
    ) -> list[str]:
        """The heartbeat alone, into what the last whole write wrote."""
        problems = []
        if osquery:
            try:
                if self._sqlite is None:
                    self._sqlite = SqliteReport(self.folder / SQLITE_FILE)
                if not self._sqlite.beat(at):
                    self._sqlite.write(list(self.latest.values()), at, details, agent)
            except FleetError as err:
                problems.append(str(err))
        due = self._agent_event_due(at)
        if jsonl and agent is not None and due:
            try:
                append_events(self.folder / EVENTS_FILE, [agent_event(agent, at, host=host)])
                self._agent_said_at = at
            except FleetError as err:
                problems.append(str(err))
        if prometheus_dir is not None and self._prom_text is not None:
            try:
                text = with_heartbeat(self._prom_text, at)
                write_prometheus_text(prometheus_dir, text, None if agent is None else agent.uid)
                self._prom_text = text
            except FleetError as err:
                problems.append(str(err))
        self.failures = problems
        if problems:
            self._written = None
        return problems

    def _forget(self, *, osquery: bool, details: bool) -> list[str]:
        """What an admin turned off does not linger: the osquery file goes when it is off,
        and the JSON lines written while details were on go when they are turned off."""
        marker = self.folder / ".details-written"
        gone: list[Path] = []
        if not osquery:
            self.close()
            gone += [self.folder / f"{SQLITE_FILE}{end}" for end in ("", "-wal", "-shm")]
        if details:
            if not marker.exists():
                with suppress(OSError):
                    self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                    marker.touch(mode=0o600)
        elif marker.exists():
            gone += [marker, *self.folder.glob(f"{EVENTS_FILE}*")]
            self.previous = None  # the next cycle starts the events again
        problems = []
        for path in gone:
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                problems.append(f"{path} could not be removed ({(err.strerror or '').lower()}).")
        return problems

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None


def home_free(sentence: str, home: Path | None = None) -> str:
    """A sentence with the home folder's path (`home`, the person's by default) as ``~``:
    the path names the person."""
    shown = str(home or Path.home()).rstrip(os.sep)
    return sentence.replace(shown + os.sep, "~" + os.sep) if shown else sentence
