"""What the two session checks say about a session: shared words, not a check."""

from __future__ import annotations

import getpass
import re
import shlex
import sys

from agent.probes import Session
from agent.text import printable

LONGEST_SHOWN = 80
# pkill -t takes a terminal name as the kernel knows it; anything else would match nothing.
_DEVICE = re.compile(r"^(pts/\d+|tty\w+)$")


def shown(text: str) -> str:
    """utmp text as shown: escaped like file names (other programs write it), and cut."""
    text = printable(text)
    return text if len(text) <= LONGEST_SHOWN else text[: LONGEST_SHOWN - 1] + "…"


def user_of(session: Session) -> str:
    return shown(session.user) or "someone"


def terminal_of(session: Session) -> str:
    return shown(session.terminal) or "a terminal with no name"


def end_command(session: Session) -> str | None:
    """`pkill -HUP -t pts/3` (with sudo for another user's session) where that works."""
    if not sys.platform.startswith("linux") or not _DEVICE.match(session.terminal):
        return None
    try:
        me = getpass.getuser()
    except (KeyError, OSError):
        me = ""
    sudo = "" if session.user == me else "sudo "
    return f"{sudo}pkill -HUP -t {shlex.quote(session.terminal)}"
