"""`updates` where it cannot run here: dnf, zypper, PackageKit, macOS and Windows, on the
recorded answers in tests/data/updates (README.md there says where each format comes from)."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.probes import Updates
from agent.probes._command import Answer
from agent.probes._linux_updates import (
    dnf_updates,
    packagekit_updates,
    parse_apt_simulation,
    parse_dnf_updateinfo,
    parse_prepared_update,
    parse_zypper_patches,
    zypper_updates,
)
from agent.probes._macos_updates import updates as macos_updates
from agent.probes._windows_updates import argv as windows_argv
from agent.probes._windows_updates import updates as windows_updates
from tests.recorded import Recorder, recorded

DATA = Path(__file__).parent / "data" / "updates"


class Asked:
    """Stands in for the Linux probes' runner: an Answer (or a reason) per command line."""

    def __init__(self, answers: dict[tuple[str, ...], Answer | str]) -> None:
        self.answers = answers

    def __call__(self, argv: Sequence[str]) -> Answer | str:
        if tuple(argv) not in self.answers:
            raise AssertionError(f"unexpected command: {argv}")
        return self.answers[tuple(argv)]


DNF_LIST = ("dnf", "-C", "-q", "updateinfo", "list", "--security", "--available")
DNF_RESTART = ("dnf", "-C", "-q", "needs-restarting", "-r")
ZYPPER_LIST = (
    "zypper", "--no-refresh", "--non-interactive", "--xmlout", "list-patches", "--category",
    "security",
)  # fmt: skip


def _text(name: str) -> str:
    return recorded(DATA, name).decode()


def _root(tmp_path: Path, **files: str) -> Path:
    for path, text in files.items():
        target = tmp_path / path.replace("__", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return tmp_path


def test_dnf4_security_advisories_one_per_package() -> None:
    found = parse_dnf_updateinfo(_text("dnf4-updateinfo.txt"))
    assert found is not None
    assert [p.name for p in found] == ["openssl-libs", "openssl", "curl", "vim-minimal"]
    assert all(p.security for p in found)
    assert found[2].available == "8.2.1-6.fc39"  # the newer of curl's two advisories


def test_dnf5_advisory_table() -> None:
    found = parse_dnf_updateinfo(_text("dnf5-advisory.txt"))
    assert found is not None
    assert [(p.name, p.available) for p in found] == [
        ("openssl-libs", "1:3.2.2-3.fc41"),
        ("glibc", "2.40-17.fc41"),
    ]


@pytest.mark.parametrize("text", ["Error: Cache-only enabled but no cache", "\x00\x01garbage x"])
def test_dnf_text_it_does_not_know(text: str) -> None:
    assert parse_dnf_updateinfo(text) is None


def test_dnf_probe(tmp_path: Path) -> None:
    old = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    root = _root(
        tmp_path,
        var__cache__dnf__updates__repodata__repomd_xml="<repomd/>",
        etc__systemd__system__timers_target_wants__dnf_automatic_timer="",
        etc__dnf__automatic_conf="[commands]\napply_updates = no\n",
    )
    # The helper's names use _ for the dots of real names.
    for wrong, right in (
        ("repomd_xml", "repomd.xml"),
        ("timers_target_wants", "timers.target.wants"),
        ("dnf_automatic_timer", "dnf-automatic.timer"),
        ("automatic_conf", "automatic.conf"),
    ):
        for path in list(root.rglob(f"*{wrong}*")):
            path.rename(path.with_name(path.name.replace(wrong, right)))
    (root / "var/cache/dnf/updates/repodata/repomd.xml").touch()
    os.utime(root / "var/cache/dnf/updates/repodata/repomd.xml", (old, old))
    asked = Asked(
        {DNF_LIST: Answer(0, _text("dnf4-updateinfo.txt")), DNF_RESTART: Answer(1, "Reboot")}
    )
    found = dnf_updates(asked, "dnf", root)
    assert found.manager == "dnf" and len(found.pending) == 4
    assert found.checked == datetime(2024, 3, 1, tzinfo=UTC)
    assert found.automatic is False and "apply_updates is off" in found.automatic_how
    assert found.restart is True
    assert found.problems == ()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (Answer(1, ""), "dnf could not tell what is waiting from its cache (exit status 1)"),
        ("dnf did not answer within 8 seconds", "dnf did not answer within 8 seconds"),
        (Answer(0, "what is this"), "dnf answered in a form this agent does not know"),
    ],
)
def test_dnf_that_fails_is_a_problem(tmp_path: Path, answer: Answer | str, problem: str) -> None:
    found = dnf_updates(Asked({DNF_LIST: answer, DNF_RESTART: Answer(2, "")}), "dnf", tmp_path)
    assert not found.listed
    assert any(problem in p for p in found.problems), found.problems
    assert found.pending == () and found.restart is None


def test_zypper_security_patches(tmp_path: Path) -> None:
    found = parse_zypper_patches(_text("zypper-list-patches.xml"))
    assert found is not None
    assert [(p.name, p.security) for p in found] == [
        ("openSUSE-SLE-15.6-2025-123", True),
        ("openSUSE-SLE-15.6-2025-456", True),
    ]
    root = _root(tmp_path, etc__sysconfig__automatic_online_update='AOU_ENABLE_CRONJOB="true"\n')
    asked = Asked(
        {
            ZYPPER_LIST: Answer(101, _text("zypper-list-patches.xml")),
            ("zypper", "needs-rebooting"): Answer(102, ""),
        }
    )
    probed = zypper_updates(asked, root)
    assert len(probed.pending) == 2 and probed.automatic is True and probed.restart is True
    busy = zypper_updates(
        Asked({ZYPPER_LIST: Answer(7, ""), ("zypper", "needs-rebooting"): Answer(0, "")}), root
    )
    assert busy.problems == ("zypper is busy with another program (its lock is held)",)
    assert busy.restart is False


