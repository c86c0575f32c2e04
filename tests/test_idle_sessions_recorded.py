"""idle_sessions and remote_sessions judging sessions read from recorded macOS and Windows
outputs (tests/data/sessions/): those systems cannot run here."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.checks.base import CheckContext
from agent.checks.idle_sessions import IdleSessionsCheck, IdleSessionsParams
from agent.checks.remote_sessions import RemoteSessionsCheck, RemoteSessionsParams
from agent.fingerprint import Fingerprinter
from agent.paths import Paths
from agent.probes import DesktopIdle, Session
from agent.probes._macos import parse_who
from agent.probes._windows import parse_quser
from tests.conftest import Machine

DATA = Path(__file__).parent / "data" / "sessions"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx(machine: Machine) -> CheckContext:
    paths = Paths.from_environment()
    return CheckContext(paths=paths, fingerprint=Fingerprinter(b"k" * 32), env={})


def with_sessions(
    monkeypatch: pytest.MonkeyPatch, found: list[Session], desktop: DesktopIdle | None = None
) -> None:
    for module in ("agent.checks.idle_sessions", "agent.checks.remote_sessions"):
        monkeypatch.setattr(f"{module}.sessions", lambda now: found)
    monkeypatch.setattr("agent.checks.idle_sessions.desktop_idle", lambda env: desktop)


def idle_subjects(ctx: CheckContext) -> list[str]:
    return [f.subject for f in IdleSessionsCheck(IdleSessionsParams()).run(ctx)]


def test_a_mac_console_is_judged_by_its_lock_not_as_a_terminal(
    ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = parse_who((DATA / "who-u-macos-freebsd.txt").read_text(), NOW, UTC)
    assert any(s.terminal == "console" for s in found)
    # HIDIdleTime says an hour: the same for the console session and the desktop.
    hour = timedelta(hours=1)
    found = [replace(s, idle=hour) if s.terminal == "console" else s for s in found]
    with_sessions(monkeypatch, found, DesktopIdle(idle=hour, locked=True, source="HIDIdleTime"))
    assert not any("console" in subject for subject in idle_subjects(ctx))
    with_sessions(monkeypatch, found, DesktopIdle(idle=hour, locked=False, source="HIDIdleTime"))
    assert [s for s in idle_subjects(ctx) if "desktop" in s or "console" in s] == [
        "the desktop (desktop)"
    ]


def test_windows_rdp_and_disconnected_sessions_are_judged(
    ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = parse_quser((DATA / "quser-rdp-and-disconnected.txt").read_text(), NOW, UTC)
    with_sessions(monkeypatch, found)
    idle = idle_subjects(ctx)
    assert any(subject.startswith("luke on ") for subject in idle)  # 1:05 idle, disconnected
    assert not any(subject.startswith("administrator ") for subject in idle)  # idle "."
    remote = RemoteSessionsCheck(RemoteSessionsParams()).run(ctx)
    assert any(f.subject.startswith("administrator from ") for f in remote)  # RDP is remote
    assert not any(f.subject.startswith("maria from ") for f in remote)  # the console is not


def test_an_idle_desktop_whose_lock_cannot_be_told_is_a_note_not_a_finding(
    ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_sessions(monkeypatch, [], DesktopIdle(timedelta(hours=2), None, "XScreenSaver"))
    check = IdleSessionsCheck(IdleSessionsParams())
    assert check.run(ctx) == []
    assert check.notes == [
        "the desktop has had no input for 2 hours; whether its screen is locked cannot be told "
        "here (XScreenSaver does not say)"
    ]


@pytest.mark.parametrize("name", ["_linux", "_macos", "_windows"])
def test_every_platform_module_offers_the_same_probes(name: str) -> None:
    # agent.probes imports the platform's module on first use, so mypy cannot see this.
    module = importlib.import_module(f"agent.probes.{name}")
    for probe, parameters in (("sessions", ["now"]), ("desktop_idle", ["env"])):
        assert list(inspect.signature(getattr(module, probe)).parameters) == parameters
