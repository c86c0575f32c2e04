"""Facts about this machine. Probes gather; checks judge.

Platform-specific probes live in _linux, _macos and _windows, which define the same
names; this package picks one (the way psutil does). Probes that read only files the
same way everywhere live in their own modules.

Sessions (Step 4):
- `sessions(now)`: who is signed in at a terminal or over the network, with each
  session's idle time where the system keeps one; entries whose process is gone are left
  out (utmp keeps them; `who` does not show them).
- `desktop_idle(env)`: how long the graphical session this agent runs in has had no
  input, and whether its screen is locked; None when there is no graphical session or
  nothing here can tell.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import ModuleType


@dataclass(frozen=True)
class Session:
    user: str
    terminal: str  # "pts/3", "tty1", ":0", "console", "rdp-tcp#0"
    host: str  # "" for a local login; else as the system recorded it: a name or an address
    started: datetime  # timezone-aware
    pid: int | None
    idle: timedelta | None  # since the last input at this terminal; None when not known


@dataclass(frozen=True)
class DesktopIdle:
    idle: timedelta  # since the last keyboard or mouse input in the graphical session
    locked: bool | None  # None when nothing here can tell
    source: str  # where the figure came from: "XScreenSaver", "Mutter", "logind", ...


def sessions(now: datetime) -> list[Session]:
    found: list[Session] = _platform().sessions(now)
    return found


def desktop_idle(env: Mapping[str, str]) -> DesktopIdle | None:
    idle: DesktopIdle | None = _platform().desktop_idle(env)
    return idle


def _platform() -> ModuleType:
    # Imported on first use: `hygiene check --only ssh_keys` need not load the bus and X11
    # code the session probes use (bench/startup.py).
    name = {"darwin": "_macos", "win32": "_windows"}.get(sys.platform, "_linux")
    return importlib.import_module(f"agent.probes.{name}")


__all__ = ["DesktopIdle", "Session", "desktop_idle", "sessions"]
