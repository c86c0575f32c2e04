"""The machine a login comes from, out of what a login record holds in its host field.

Login daemons write the remote address or name there; terminal emulators, multiplexers
and mosh write their own markers for sessions on this machine.
"""

from __future__ import annotations

import re

# What programs other than login daemons write as the "host" of a local terminal.
_LOCAL = re.compile(
    r"^(?:"
    r":\d+(?:\.\d+)?"  # an X display: xterm and display managers write ":0"
    r"|localhost"  # psutil's own rewrite of ":0" and ":0.0"
    r"|(?:tmux|screen)\(\d+\)\..*"  # tmux writes "tmux(PID).%N"
    r"|(?:[\w.-]*:)?S\.\d+"  # GNU screen writes ":S.N" or "host:S.N"
    r"|mosh \[\d+\]"  # a mosh server no client has reached yet
    r")$"
)
_VIA_MOSH = re.compile(r"^(?P<host>\S+) via mosh \[\d+\]$")


def remote_host(recorded: str) -> str:
    """The machine a session comes from, or "" for this one, from what utmp recorded."""
    if not recorded or _LOCAL.match(recorded):
        return ""
    mosh = _VIA_MOSH.match(recorded)
    return mosh.group("host") if mosh else recorded
