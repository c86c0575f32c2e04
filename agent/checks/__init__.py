"""Every check the agent knows. Add a new check's class here, and only here."""

from __future__ import annotations

from typing import Any

from agent.checks.base import Check
from agent.checks.credentials import CredentialsCheck
from agent.checks.disk_encryption import DiskEncryptionCheck
from agent.checks.exposed_services import ExposedServicesCheck
from agent.checks.idle_sessions import IdleSessionsCheck
from agent.checks.privacy_settings import PrivacySettingsCheck
from agent.checks.remote_sessions import RemoteSessionsCheck
from agent.checks.screen_lock import ScreenLockCheck
from agent.checks.ssh_authorized_keys import SshAuthorizedKeysCheck
from agent.checks.ssh_keys import SshKeysCheck
from agent.checks.vpn import VpnCheck

ALL_CHECKS: tuple[type[Check[Any]], ...] = (
    IdleSessionsCheck,
    RemoteSessionsCheck,
    SshKeysCheck,
    CredentialsCheck,
    VpnCheck,
    ExposedServicesCheck,
    SshAuthorizedKeysCheck,
    ScreenLockCheck,
    PrivacySettingsCheck,
    DiskEncryptionCheck,
)
