"""Whether Windows Firewall is on for each network profile. Facts only.

Source: PowerShell's Get-NetFirewallProfile on the ActiveStore (the settings in force, local
and group policy merged; reading needs no administrator rights), each profile's Name,
Enabled and DefaultInboundAction cast to text, as JSON:

    Get-NetFirewallProfile -PolicyStore ActiveStore | Select-Object Name,
      @{n='Enabled';e={[string]$_.Enabled}},
      @{n='DefaultInboundAction';e={[string]$_.DefaultInboundAction}} | ConvertTo-Json

Enum values cast to text are their names, which Windows never translates ("True", "False",
"NotConfigured"; "Block", "Allow", "NotConfigured"), unlike `netsh advfirewall show
allprofiles`, whose labels and values are in the system's language: netsh is not read. The
numbers ConvertTo-Json writes for the enums themselves are read too (GpoBoolean: False 0,
True 1, NotConfigured 2; Action: NotConfigured 0, Allow 2, Block 4). NotConfigured is
Windows' default: on, and blocking what no rule allows.

Every profile (Domain, Private, Public) must be on: which one is in force changes with the
network, and a laptop that joins a café's network takes Public. Failures (PowerShell
missing, slower than its timeout, not JSON) give nothing found and a note; the output is
never copied into the answer.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import PureWindowsPath
from typing import Any

from agent.probes import Firewall, Firewalls
from agent.probes._windows_console import CONSOLE_ENCODING, Answer, Runner, ask, run_command

__all__ = ["firewalls", "parse_profiles"]

TIMEOUT_SECONDS = 10
_SYSTEM32 = PureWindowsPath(os.environ.get("SYSTEMROOT", "C:\\Windows"), "System32")
POWERSHELL = str(_SYSTEM32 / "WindowsPowerShell" / "v1.0" / "powershell.exe")
SCRIPT = (
    "Get-NetFirewallProfile -PolicyStore ActiveStore | Select-Object Name,"
    "@{n='Enabled';e={[string]$_.Enabled}},"
    "@{n='DefaultInboundAction';e={[string]$_.DefaultInboundAction}} | ConvertTo-Json"
)
GET_PROFILES = (POWERSHELL, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", SCRIPT)
PROFILES = ("Domain", "Private", "Public")
_ENABLED = {"true": True, "1": True, "notconfigured": True, "2": True, "false": False, "0": False}
_INBOUND = {"block": True, "4": True, "notconfigured": True, "0": True, "allow": False, "2": False}


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return run_command(argv, TIMEOUT_SECONDS)


def firewalls(
    env: Mapping[str, str], run: Runner = _run, encoding: str = CONSOLE_ENCODING
) -> Firewalls:
    looked_at = ("Get-NetFirewallProfile",)
    answer = ask(run, GET_PROFILES, encoding, TIMEOUT_SECONDS, missing="{} is not on this computer")
    if isinstance(answer, str):
        return Firewalls((), looked_at, (f"{answer}.",), every_one=True)
    found = parse_profiles(answer.out) if isinstance(answer, Answer) and answer.code == 0 else None
    if not found:
        note = (
            "Get-NetFirewallProfile gave no answer this agent can read "
            f"(exit status {answer.code})."
        )
        return Firewalls((), looked_at, (note,), every_one=True)
    return Firewalls(tuple(found), looked_at, every_one=True)


def parse_profiles(text: str) -> list[Firewall] | None:
    """Each known profile as a Firewall, in the order Domain, Private, Public; None when the
    text is not the JSON above."""
    try:
        data: Any = json.loads(text.strip().lstrip("\ufeff") or "null")
    except (ValueError, RecursionError):
        return None
    items = data if isinstance(data, list) else [data]  # one profile: an object alone
    found: dict[str, Firewall] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        name = str(item.get("Name", ""))
        if name not in PROFILES:
            continue
        enabled = _ENABLED.get(str(item.get("Enabled", "")).lower())
        inbound = _INBOUND.get(str(item.get("DefaultInboundAction", "")).lower())
        how = {True: "on", False: "off", None: "its state is not known"}[enabled]
        if inbound is False:
            how += ", and it allows incoming connections no rule blocks"
        found[name] = Firewall(
            f"Windows Firewall ({name} profile)",
            on=enabled,
            at_boot=None,
            blocks=inbound,
            how=how,
        )
    return [found[p] for p in PROFILES if p in found] or None
