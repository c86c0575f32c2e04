"""Updates waiting on macOS, from Software Update's own preferences. Facts only.

`softwareupdate --list` searches Apple's servers; this module does not run it. Software
Update's daemon writes what its last search found to /Library/Preferences/
com.apple.SoftwareUpdate.plist (readable by every user), read here with plistlib (binary or
XML, at most 1 MiB):

- `RecommendedUpdates`: an array of dictionaries, one per update the last search
  recommended (`Display Name`, `Display Version`, `Identifier`, `Product Key`);
- `LastSuccessfulDate`: when a search last succeeded (a date);
- `AutomaticCheckEnabled` ("Check for updates"), `CriticalUpdateInstall` ("Install
  Security Responses and system files"), `AutomaticDownload`,
  `AutomaticallyInstallMacOSUpdates`: absent means Apple's default, on for the first two.
An administrator's profile (/Library/Managed Preferences/com.apple.SoftwareUpdate.plist)
overrides those keys, as it does for Software Update itself.

Decisions: the list does not say which update fixes security problems, and nearly every
macOS update does (Apple's security release notes): every recommended update counts as a
security update. Security updates install by themselves when "Check for updates" and
"Install Security Responses and system files" are both on. Whether a restart waits is not
told by these preferences: `restart` is None.
"""

from __future__ import annotations

import plistlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.files import read_small_file
from agent.probes import PendingUpdate, Updates

__all__ = ["parse_preferences", "updates"]

PREFERENCES = Path("/Library/Preferences/com.apple.SoftwareUpdate.plist")
MANAGED = Path("/Library/Managed Preferences/com.apple.SoftwareUpdate.plist")
MAX_PLIST = 1024 * 1024
MAX_PENDING = 1000
MANAGER = "Software Update"


def updates(
    env: Mapping[str, str],
    timeout: float = 0.0,
    preferences: Path = PREFERENCES,
    managed: Path = MANAGED,
) -> Updates:
    """`timeout` is unused: nothing is run. `preferences` and `managed` stand in for the
    files in tests."""
    problems = []
    settings: dict[str, Any] = {}
    try:
        settings = _plist(preferences)
    except FileNotFoundError:
        problems.append(
            "Software Update has not written its preferences yet (it has never checked)"
        )
    except (OSError, ValueError) as err:
        problems.append(f"Software Update's preferences could not be read ({_why(err)})")
    try:
        settings |= {k: v for k, v in _plist(managed).items() if k != "RecommendedUpdates"}
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as err:
        problems.append(
            f"your organisation's Software Update settings could not be read ({_why(err)})"
        )
    found = parse_preferences(settings)
    return Updates(
        MANAGER,
        found[0],
        # Preferences that could not be read list nothing; ones never written (Software
        # Update never searched) list nothing either: the stale check then speaks.
        listed=not problems,
        checked=found[1],
        automatic=found[2],
        automatic_how=found[3],
        problems=tuple(problems),
    )


def parse_preferences(
    settings: Mapping[str, Any],
) -> tuple[tuple[PendingUpdate, ...], datetime | None, bool, str]:
    """(recommended updates, last successful check, automatic, why) from the preferences."""
    pending = []
    recommended = settings.get("RecommendedUpdates")
    for item in recommended if isinstance(recommended, list) else []:
        if not isinstance(item, dict):
            continue
        name = item.get("Display Name") or item.get("Identifier") or item.get("Product Key")
        if not isinstance(name, str):
            continue
        version = item.get("Display Version")
        pending.append(PendingUpdate(name, "", version if isinstance(version, str) else "", True))
        if len(pending) >= MAX_PENDING:
            break
    checked = settings.get("LastSuccessfulDate")
    when = None
    if isinstance(checked, datetime):
        # plistlib gives naive datetimes in UTC.
        when = checked if checked.tzinfo else checked.replace(tzinfo=UTC)
    check_on = settings.get("AutomaticCheckEnabled", True) is not False
    install_on = settings.get("CriticalUpdateInstall", True) is not False
    if not check_on:
        how = "'Check for updates' is off"
    elif not install_on:
        how = "'Install Security Responses and system files' is off"
    else:
        how = "Software Update installs security responses by itself"
    return tuple(pending), when, check_on and install_on, how


def _plist(path: Path) -> dict[str, Any]:
    data = plistlib.loads(read_small_file(path, MAX_PLIST))
    if not isinstance(data, dict):
        raise ValueError("not a dictionary")  # noqa: TRY004 - a bad file, as plistlib's own
    return data


def _why(err: Exception) -> str:
    if isinstance(err, OSError):
        return (err.strerror or "not readable").lower()
    return "not a property list this agent can read"
