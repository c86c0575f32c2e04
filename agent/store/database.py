"""The one code that touches ``<state_dir>/store.db``: opening it, and setting a damaged one aside.

Only SQLite ever opens the file, its ``-wal`` and its ``-shm``. Closing any descriptor of a
file drops every POSIX lock the process holds on it (SQLite's "How To Corrupt An SQLite
Database File", section 2.2): one plain ``open()`` and ``close()`` of store.db inside the
agent, and the next command to close its connection believes it is alone and deletes the
WAL the agent is still writing into. So here nothing but ``os.stat``, ``chmod`` and
``rename`` is done to those files by hand.

Two ways in:

- ``Database.open`` (the agent, ``run --once``, snooze, unsnooze, network trust/untrust):
  read-write, creating the file (then 0600) and migrating it; a file that is not a store
  this version can use is moved aside (never deleted) and a fresh one started, by a
  command only while no agent runs. The agent follows a store.db deleted or replaced
  under it (``replaced``, ``reopen``), once a turn.
- ``Database.open_read_only`` (status, notifications, network list, the vpn check of
  ``hygiene check``): ``mode=ro``; creates, migrates and moves nothing, and gives None when
  there is no store yet. A WAL database is readable without write access to its folder
  while its ``-wal`` and ``-shm`` exist (SQLite 3.22+); when they do not (the last writer
  closed cleanly) and the folder or the store itself is read-only, nobody can write the
  database either, so it is opened ``immutable=1``, the documented way to read it then
  (sqlite.org/wal.html, "Read-Only Databases"; walformat.html 2.6), and no -wal or -shm
  is made with the store's read-only mode.

A process holds one connection (``check_same_thread=False``) and every use of it holds
``lock``: the agent's checks reach the same connection from their threads through
``CheckContext.store``. A special file (a FIFO, a device, a socket, a folder) at the
store's path is refused before SQLite sees it: SQLite would block opening a FIFO.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from agent import sqlite_codes as sq
from agent.errors import AgentError
from agent.files import ensure_private_dir, set_aside, unusable_state_folder
from agent.instance import AlreadyRunning, InstanceLock, running_agent
from agent.store import schema
from agent.store.schema import Unusable
from agent.text import printable

STORE_FILE = "store.db"
SIDE_FILES = ("-wal", "-shm", "-journal")

_DAMAGED = (sq.CORRUPT, sq.NOTADB)

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISDIR, "a folder"),
)


def _warn(sentence: str, *, agent: bool) -> None:
    """To the agent's log, or to the terminal of the command that opened the store: the
    commands people type do not load logging (a sixth of `hygiene snooze`'s start-up)."""
    if agent:
        import logging  # noqa: PLC0415 - loaded already in the agent

        # The name tests and people filter on: warnings come from "agent.store".
        logging.getLogger("agent.store").warning("%s", sentence)
    else:
        with contextlib.suppress(OSError):  # a full stderr must not stop the command
            print(f"hygiene: warning: {printable(sentence)}", file=sys.stderr)


class StoreError(AgentError):
    """The store cannot be read or written (full disk, read-only, locked); one sentence."""


class Database:
    """One connection to the store and the lock every use of it holds."""

    # Seconds to wait for another process (the agent, a CLI command) to finish writing.
    BUSY_TIMEOUT: ClassVar[float] = 5.0
    SCHEMA_VERSION: ClassVar[int] = schema.newest()

    def __init__(self, path: Path, conn: sqlite3.Connection, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._conn = conn
        self._opened: tuple[int, int] | None = None
        with contextlib.suppress(OSError):
            self._opened = _identity(path)
        # Re-entrant: a write may read through the same helpers it shares with readers.
        self.lock = threading.RLock()

    @classmethod
    def open(cls, state_dir: Path, *, agent: bool = False) -> Self:
        """Open (creating or migrating) the store; set an unusable file aside first.

        `agent`: the caller holds the instance lock (the agent, ``run --once``). Any other
        process never sets the store aside while an agent runs: the agent would go on
        writing into the moved file, and every command would find a fresh, empty store. Nor
        does it start a store while an agent runs without one (store.db deleted under it):
        the agent's -wal and -shm are still beside it and would be taken for the new file's;
        the agent notices within seconds and starts a fresh one itself (``replaced``).
        """
        path = Path(state_dir).absolute() / STORE_FILE
        try:
            ensure_private_dir(path.parent)
        except OSError as err:
            raise StoreError(unusable_state_folder(path.parent, err)) from None
        if not agent and not _regular_or_missing(path) and running_agent(path.parent) is not None:
            raise StoreError(
                f"The store {path} is missing while the agent runs; it starts a fresh one "
                "within seconds, so try again then."
            )
        for attempt in range(2):
            try:
                return cls(path, _connect(path, cls.BUSY_TIMEOUT))
            except Unusable as unusable:
                if attempt:
                    break
                with contextlib.nullcontext() if agent else _no_agent(path, unusable):
                    aside = _set_aside(path, unusable.kind)
                what = (
                    f"was written by a newer version of hygiene-agent ({unusable.reason})"
                    if unusable.kind == "newer"
                    else f"could not be used ({unusable.reason})"
                )
                _warn(
                    f"The store {path} {what}, so it was moved to {aside} and a fresh store "
                    "was started.",
                    agent=agent,
                )
        raise StoreError(f"A fresh store could not be started at {path}.")

    @classmethod
    def open_read_only(cls, state_dir: Path) -> Self | None:
        """The store for reading only; None when there is none yet (nothing was audited)."""
        path = Path(state_dir).absolute() / STORE_FILE
        if not _regular_or_missing(path):
            return None
        wal = path.with_name(path.name + "-wal")
        query = "mode=ro"
        # Without a -wal, a reader in a writable folder makes the -wal and -shm, with the
        # store's mode: from a store made read-only (chmod 400) they would stay read-only
        # and refuse the writer when it is writable again. No -wal and no write access to
        # the store itself means nobody of ours is writing it: read it as it is.
        if not wal.exists() and not (_may(path.parent, os.W_OK | os.X_OK) and _may(path, os.W_OK)):
            query += "&immutable=1"
        conn = _sqlite(path, query, cls.BUSY_TIMEOUT, "read")
        try:
            if schema.is_blank(conn):
                conn.close()
                return None
            version = schema.judge(conn)
        except Unusable as unusable:
            conn.close()
            if unusable.kind == "newer":
                raise StoreError(
                    f"The store {path} was written by a newer version of hygiene-agent "
                    f"({unusable.reason}); update this one to read it."
                ) from None
            raise StoreError(
                f"The store {path} is damaged ({unusable.reason}); the agent moves it aside "
                "and starts a fresh one when it next starts."
            ) from None
        except sqlite3.Error as err:
            conn.close()
            if sq.primary(err) == sq.READONLY:
                raise StoreError(
                    f"The store {path} was left half-written by a process stopped while it "
                    "wrote; the agent puts it right when it next opens it (so does "
                    "`hygiene run --once`)."
                ) from None
            raise _store_error(path, "read", err) from None
        if version < schema.newest():
            conn.close()
            raise StoreError(
                f"The store {path} is from an older version of hygiene-agent (schema "
                f"{version}); the agent brings it up to date when it next starts."
            )
        return cls(path, conn, read_only=True)

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    def replaced(self) -> bool:
        """True when the file this connection has open is no longer at its path (deleted,
        renamed, or another file put there): what it writes now, nobody reads."""
        try:
            return _identity(self.path) != self._opened
        except FileNotFoundError:
            return True
        except OSError:
            return False  # cannot tell (a folder made unreadable): keep what works

    def reopen(self) -> None:
        """Let go of the file this connection has and open the one at the path, or a fresh
        store. Closed first: as the last connection, SQLite folds the old -wal into the old
        file and removes it and the -shm, so the new file never takes them for its own.
        Only for the holder of the instance lock (it may start or set aside a store)."""
        with self.lock:
            self._conn.close()
            fresh = type(self).open(self.path.parent, agent=True)
            self._conn, self._opened = fresh._conn, fresh._opened

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; any SQLite failure rolls it back and
        becomes StoreError."""
        with self.lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise _store_error(self.path, action, err) from None

    @contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, for reading; a failure becomes StoreError."""
        with self.lock:
            try:
                yield self._conn
            except sqlite3.Error as err:
                raise _store_error(self.path, action, err) from None


# --- opening for writing --------------------------------------------------------------


def _sqlite(path: Path, query: str, timeout: float, action: str) -> sqlite3.Connection:
    """The one place a connection to the store is made. Autocommit: every transaction is
    explicit (Database._write); any thread may use it while it holds Database.lock."""
    try:
        return sqlite3.connect(
            f"{path.as_uri()}?{query}",
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as err:
        raise _store_error(path, action, err) from None


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection to a usable, current store at `path`; raises Unusable or StoreError."""
    if _regular_or_missing(path):
        _mend_side_files(path)
        _may_use_side_files(path)
        _judge(path, timeout)
    _may_write(path)
    conn = _sqlite(path, "mode=rwc", timeout, "open")
    # SQLite made the file (if it was missing) with 0644 less the umask; 0600 before a
    # byte is written. The -wal and -shm it makes later copy the file's mode.
    _tighten(path)
    try:
        scrubbed = _prepare(conn)
    except sqlite3.Error as err:
        conn.close()
        if sq.primary(err) in _DAMAGED:
            raise Unusable("corrupt", f"SQLite says: {err}") from None
        raise _store_error(path, "open", err) from None
    except BaseException:
        conn.close()
        raise
    for suffix in SIDE_FILES:
        _tighten(path.with_name(path.name + suffix))
    if scrubbed:
        for name in schema.STALE_FILES:
            with contextlib.suppress(OSError):
                path.with_name(name).unlink()
    return conn


def _judge(path: Path, timeout: float) -> None:
    """Raise Unusable when the file at `path` is not a store this version can use.

    Looked at read-only first: a read-write connection that closes last removes a WAL it
    could not use, and the WAL of a damaged store is moved aside with it, byte for byte.
    """
    conn = _sqlite(path, "mode=ro", timeout, "open")
    try:
        check = conn.execute("PRAGMA quick_check").fetchall()
        if [tuple(row) for row in check] != [("ok",)]:
            raise Unusable("corrupt", f"its integrity check failed: {check[0][0]}")
        schema.judge(conn)
    except sqlite3.Error as err:
        if sq.primary(err) in _DAMAGED:
            raise Unusable("corrupt", f"SQLite says: {err}") from None
        if sq.primary(err) == sq.READONLY:
            # A writer was killed mid-transaction (a hot journal, a WAL index to rebuild):
            # only a read-write connection may put that right, and the one that follows
            # does, then judges the file itself (_prepare).
            return
        raise _store_error(path, "open", err) from None
    finally:
        conn.close()


def _prepare(conn: sqlite3.Connection) -> bool:
    """Switch to WAL and run any migrations still due (True: see schema.migrate)."""
    schema.judge(conn)
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL mode (still {mode})")
    # NORMAL in WAL: a commit is in the WAL before COMMIT returns, so it survives the
    # process being killed; only a power cut can take back the latest transactions.
    conn.execute("PRAGMA synchronous = NORMAL")
    return schema.migrate(conn)


def _may_write(path: Path) -> None:
    """SQLite quietly falls back to read-only on a file it may not write; an agent whose
    every write fails later is worse than one clear error now. Asked with access(2), which
    opens nothing."""
    folder = path.parent
    if path.exists() and not _may(path, os.R_OK | os.W_OK):
        raise StoreError(f"The store {path} cannot be opened for writing: permission denied.")
    if not _may(folder, os.W_OK | os.X_OK):
        # The WAL and its index are files beside the store, made and removed as it is used.
        raise StoreError(
            f"The store {path} cannot be opened for writing: its folder is read-only "
            "(permission denied)."
        )


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def _mend_side_files(path: Path) -> None:
    """Give back the owner's read and write on our own -wal, -shm and -journal: a reader
    of a store that was read-only then (chmod 400) may have made them so, and SQLite can
    never use them again (it only gives the -shm a mode at creation)."""
    if os.name != "posix":
        return
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        try:
            info = side.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                mode = info.st_mode & 0o7777
                if mode & 0o600 != 0o600:
                    side.chmod(mode | 0o600)
        except OSError:
            pass  # gone meanwhile, or not ours to change: _may_write names it


def _may_use_side_files(path: Path) -> None:
    """After _mend_side_files: a -wal or -shm still not ours to read and write (another
    user's) is named, before SQLite calls it "the file or its folder"."""
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists() and not _may(side, os.R_OK | os.W_OK):
            raise StoreError(
                f"The store {path} cannot be opened for writing: the file {side} beside it "
                "is read-only (permission denied)."
            )


def _may(path: Path, mode: int) -> bool:
    # The effective ids: a process that dropped privileges is judged as what it is now.
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _regular_or_missing(path: Path) -> bool:
    """True when the store (or a file beside it) is a regular file, False when it is not
    there; StoreError for anything else, before SQLite opens it and blocks on a FIFO."""
    exists = False
    for name in (path.name, *(path.name + suffix for suffix in SIDE_FILES)):
        candidate = path.with_name(name)
        try:
            mode = candidate.stat().st_mode
        except FileNotFoundError:
            continue
        except OSError as err:
            raise StoreError(f"The store {candidate} cannot be read: {_os_reason(err)}.") from None
        kind = next((what for test, what in _KINDS if test(mode)), None)
        if kind is None and not stat.S_ISREG(mode):
            kind = "a special file"
        if kind is not None:
            raise StoreError(
                f"The store {candidate} is {kind}, not a file; move it away and the agent "
                "starts a fresh store."
            )
        exists = exists or candidate == path
    return exists


@contextmanager
def _no_agent(path: Path, unusable: Unusable) -> Iterator[None]:
    """Hold the instance lock while a command sets the store aside: never under an agent
    that has it open (it would go on writing into the moved file), nor one starting."""
    try:
        with InstanceLock(path.parent):
            yield
    except AlreadyRunning:
        if unusable.kind == "newer":
            raise StoreError(
                f"The store {path} was written by a newer version of hygiene-agent, which is "
                "running; use that version's hygiene command."
            ) from None
        raise StoreError(
            f"The store {path} cannot be used ({unusable.reason}) and the agent is running "
            "with it; stop the agent and start it again, and it moves the store aside."
        ) from None
    except AgentError as err:
        raise StoreError(str(err)) from None


def _set_aside(path: Path, kind: str) -> Path:
    """Rename the store (and its WAL/SHM) to store.db.<kind>-<UTC time>; never overwrite."""
    try:
        # Side files first: a WAL left next to a fresh store.db would be replayed into it.
        return set_aside(path, kind, SIDE_FILES)
    except OSError as err:
        raise StoreError(
            f"The unusable store {path} cannot be moved aside: {_os_reason(err)}."
        ) from None


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


def _store_error(path: Path, action: str, err: sqlite3.Error) -> StoreError:
    code = sq.primary(err)
    if code == sq.FULL:
        why = "the disk is full"
    elif code == sq.READONLY:
        why = "the file or its folder is read-only"
    elif code in (sq.BUSY, sq.LOCKED):
        why = "another process is holding it locked; try again shortly"
    elif code in (sq.CANTOPEN, sq.PERM):
        why = "the file or its folder cannot be opened (check its permissions)"
    elif code == sq.IOERR:
        why = "the disk reported an input/output error"
    elif code == sq.NOMEM:
        why = "the system is out of memory"
    elif code in _DAMAGED:
        why = "the file is damaged and will be set aside when the agent next starts"
    else:
        why = str(err).rstrip(".").replace("\n", " ") or type(err).__name__
    return StoreError(f"Cannot {action} the store {path}: {why}.")


def _os_reason(err: OSError) -> str:
    return (err.strerror or str(err)).rstrip(".").lower()
