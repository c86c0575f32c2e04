"""What a person on a Mac or a Windows PC is told by screen_lock, privacy_settings and
disk_encryption, with the probes answering from recorded outputs (tests/data/screen/).

Neither system runs here: the platform probes are called with the Recorder of
tests/recorded.py standing in for their commands, and the checks are handed
what those probes return, through `hygiene check --json` as a person would run it.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from agent import probes
from agent.checks import disk_encryption, privacy_settings, screen_lock
from agent.probes import Desktop, Setting, SettingRead, _macos_disk, _windows_disk, _windows_screen
from tests.conftest import Machine, Outcome
from tests.recorded import Answer, Recorder
from tests.test_screen_platforms import (
    ADS,
    ADVERTISING,
    ANALYTICS,
    LOCATION,
    LOCATION_DENIED,
    LOCATION_MACHINE,
    LOCATION_USER,
    PREVIEWS,
    TAILORED,
    TELEMETRY,
    TELEMETRY_POLICY,
    TOASTS,
    ask,
    defaults,
    failed,
    mac_lock,
    ok,
    read_mac,
    said,
)


def result_of(hygiene: Callable[..., Outcome], check: str) -> dict[str, Any]:
    outcome = hygiene("check", "--json", "--only", check)
    assert outcome.code in (0, 1), outcome.err
    (result,) = json.loads(outcome.out)["results"]
    assert isinstance(result, dict)
    return result


def on(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    found = Desktop(kind, "macOS" if kind == "macos" else "Windows")
    monkeypatch.setattr(privacy_settings, "desktop", lambda env: found)
    platform = "darwin" if kind == "macos" else "win32"
    monkeypatch.setattr(disk_encryption, "sys", types.SimpleNamespace(platform=platform))


# --- macOS --------------------------------------------------------------------------------


def test_mac_screen_lock_after_the_display_sleeps(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:

    found, _ = mac_lock()  # password at once; display sleeps after 10 minutes on power
    monkeypatch.setattr(screen_lock, "screen_lock", lambda env: found)
    (finding,) = result_of(hygiene, "screen_lock")["findings"]
    assert finding["message"].startswith(
        "Your screen locks only after 10 minutes without use (macOS:"
    )
    assert "System Settings > Lock Screen" in finding["advice"]

    off, _ = mac_lock(lock=said("macos-sysadminctl-screenlock-off.stderr"))
    monkeypatch.setattr(screen_lock, "screen_lock", lambda env: off)
    result = result_of(hygiene, "screen_lock")
    assert [f["reason"] for f in (f["evidence"] for f in result["findings"])] == ["locking off"]
    assert result["severity"] == "high"


def test_mac_privacy_as_recorded(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:

    on(monkeypatch, "macos")
    answers: dict[tuple[str, ...], Answer] = {
        defaults(ANALYTICS): ok("macos-defaults-autosubmit-on.txt"),
        defaults(ADS): ok("macos-defaults-adlib-off.txt"),
        defaults(LOCATION): failed("macos-defaults-locationd-denied.stderr"),
        defaults(PREVIEWS): ok("macos-defaults-content-visibility.txt"),
    }

    def read(settings: Iterable[Setting], env: Mapping[str, str]) -> dict[Setting, SettingRead]:
        return read_mac(list(settings), answers, unreadable={LOCATION.path[0]})[0]

    monkeypatch.setattr(privacy_settings, "read_settings", read)
    result = result_of(hygiene, "privacy_settings")
    (finding,) = result["findings"]
    assert finding["evidence"]["setting"] == "problem_reporting"
    assert "AutoSubmit is 1, expected false" in finding["message"]
    assert "Share Mac Analytics off" in finding["advice"]
    # Location Services is root's to read: said, not guessed.
    assert result["notes"] == [f"Location services: could not be read ({LOCATION_DENIED})."]


def test_mac_filevault(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:

    on(monkeypatch, "macos")
    for name, failing in (
        ("macos-fdesetup-on.txt", False),
        ("macos-fdesetup-off.txt", True),
        ("macos-fdesetup-encrypting.txt", True),
    ):
        run = Recorder({_macos_disk.FDESETUP_STATUS: ok(name)})
        found = _macos_disk.disk_encryption("/Users/sam", run)
        # The check reads the disks through agent.probes (agent/checks/_disks.py).
        monkeypatch.setattr(probes, "disk_encryption", lambda home, f=found: f)
        result = result_of(hygiene, "disk_encryption")
        assert (result["status"] == "fail") is failing, name
        for finding in result["findings"]:
            assert "Turn on FileVault" in finding["advice"]
            assert finding["subject"] == "the system (/) and your home folder"


# --- Windows ------------------------------------------------------------------------------


def test_windows_privacy_as_recorded(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:

    on(monkeypatch, "windows")
    answers: dict[tuple[str, ...], Answer] = {
        ask(TELEMETRY_POLICY): ok("windows-reg-value-allowtelemetry-policy.txt"),
        ask(TELEMETRY): ok("windows-reg-value-allowtelemetry.txt"),
        ask(LOCATION_USER): ok("windows-reg-value-location-user.txt"),
        ask(LOCATION_MACHINE): ok("windows-reg-value-location-machine.txt"),
        ask(ADVERTISING): ok("windows-reg-value-advertising-id.txt"),
        ask(TAILORED): ok("windows-reg-value-tailored-experiences.txt"),
        ask(TOASTS): ok("windows-reg-value-toasts-above-lock.txt"),
    }

    def read(settings: Iterable[Setting], env: Mapping[str, str]) -> dict[Setting, SettingRead]:
        return _windows_screen.read_settings(list(settings), {}, Recorder(answers), "cp437")

    monkeypatch.setattr(privacy_settings, "read_settings", read)
    (finding,) = result_of(hygiene, "privacy_settings")["findings"]
    # Group Policy's AllowTelemetry 1 decides over the Settings app's 3; location is off
    # for the device; only tailored experiences are on.
    assert finding["evidence"]["setting"] == "tailored_experiences"
    assert finding["message"] == (
        "Tips and ads are tailored from your diagnostic data: Microsoft uses what your "
        "computer reports about you to pick what it shows you (HKCU\\Software\\Microsoft\\"
        "Windows\\CurrentVersion\\Privacy TailoredExperiencesWithDiagnosticDataEnabled is 1, "
        "expected 0)."
    )


def test_windows_bitlocker(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:

    on(monkeypatch, "windows")
    env = {"SystemDrive": "C:", "USERPROFILE": "C:\\Users\\sam"}
    for name, failing in (
        ("windows-manage-bde-fully-encrypted.txt", False),
        ("windows-manage-bde-fully-decrypted.txt", True),
        ("windows-manage-bde-suspended.txt", True),
    ):
        run = Recorder({_windows_disk.manage_bde_status("C:"): ok(name)})
        found = _windows_disk.disk_encryption("C:\\Users\\sam", run, env)
        # The check reads the disks through agent.probes (agent/checks/_disks.py).
        monkeypatch.setattr(probes, "disk_encryption", lambda home, f=found: f)
        result = result_of(hygiene, "disk_encryption")
        assert (result["status"] == "fail") is failing, name
        for finding in result["findings"]:
            assert "Turn on BitLocker" in finding["advice"]
