"""Updates waiting on Windows, from the update agent's own records, without a search online.
Facts only.

One PowerShell script (no profile, no console window, the check's time limit) prints one
line of JSON:

- `pending`: the Windows Update Agent's search of its local cache
  (Microsoft.Update.Session's IUpdateSearcher with `Online = $false`, so no server is
  asked), for "IsInstalled=0 and IsHidden=0 and Type='Software'": each update's title and
  whether it is a security one (in the category "Security Updates",
  0FA1201D-4330-4FA8-8AE9-B877473B6441, or given an MSRC severity);
- `lastSearch`: Microsoft.Update.AutoUpdate's Results.LastSearchSuccessDate, when a search
  last succeeded (ISO 8601, UTC), or null;
- `noAutoUpdate`, `auOptions`: the policy values under
  HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU (NoAutoUpdate 1: automatic
  updates off; AUOptions 2: notify before downloading), or null when no policy sets them;
- `rebootRequired`: whether the key ...\\WindowsUpdate\\Auto Update\\RebootRequired exists
  (Windows Update writes it when installed updates wait for a restart).

Decisions: without a policy, Windows installs updates by itself (automatic true); with
NoAutoUpdate 1 or AUOptions 2 it does not. A script that fails or prints what this module
does not know is a problem in the answer, never an exception.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from agent.probes import PendingUpdate, Updates
from agent.probes._windows_console import CONSOLE_ENCODING, Answer, ask, run_command
from agent.probes._windows_disk import POWERSHELL

__all__ = ["SCRIPT", "parse_answer", "updates"]

MANAGER = "Windows Update"
MAX_PENDING = 1000
SECURITY_CATEGORY = "0FA1201D-4330-4FA8-8AE9-B877473B6441"
SCRIPT = (
    "$r=@{};"
    "try{$s=(New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher();"
    "$s.Online=$false;"
    "$u=$s.Search(\"IsInstalled=0 and IsHidden=0 and Type='Software'\").Updates;"
    "$r.pending=@($u|%{@{title=$_.Title;security=[bool]($_.MsrcSeverity -or "
    "($_.Categories|?{$_.CategoryID -eq '" + SECURITY_CATEGORY + "'}))}})}"
    "catch{$r.pending=$null};"
    "try{$d=(New-Object -ComObject Microsoft.Update.AutoUpdate).Results.LastSearchSuccessDate;"
    "$r.lastSearch=$d.ToUniversalTime().ToString('o')}catch{$r.lastSearch=$null};"
    "$p=Get-ItemProperty 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU' "
    "-ErrorAction SilentlyContinue;$r.noAutoUpdate=$p.NoAutoUpdate;$r.auOptions=$p.AUOptions;"
    "$r.rebootRequired=Test-Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\"
    "WindowsUpdate\\Auto Update\\RebootRequired';"
    "$r|ConvertTo-Json -Depth 4 -Compress"
)

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[bytes]]


def argv() -> tuple[str, ...]:
    return (POWERSHELL, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", SCRIPT)


def updates(env: Mapping[str, str], timeout: float = 50.0, run: Runner | None = None) -> Updates:
    """`run` stands in for the command in tests."""

    def _run(command: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        return run_command(command, timeout)

    said = ask(run or _run, argv(), CONSOLE_ENCODING, timeout, missing="{} is not on this computer")
    if isinstance(said, str):
        return Updates(
            MANAGER, (), listed=False, problems=(f"Windows Update could not be asked: {said}",)
        )
    found = parse_answer(said) if said.code == 0 else None
    if found is None:
        return Updates(
            MANAGER,
            (),
            listed=False,
            problems=(f"Windows Update's answer could not be read (exit status {said.code})",),
        )
    return found


def parse_answer(said: Answer) -> Updates | None:
    """The script's JSON as Updates; None when it is not the script's."""
    try:
        data = json.loads(said.out.strip() or "null")
    except ValueError:
        return None
    if not isinstance(data, dict) or "rebootRequired" not in data:
        return None
    problems = []
    pending = []
    listed = data.get("pending")
    if isinstance(listed, dict):  # ConvertTo-Json writes an array of one as the item alone
        listed = [listed]
    if listed is None:
        problems.append("the updates Windows already found could not be listed")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and isinstance(item.get("title"), str):
            pending.append(PendingUpdate(item["title"], "", "", item.get("security") is True))
        if len(pending) >= MAX_PENDING:
            break
    automatic, how = _policy(data.get("noAutoUpdate"), data.get("auOptions"))
    return Updates(
        MANAGER,
        tuple(pending),
        listed=listed is not None,
        checked=_date(data.get("lastSearch")),
        automatic=automatic,
        automatic_how=how,
        restart=data.get("rebootRequired") is True,
        problems=tuple(problems),
    )


def _policy(no_auto: Any, options: Any) -> tuple[bool, str]:
    if no_auto == 1:
        return False, "a policy turned automatic updates off (NoAutoUpdate is 1)"
    if options == 2:
        return False, "a policy asks before anything is downloaded (AUOptions is 2)"
    return True, "Windows installs updates by itself"


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # The agent's "never" is year 1 or 1601 in COM dates: no successful search.
    return when if when.year > 1990 and when.tzinfo is not None else None
