"""Linux facts: who is signed in (utmp) and for how long each terminal has been idle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from agent.errors import ProbeUnavailable
from agent.probes import Session
from agent.probes._desktop_linux import desktop_idle
from agent.probes.hosts import remote_host

__all__ = ["desktop_idle", "sessions"]

UTMP_FILES = ("/run/utmp", "/var/run/utmp")


def sessions(now: datetime) -> list[Session]:
    """Signed-in sessions from utmp, without the entries whose process has ended.

    utmp keeps a record until whoever wrote it removes it; a terminal that crashed or a
    program killed with SIGKILL leaves one behind. psutil lists those, `who` does not.
    """
    if not any(Path(p).exists() for p in UTMP_FILES):
        raise ProbeUnavailable("this system keeps no login records (/run/utmp is missing)")
    found = []
    for entry in psutil.users():
        pid = int(entry.pid) if entry.pid else None
        if pid is not None and not psutil.pid_exists(pid):
            continue
        terminal = entry.terminal or ""
        found.append(
            Session(
                user=entry.name,
                terminal=terminal,
                host=remote_host(entry.host or ""),
                started=datetime.fromtimestamp(entry.started, UTC),
                pid=pid,
                idle=_tty_idle(terminal, now),
            )
        )
    return found


def _tty_idle(terminal: str, now: datetime) -> timedelta | None:
    """What `w` shows: the time since the terminal device was last read, that is, typed at."""
    if not terminal or terminal.startswith(":") or "/" in terminal.removeprefix("pts/"):
        return None  # a display (":0") or a name that is not a device under /dev
    try:
        accessed = (Path("/dev") / terminal).stat().st_atime
    except OSError:
        return None
    return max(timedelta(0), now - datetime.fromtimestamp(accessed, UTC))