@pytest.mark.parametrize("text", ["", "<stream><update name='x'", "not xml at all"])
def test_zypper_text_it_does_not_know(text: str) -> None:
    assert parse_zypper_patches(text) is None


def test_packagekit_prepared_update(tmp_path: Path) -> None:
    assert parse_prepared_update(_text("prepared-update")) == ("gimp", "bash", "openssl-libs")
    assert parse_prepared_update(_text("prepared-update-old")) == ("powertop", "bash")
    assert parse_prepared_update("[update]\nother=1\n") is None
    assert packagekit_updates(tmp_path) is None
    folder = tmp_path / "var/lib/PackageKit"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "prepared-update", folder / "prepared-update")
    found = packagekit_updates(tmp_path)
    assert isinstance(found, Updates)
    assert found.manager == "PackageKit" and found.prepared == 3
    (folder / "prepared-update").unlink()
    os.mkfifo(folder / "prepared-update")  # never opened: no block
    broken = packagekit_updates(tmp_path)
    assert broken is not None and broken.problems == (
        "PackageKit's prepared update could not be read (not a regular file)",
    )


def test_apt_simulation_lines_without_label_or_version() -> None:
    # RelStr leaves out what the Release file does not give (apt's pkgcache.cc).
    text = (
        "Inst a [1] (2 stable-security [amd64])\n"
        "Inst b [1] (2 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])\n"
        "Inst c [1] (2 UbuntuESMApps:22.04/jammy-apps-security [amd64])\n"
        "Inst d [1] (2 localhost [all])\n"
        "Inst e:i386 [1] (2 Debian:12.5/stable [i386]) []\n"
    )
    found = parse_apt_simulation(text)
    assert found is not None
    assert [(p.name, p.security) for p in found] == [
        ("a", True), ("b", True), ("c", True), ("d", False), ("e:i386", False),
    ]  # fmt: skip


# --- macOS -----------------------------------------------------------------------------------


def test_macos_recommended_updates_and_settings(tmp_path: Path) -> None:
    found = macos_updates({}, 0, DATA / "com.apple.SoftwareUpdate.plist", tmp_path / "none")
    assert [(p.name, p.available, p.security) for p in found.pending] == [
        ("macOS Sonoma 14.4.1", "14.4.1", True),
        ("Safari", "17.4.1", True),
    ]
    assert found.checked == datetime(2024, 3, 20, 8, 15, 42, tzinfo=UTC)
    assert found.automatic is False
    assert found.automatic_how == "'Install Security Responses and system files' is off"
    assert found.restart is None and found.problems == () and found.listed


def test_macos_managed_settings_override_and_binary_plists(tmp_path: Path) -> None:
    settings = plistlib.loads(recorded(DATA, "com.apple.SoftwareUpdate.plist"))
    binary = tmp_path / "prefs.plist"
    binary.write_bytes(plistlib.dumps(settings, fmt=plistlib.FMT_BINARY))
    managed = tmp_path / "managed.plist"
    managed.write_bytes(plistlib.dumps({"CriticalUpdateInstall": True}))
    found = macos_updates({}, 0, binary, managed)
    assert found.automatic is True and len(found.pending) == 2


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "Software Update has not written its preferences yet"),
        (b"\x00garbage", "Software Update's preferences could not be read"),
        (plistlib.dumps(["a list"]), "Software Update's preferences could not be read"),
    ],
)
def test_macos_preferences_it_cannot_use(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "prefs.plist"
    if content is not None:
        path.write_bytes(content)
    found = macos_updates({}, 0, path, tmp_path / "none")
    assert found.pending == () and not found.listed
    assert any(problem in p for p in found.problems)
    assert found.automatic is True  # Apple's defaults where nothing is written


# --- Windows ---------------------------------------------------------------------------------


def _windows(answer: tuple[int, bytes, bytes] | OSError | subprocess.TimeoutExpired) -> Updates:
    return windows_updates({}, 5, Recorder({windows_argv(): answer}))


def test_windows_pending_updates_policy_and_restart() -> None:
    found = _windows((0, recorded(DATA, "windows-pending.json"), b""))
    assert [p.security for p in found.pending] == [True, False]
    assert "KB5035853" in found.pending[0].name
    assert found.automatic is False and "NoAutoUpdate is 1" in found.automatic_how
    assert found.restart is True
    assert found.checked == datetime(2024, 3, 18, 6, 2, 11, tzinfo=UTC)


def test_windows_one_update_is_an_object_not_a_list() -> None:
    found = _windows((0, recorded(DATA, "windows-one.json"), b""))
    assert len(found.pending) == 1 and not found.pending[0].security
    assert found.automatic is True and found.restart is False


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ((1, b"", b"denied"), "Windows Update's answer could not be read (exit status 1)"),
        ((0, b"{not json", b""), "Windows Update's answer could not be read (exit status 0)"),
        (FileNotFoundError(), "powershell.exe is not on this computer"),
        (subprocess.TimeoutExpired("powershell", 5), "did not answer within 5 seconds"),
    ],
)
def test_windows_that_fails_is_a_problem(
    answer: tuple[int, bytes, bytes] | OSError | subprocess.TimeoutExpired, problem: str
) -> None:
    found = _windows(answer)
    assert found.pending == () and not found.listed
    assert any(problem in p for p in found.problems), found.problems
