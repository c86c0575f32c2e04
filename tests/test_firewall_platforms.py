"""The firewall check's macOS and Windows probes on recorded answers (tests/data/firewall,
whose README says where each comes from): the commands cannot run here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.checks.base import CheckContext
from agent.checks.firewall import FirewallCheck, FirewallParams
from agent.errors import CheckSkipped
from agent.fingerprint import Fingerprinter
from agent.models import Finding
from agent.paths import Paths
from agent.probes import Firewalls
from agent.probes import _macos_firewall as macos
from agent.probes import _windows_firewall as windows
from tests.recorded import Answer, Recorder, recorded

DATA = Path(__file__).parent / "data" / "firewall"


def judged(tmp_path: Path, found: Firewalls) -> tuple[FirewallCheck, list[Finding]]:
    paths = Paths.from_environment({"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)})
    ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(tmp_path / "s"))
    check = FirewallCheck(FirewallParams())
    return check, check.judge(ctx, found)


def mac(answer: Answer) -> Firewalls:
    return macos.firewalls({}, run=Recorder({macos.SOCKETFILTERFW: answer}))


def win(answer: Answer) -> Firewalls:
    return windows.firewalls({}, run=Recorder({windows.GET_PROFILES: answer}), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "on", "how"),
    [
        ("macos-old-on.txt", True, "turned on"),
        ("macos-on-stealth.txt", True, "turned on, in stealth mode"),
        ("macos-block-all.txt", True, "turned on, blocking all incoming connections"),
        ("macos-off.txt", False, "turned off"),
    ],
)
def test_socketfilterfw(tmp_path: Path, name: str, on: bool, how: str) -> None:
    found = mac((0, recorded(DATA, name), b""))
    (firewall,) = found.found
    assert (firewall.name, firewall.on, firewall.how) == ("the Application Firewall", on, how)
    check, findings = judged(tmp_path, found)
    if on:
        assert findings == []
        assert check.passed == (
            "The Application Firewall refuses incoming connections you have not allowed"
        )
    else:
        (finding,) = findings
        assert finding.message == (
            "The Application Firewall is set up but not on (turned off), so nothing refuses "
            "incoming connections."
        )
        assert "socketfilterfw --setglobalstate on" in finding.advice


@pytest.mark.parametrize(
    ("answer", "note"),
    [
        (FileNotFoundError(), "socketfilterfw is not installed."),
        (
            subprocess.TimeoutExpired("socketfilterfw", 5),
            "socketfilterfw did not answer within 5 seconds.",
        ),
        (
            (0, b"\x00\xffsomething else\n", b""),
            "socketfilterfw answered in a form this agent does not know.",
        ),
    ],
)
def test_socketfilterfw_without_an_answer_cannot_tell(
    tmp_path: Path, answer: Answer, note: str
) -> None:
    found = mac(answer)
    assert found.notes == (note,)
    with pytest.raises(CheckSkipped, match="looked at socketfilterfw --getglobalstate"):
        judged(tmp_path, found)


def test_windows_every_profile_on(tmp_path: Path) -> None:
    found = win((0, recorded(DATA, "windows-all-on.json"), b""))
    assert [f.name for f in found.found] == [
        "Windows Firewall (Domain profile)",
        "Windows Firewall (Private profile)",
        "Windows Firewall (Public profile)",
    ]
    assert all(f.on and f.blocks for f in found.found)
    check, findings = judged(tmp_path, found)
    assert findings == []
    assert check.passed == (
        "Windows Firewall refuses incoming connections you have not allowed, on every network "
        "profile"
    )


@pytest.mark.parametrize(
    ("name", "profile", "reason", "advice"),
    [
        ("windows-public-off.json", "Public", "off", "-Profile Public -Enabled True"),
        (
            "windows-numbers-private-allow.json",
            "Private",
            "open",
            "-Profile Private -DefaultInboundAction Block",
        ),
    ],
)
def test_windows_one_profile_wrong_is_a_finding_though_the_others_are_right(
    tmp_path: Path, name: str, profile: str, reason: str, advice: str
) -> None:
    found = win((0, recorded(DATA, name), b""))
    _, (finding,) = judged(tmp_path, found)
    assert finding.subject == f"Windows Firewall ({profile} profile)"
    assert finding.evidence["reason"] == reason
    assert advice in finding.advice


def test_windows_one_profile_alone_and_garbage(tmp_path: Path) -> None:
    one = b'{"Name": "Public", "Enabled": "False", "DefaultInboundAction": "Block"}'
    (public,) = win((0, one, b"")).found
    assert public.on is False
    for bad in (b"", b"not json", b"[" * 100_000, b'[{"Name": "Elsewhere"}]'):
        found = win((0, bad, b""))
        assert found.found == ()
        assert found.notes == (
            "Get-NetFirewallProfile gave no answer this agent can read (exit status 0).",
        )
        with pytest.raises(CheckSkipped):
            judged(tmp_path, found)
