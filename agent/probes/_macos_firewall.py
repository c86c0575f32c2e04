"""Whether this Mac's Application Firewall is on. Facts only.

Source: `/usr/libexec/ApplicationFirewall/socketfilterfw --getglobalstate --getblockall
--getstealthmode` (reading needs no administrator rights), run with a fixed argument list,
LC_ALL=C, a 5-second timeout and no shell. It answers one line for each question:

- global state: "Firewall is enabled. (State = 1)", "Firewall is disabled. (State = 0)";
  State = 2 is "block all incoming connections" (essential services only). The number is
  what is read: it is the same in every release, where the words around it have changed.
- block all: "Firewall has block all state set to enabled." (or disabled) in current
  releases, "Block all ENABLED!" / "Block all DISABLED!" in older ones.
- stealth mode: "Firewall stealth mode is on" (or off), older "Stealth mode enabled" (or
  disabled).

The Application Firewall is on or off; it has no separate "starts at boot" (its state is
kept in /Library/Preferences/com.apple.alf and applied at start). Block-all and stealth mode
are told in `how`. Failures (socketfilterfw missing, slower than its timeout, an answer in a
form this module does not know) give nothing found and a note; the tool's output is never
copied into the answer.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence

from agent.probes import Firewall, Firewalls
from agent.probes._macos_console import Runner, ask, run_command

__all__ = ["firewalls", "parse_socketfilterfw"]

SOCKETFILTERFW = (
    "/usr/libexec/ApplicationFirewall/socketfilterfw",
    "--getglobalstate",
    "--getblockall",
    "--getstealthmode",
)
TIMEOUT_SECONDS = 5
NAME = "the Application Firewall"

_STATE = re.compile(r"\(State = (\d+)\)")
_BLOCK_ALL = re.compile(
    r"block all state set to (enabled|disabled)|Block all (ENABLED|DISABLED)", re.IGNORECASE
)
_STEALTH = re.compile(r"stealth mode is (on|off)|Stealth mode (enabled|disabled)", re.IGNORECASE)


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return run_command(argv, TIMEOUT_SECONDS)


def firewalls(env: Mapping[str, str], run: Runner = _run) -> Firewalls:
    looked_at = ("socketfilterfw --getglobalstate",)
    answer = ask(run, SOCKETFILTERFW, TIMEOUT_SECONDS)
    if isinstance(answer, str):
        return Firewalls((), looked_at, (f"{answer}.",))
    found = parse_socketfilterfw(f"{answer.out}\n{answer.err}")
    if found is None:
        status = f" (exit status {answer.code})" if answer.code else ""
        note = f"socketfilterfw answered in a form this agent does not know{status}."
        return Firewalls((), looked_at, (note,))
    return Firewalls((found,), looked_at)


def parse_socketfilterfw(text: str) -> Firewall | None:
    state = _STATE.search(text)
    if state is None:
        return None
    number = int(state.group(1))
    if number not in (0, 1, 2):
        return None
    block_all = _BLOCK_ALL.search(text)
    stealth = _STEALTH.search(text)
    parts = ["turned on" if number else "turned off"]
    blocking_all = block_all is not None and (block_all[1] or block_all[2]).lower() == "enabled"
    if number == 2 or blocking_all:
        parts.append("blocking all incoming connections")
    if stealth and (stealth.group(1) or stealth.group(2)).lower() in ("on", "enabled"):
        parts.append("in stealth mode")
    return Firewall(NAME, on=number > 0, at_boot=None, blocks=True, how=", ".join(parts))
