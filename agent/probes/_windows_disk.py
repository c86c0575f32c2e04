"""Whether the drives holding Windows and the home folder are encrypted with BitLocker.

Facts only. The drives: %SystemDrive% (C: when unset) for "/", and the drive of the home
folder (the `home` argument, USERPROFILE's) for "~"; one Volume when they are the same. A
home folder on a network share (\\\\server\\share) gets a Volume whose state is not known.

Every command runs from System32 with a fixed argument list (the drive in it is a letter and
a colon this module checked), a 5-second timeout, no shell and no console window; output is
decoded from the OEM code page.

1. `manage-bde -status X:`, in English: "Conversion Status" (Fully Decrypted, Fully
   Encrypted, Used Space Only Encrypted, Encryption in Progress, Decryption in Progress,
   Encryption Paused, Decryption Paused), "Protection Status" (Protection On, Protection
   Off, Protection Off (N reboots left)), "Percentage Encrypted", "Encryption Method".
   Encrypted with protection off is suspended: the key is stored in the clear on the disk,
   so anyone who takes the disk can read it; it counts as not encrypted. So do encryption
   in progress or paused (part of the disk is still readable; `how` says how much is done)
   and decryption.
2. manage-bde needs administrator rights ("ERROR: An attempt to access a required resource
   was denied."), is missing on some editions, and translates its labels; when its answer
   holds no English "Conversion Status" it is not read further, and the drive is asked of
   the Shell instead, which needs no rights: the property System.Volume.BitLockerProtection
   that Explorer draws its padlock from, through PowerShell
   ((New-Object -ComObject Shell.Application).NameSpace('C:\\').Self.ExtendedProperty(...)).
   Microsoft does not document its values; as Windows' own context-menu verbs use them
   (AppliesTo of Drive\\shell\\encrypt-bde is :=2, unlock-bde :=6, "lock" verbs 1, 3, 5)
   and as published scripts agree: 1 on, 2 off, 3 encrypting, 4 decrypting, 5 suspended,
   6 on and locked, 8 encrypted but waiting for activation (device encryption whose key is
   still in the clear). 0, 7, other numbers and an empty answer are "not known".
3. Nothing answers: encrypted None, with both reasons in `how`.

`disk_encryption` never raises; the tools' output is never copied into the answer.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import PureWindowsPath

from agent.probes import Volume
from agent.probes._windows_console import CONSOLE_ENCODING, Answer, Runner, ask, run_command

__all__ = ["disk_encryption"]

TIMEOUT_SECONDS = 5

_SYSTEM32 = PureWindowsPath(os.environ.get("SYSTEMROOT", "C:\\Windows"), "System32")
POWERSHELL = str(_SYSTEM32 / "WindowsPowerShell" / "v1.0" / "powershell.exe")
_DRIVE = re.compile(r"^[A-Za-z]:$")
_LABEL = re.compile(r"^\s*(?P<label>[A-Za-z][A-Za-z ]*?):\s+(?P<value>\S.*?)\s*$")
_SUSPENDED = "the key is stored in the clear, so the disk can be read without it"
# System.Volume.BitLockerProtection -> (encrypted, how)
_SHELL_STATES: dict[int, tuple[bool, str]] = {
    1: (True, "BitLocker"),
    2: (False, "not encrypted (BitLocker off)"),
    3: (False, "BitLocker encryption in progress"),
    4: (False, "BitLocker is being turned off: decryption in progress"),
    5: (False, f"BitLocker suspended: {_SUSPENDED}"),
    6: (True, "BitLocker (locked)"),
    8: (False, f"BitLocker waiting for activation: {_SUSPENDED}"),
}


def manage_bde_status(drive: str) -> tuple[str, ...]:
    return (str(_SYSTEM32 / "manage-bde.exe"), "-status", drive)


def shell_protection(drive: str) -> tuple[str, ...]:
    script = (
        f"(New-Object -ComObject Shell.Application).NameSpace('{drive}\\').Self"
        ".ExtendedProperty('System.Volume.BitLockerProtection')"
    )
    return (POWERSHELL, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", script)


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return run_command(argv, TIMEOUT_SECONDS)


def disk_encryption(
    home: str,
    run: Runner = _run,
    env: Mapping[str, str] | None = None,
    encoding: str = CONSOLE_ENCODING,
) -> list[Volume]:
    """The system drive and the home folder's drive, and whether BitLocker protects each."""
    env = os.environ if env is None else env
    system = (env.get("SYSTEMDRIVE") or "C:").upper()
    home_drive = PureWindowsPath(home or env.get("USERPROFILE", "")).drive.upper()
    if not _DRIVE.match(system):
        system = "C:"
    volumes = []
    if not home_drive or home_drive == system:
        volumes.append(_volume(("/", "~"), system, run, encoding))
    else:
        volumes.append(_volume(("/",), system, run, encoding))
        if _DRIVE.match(home_drive):
            volumes.append(_volume(("~",), home_drive, run, encoding))
        else:
            volumes.append(
                Volume(
                    ("~",),
                    home_drive,
                    home_drive,
                    None,
                    "the home folder is on a network share, whose encryption this computer "
                    "cannot tell",
                )
            )
    return volumes


