"""Whether this Mac's startup disk is encrypted with FileVault. Facts only.

Source: `/usr/bin/fdesetup status` (no administrator rights needed for status), run with a
fixed argument list, LC_ALL=C, a 5-second timeout and no shell. Its first line is "FileVault
is On." or "FileVault is Off."; a second line may tell of work under way:

- "Encryption in progress: Percent completed = 42.17" (also "Pending" before it starts, on a
  laptop until it is plugged in), "Encryption paused ...";
- "Decryption in progress: Percent completed = 73.2" (FileVault being turned off);
- "Deferred enablement appears to be active for user 'name'." (FileVault will be turned on
  when that person next logs out or in; until then the disk is not encrypted).

FileVault encrypts the startup disk's Data volume, which holds the home folders under /Users
as well as the system's changing files, so one Volume holds ("/", "~"). A home folder on
another volume (/Volumes/...) is not covered by what fdesetup reports: it gets a Volume of
its own whose state is not known.

Decisions: encryption still in progress counts as not encrypted (encrypted False) with the
percentage done in `how`: part of the disk is still readable without the password, and a
check asking for an encrypted disk is not satisfied until it is done. Decryption in
progress, a deferred enablement and "Off" are not encrypted either.

Failures: fdesetup missing, refused, slower than its timeout, or answering in a form this
module does not know gives encrypted None with the reason in `how`; `disk_encryption` never
raises, and fdesetup's output is never copied into the answer.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import PurePosixPath

from agent.probes import Volume
from agent.probes._macos_console import Runner, ask, run_command

__all__ = ["disk_encryption"]

FDESETUP_STATUS = ("/usr/bin/fdesetup", "status")
TIMEOUT_SECONDS = 5
STARTUP = "the startup disk (its Data volume)"

_STATE = re.compile(r"^\s*FileVault is (On|Off)\b", re.IGNORECASE | re.MULTILINE)
_PROGRESS = re.compile(
    r"^\s*(Encryption|Decryption) (in progress|paused)\b[^\n]*?(?:=\s*([\d.,]+)|(Pending))?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_DEFERRED = re.compile(r"^\s*Deferred enablement appears to be active", re.IGNORECASE | re.M)


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return run_command(argv, TIMEOUT_SECONDS)


def disk_encryption(home: str, run: Runner = _run) -> list[Volume]:
    """The startup disk (holding / and, usually, the home folder) and whether FileVault
    encrypts it; a home folder elsewhere as a volume of its own."""
    encrypted, how = _filevault(run)
    if not _on_other_volume(home):
        return [Volume(("/", "~"), "/", STARTUP, encrypted, how)]
    volume = str(PurePosixPath(*PurePosixPath(home).parts[:3]))
    return [
        Volume(("/",), "/", STARTUP, encrypted, how),
        Volume(
            ("~",),
            volume,
            volume,
            None,
            "the home folder is on another volume, and fdesetup reports on the startup disk only",
        ),
    ]


def _on_other_volume(home: str) -> bool:
    parts = PurePosixPath(home).parts
    return len(parts) >= 3 and parts[:2] == ("/", "Volumes")


def _filevault(run: Runner) -> tuple[bool | None, str]:
    answer = ask(
        run,
        FDESETUP_STATUS,
        TIMEOUT_SECONDS,
        missing="{}, which tells whether FileVault is on, is not installed",
    )
    if isinstance(answer, str):
        return None, answer
    found = parse_fdesetup_status(f"{answer.out}\n{answer.err}")
    if found is None:
        status = f" (exit status {answer.code})" if answer.code else ""
        return None, f"fdesetup answered in a form this agent does not know{status}"
    return found


def parse_fdesetup_status(text: str) -> tuple[bool, str] | None:
    """(encrypted, how) from `fdesetup status`; None when it says neither On nor Off."""
    state = _STATE.search(text)
    if state is None:
        return None
    on = state.group(1).lower() == "on"
    progress = _PROGRESS.search(text)
    if progress is not None:
        what, stage, percent, pending = progress.groups()
        done = f", {percent.replace(',', '.')}% done" if percent else ""
        if what.lower() == "decryption":
            return False, f"FileVault is being turned off: decryption {stage.lower()}{done}"
        if pending:
            return False, "FileVault encryption is waiting to start (pending)"
        return False, f"FileVault encryption {stage.lower()}{done}"
    if _DEFERRED.search(text):
        return False, "FileVault is off; it will be turned on at the next log-out or log-in"
    if on:
        return True, "FileVault"
    return False, "FileVault is off"
