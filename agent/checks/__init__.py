"""Every check the agent knows. Add a new check here, and only here.

CHECKS names each check by its id: the class of that name in agent/checks/<id>.py. The
classes are imported only when a command asks for them (`load_checks`), so that naming the
checks costs nothing: `hygiene status` imports none, `hygiene check --only vpn` one.
ALL_CHECKS is every class, in this order (tests/test_registry.py ties the two together).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.checks.base import Check

    ALL_CHECKS: tuple[type[Check[Any]], ...]

CHECKS: dict[str, str] = {
    "idle_sessions": "IdleSessionsCheck",
    "remote_sessions": "RemoteSessionsCheck",
    "ssh_keys": "SshKeysCheck",
    "credentials": "CredentialsCheck",
    "vpn": "VpnCheck",
    "exposed_services": "ExposedServicesCheck",
    "ssh_authorized_keys": "SshAuthorizedKeysCheck",
    "home_folders": "HomeFoldersCheck",
    "screen_lock": "ScreenLockCheck",
    "privacy_settings": "PrivacySettingsCheck",
    "disk_encryption": "DiskEncryptionCheck",
    "app_sessions": "AppSessionsCheck",
    "browser_passwords": "BrowserPasswordsCheck",
    "firewall": "FirewallCheck",
    "updates": "UpdatesCheck",
}


def load_checks(ids: Iterable[str] | None = None) -> tuple[type[Check[Any]], ...]:
    """The classes of the checks named (all of them by default), in CHECKS' order. An id
    not in CHECKS is a KeyError: callers say which ids exist before they ask."""
    wanted = CHECKS.keys() if ids is None else set(ids)
    if unknown := wanted - CHECKS.keys():
        raise KeyError(", ".join(sorted(unknown)))
    return tuple(
        getattr(importlib.import_module(f"agent.checks.{check_id}"), name)
        for check_id, name in CHECKS.items()
        if check_id in wanted
    )


def __getattr__(name: str) -> Any:
    # `from agent.checks import ALL_CHECKS` imports every check, as it always did.
    if name == "ALL_CHECKS":
        return load_checks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