def _ask(run: Runner, argv: Sequence[str], encoding: str) -> Answer | str:
    return ask(
        run, argv, encoding, TIMEOUT_SECONDS, missing="{} is not on this computer", with_stderr=True
    )


def _volume(holds: tuple[str, ...], drive: str, run: Runner, encoding: str) -> Volume:
    answer = _ask(run, manage_bde_status(drive), encoding)
    if isinstance(answer, Answer):
        found = parse_manage_bde(answer.out)
        if found is not None:
            return Volume(holds, drive, drive, *found)
        why = _manage_bde_trouble(answer)
    else:
        why = answer
    shell = _ask(run, shell_protection(drive), encoding)
    if isinstance(shell, Answer) and shell.code == 0:
        state = parse_shell_protection(shell.out)
        if state is not None:
            return Volume(holds, drive, drive, *state)
        shell_why = "the Shell gave no BitLocker state this agent knows for the drive"
    elif isinstance(shell, Answer):
        shell_why = f"PowerShell failed with exit status {shell.code}"
    else:
        shell_why = shell
    return Volume(holds, drive, drive, None, f"{why}, and {shell_why}")


def _manage_bde_trouble(answer: Answer) -> str:
    """Why manage-bde's answer was not used, in words; its words are read only to pick these,
    never to decide."""
    text = answer.out.lower()
    if "denied" in text or "administrative rights" in text:
        return "manage-bde needs administrator rights"
    if "not recognized" in text:
        return "manage-bde is not on this computer"
    if "conversion status" not in text and re.search(r"^\s*\S[^:\n]*:\s+\S", answer.out, re.M):
        return "manage-bde answered in a language this agent does not read"
    return f"manage-bde gave no answer this agent can read (exit status {answer.code})"


def parse_manage_bde(text: str) -> tuple[bool, str] | None:
    """(encrypted, how) from `manage-bde -status X:` in English; None for anything else."""
    labels: dict[str, str] = {}
    for line in text.splitlines():
        found = _LABEL.match(line)
        if found is not None:
            labels.setdefault(found["label"].strip().lower(), found["value"])
    conversion = labels.get("conversion status", "").lower()
    protection = labels.get("protection status", "").lower()
    percent = labels.get("percentage encrypted", "")
    method = labels.get("encryption method", "")
    locked = labels.get("lock status", "").lower() == "locked"
    with_method = f"BitLocker ({method})" if method and method.lower() != "none" else "BitLocker"
    if conversion in ("fully encrypted", "used space only encrypted"):
        if protection.startswith("protection on") or (locked and "off" not in protection):
            used = ", used space only" if conversion.startswith("used") else ""
            return True, f"{with_method}{used}"
        if protection.startswith("protection off"):
            return False, f"BitLocker suspended (protection off): {_SUSPENDED}"
        return None
    if conversion == "fully decrypted":
        return False, "not encrypted (BitLocker off)"
    done = f", {percent} encrypted" if percent else ""
    if conversion == "encryption in progress":
        return False, f"BitLocker encryption in progress{done}"
    if conversion == "encryption paused":
        return False, f"BitLocker encryption paused{done}"
    if conversion in ("decryption in progress", "decryption paused"):
        stage = conversion.partition(" ")[2]
        return False, f"BitLocker is being turned off: decryption {stage}{done}"
    return None


def parse_shell_protection(text: str) -> tuple[bool, str] | None:
    """(encrypted, how) from System.Volume.BitLockerProtection; None when not known."""
    value = text.strip()
    if not value.isdigit():
        return None
    return _SHELL_STATES.get(int(value))
