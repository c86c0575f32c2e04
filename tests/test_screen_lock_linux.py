"""screen_lock and privacy_settings on Linux, against the desktops' real settings tools.

GSettings: the real `gsettings` with Debian's gsettings-desktop-schemas (and Cinnamon's
schemas), on the keyfile backend in the test's XDG_CONFIG_HOME: the test sets values with
`gsettings set`, the check reads them back with `gsettings list-recursively`. KDE: the
kscreenlockerrc that KDE's own kwriteconfig5 writes. Other desktops: real idle lockers
(xautolock, xscreensaver, xss-lock) started on Xvfb by the test, found among this user's
processes and read from their command line or their settings file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Machine, Outcome, require_tool
from tests.test_desktop_idle import start_xvfb
from tests.test_kconfig_xfconf import Xfce, xfce  # noqa: F401 - xfce is a fixture


@pytest.fixture
def gsettings(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """`gsettings set SCHEMA KEY VALUE` into the test's own keyfile, as a person would."""
    tool = require_tool("gsettings")
    monkeypatch.setenv("GSETTINGS_BACKEND", "keyfile")

    def set_(schema: str, key: str, value: str) -> None:
        subprocess.run(
            [tool, "set", schema, key, value], env=dict(os.environ), check=True, timeout=10
        )

    return set_


def audit(hygiene: Callable[..., Outcome], check: str, *policy: Path) -> dict[str, Any]:
    args = ["check", "--json", "--only", check]
    for path in policy:
        args += ["--policy", str(path)]
    outcome = hygiene(*args)
    assert outcome.code in (0, 1), outcome.err
    (result,) = json.loads(outcome.out)["results"]
    assert isinstance(result, dict)
    return result


def policy(machine: Machine, text: str) -> Path:
    path = machine.home / "policy.yaml"
    path.write_text("schema: 1\nchecks:\n" + text)
    return path


def gnome(monkeypatch: pytest.MonkeyPatch, name: str = "ubuntu:GNOME") -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", name)


# --- GNOME and Cinnamon through the real gsettings ----------------------------------------


def test_gnome_defaults_lock_within_five_minutes(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    result = audit(hygiene, "screen_lock")
    assert result["status"] == "pass", result
    # Nothing was written: the schema's own defaults (blank after 300 s, lock at once) count.
    assert not list(machine.config.glob("glib-2.0/settings/keyfile"))


def test_gnome_blank_delay_longer_than_policy(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    gsettings("org.gnome.desktop.session", "idle-delay", "900")
    result = audit(hygiene, "screen_lock")
    assert result["status"] == "fail"
    (finding,) = result["findings"]
    assert finding["message"].startswith("Your screen locks only after 15 minutes without use")
    assert "at most 5 minutes" in finding["message"]
    assert "Screen Lock" in finding["advice"]
    # The command in the advice fixes it: the policy's figure, and no lock delay.
    assert "gsettings set org.gnome.desktop.session idle-delay 300" in finding["advice"]
    assert "gsettings set org.gnome.desktop.screensaver lock-delay 0" in finding["advice"]
    assert finding["evidence"]["locks_after"] == 900
    # The person's own policy may allow longer.
    longer = policy(machine, "  screen_lock: {max_lock_delay: 15m}\n")
    assert audit(hygiene, "screen_lock", longer)["status"] == "pass"
    shorter = policy(machine, "  screen_lock: {max_lock_delay: 2m}\n")
    (finding,) = audit(hygiene, "screen_lock", shorter)["findings"]
    assert "idle-delay 120" in finding["advice"]


def test_gnome_lock_delay_adds_to_the_blank_delay(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    gsettings("org.gnome.desktop.session", "idle-delay", "uint32 240")
    gsettings("org.gnome.desktop.screensaver", "lock-delay", "uint32 120")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "only after 6 minutes" in finding["message"]
    assert "blanks after 4 minutes idle; it locks 2 minutes later" in finding["message"]


def test_gnome_locking_turned_off_is_high(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch, "GNOME")
    gsettings("org.gnome.desktop.screensaver", "lock-enabled", "false")
    result = audit(hygiene, "screen_lock")
    (finding,) = result["findings"]
    assert finding["message"].startswith("Your screen never locks (GNOME:")
    assert "locking is turned off" in finding["message"]
    assert finding["severity"] == "high" and result["severity"] == "high"


def test_gnome_admin_lockdown_disables_the_lock(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    gsettings("org.gnome.desktop.lockdown", "disable-lock-screen", "true")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert (
        "an administrator has turned the lock screen off with org.gnome.desktop.lockdown "
        in (finding["message"])
    )
    # Not "turn it on in Settings", which the person cannot do.
    assert finding["advice"].startswith("Ask whoever manages this computer")
    assert "gsettings reset org.gnome.desktop.lockdown disable-lock-screen" in finding["advice"]


def test_gnome_never_blanks(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    gsettings("org.gnome.desktop.session", "idle-delay", "0")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert finding["message"].startswith("Your screen does not lock by itself")
    assert "the screen never blanks by itself, so it never locks by itself" in finding["message"]
    assert "locks at once" not in finding["message"]


def test_cinnamon_reads_its_own_schema(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "X-Cinnamon")
    # Cinnamon ships idle-delay 900: fifteen minutes before the saver starts.
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "Cinnamon" in finding["message"] and "15 minutes" in finding["message"]
    gsettings("org.cinnamon.desktop.session", "idle-delay", "uint32 300")
    assert audit(hygiene, "screen_lock")["status"] == "pass"
    # GNOME's keys do not count on Cinnamon.
    gsettings("org.gnome.desktop.screensaver", "lock-enabled", "false")
    assert audit(hygiene, "screen_lock")["status"] == "pass"
    gsettings("org.cinnamon.desktop.screensaver", "idle-activation-enabled", "false")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "does not lock by itself" in finding["message"]


def test_no_desktop_is_a_skip_with_the_reason(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(variable, raising=False)
    for check in ("screen_lock", "privacy_settings"):
        result = audit(hygiene, check)
        assert result["status"] == "skip"
        assert "no graphical desktop" in result["notes"][0]


def test_gsettings_missing_is_a_skip_not_a_failure(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    gnome(monkeypatch)
    monkeypatch.setenv("PATH", str(machine.home))  # no gsettings there
    result = audit(hygiene, "screen_lock")
    assert result["status"] == "skip"
    assert result["notes"] == ["GSettings cannot be read: the gsettings program is not installed."]
    # Nothing could be read, so nothing is known: skip, not "pass".
    privacy = audit(hygiene, "privacy_settings")
    assert privacy["status"] == "skip"
    assert privacy["notes"] == [
        "none of the settings could be read: GSettings cannot be read: the gsettings program "
        "is not installed"
    ]


def test_schema_not_installed_is_a_skip(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    empty = machine.home / "schemas"
    empty.mkdir()
    # GLib looks for compiled schemas in XDG_DATA_DIRS; none there, none found.
    monkeypatch.setenv("XDG_DATA_DIRS", str(empty))
    monkeypatch.setenv("XDG_DATA_HOME", str(empty))
    result = audit(hygiene, "screen_lock")
    assert result["status"] == "skip"
    assert (
        "the GSettings schema org.gnome.desktop.screensaver is not installed"
        in (result["notes"][0])
    )


# --- privacy settings through gsettings ---------------------------------------------------


def test_gnome_privacy_defaults_and_changes(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    result = audit(hygiene, "privacy_settings")
    failing = {f["evidence"]["setting"]: f for f in result["findings"]}
    # Debian's GNOME defaults: notifications on the lock screen, file history forever,
    # old files kept; location off; no reports or statistics sent.
    assert set(failing) == {"lock_screen_notifications", "recent_files", "old_files"}
    history = failing["recent_files"]["message"]
    assert history.startswith("Your file history is kept too long: ")
    assert (
        "(org.gnome.desktop.privacy remember-recent-files is true; org.gnome.desktop.privacy "
        "recent-files-max-age is forever; any one of these would do: org.gnome.desktop.privacy "
        "remember-recent-files false, org.gnome.desktop.privacy recent-files-max-age between 0 "
        "and 30 days)."
    ) in history
    # Only GNOME's own advice on GNOME.
    assert "KDE" not in failing["recent_files"]["advice"]
    assert "macOS" not in failing["lock_screen_notifications"]["advice"]

    gsettings("org.gnome.system.location", "enabled", "true")
    gsettings("org.gnome.desktop.notifications", "show-in-lock-screen", "false")
    gsettings("org.gnome.desktop.privacy", "recent-files-max-age", "30")
    gsettings("org.gnome.desktop.privacy", "remove-old-trash-files", "true")
    result = audit(hygiene, "privacy_settings")
    failing = {f["evidence"]["setting"]: f for f in result["findings"]}
    assert set(failing) == {"location", "old_files"}
    assert "remove-old-temp-files is false, expected true" in failing["old_files"]["message"]
    assert "remove-old-trash-files" not in failing["old_files"]["message"]
    assert failing["location"]["message"].startswith("Location services are on: apps can ask")

    # "Unless wanted": a person who wants location says so once.
    wanted = policy(machine, "  privacy_settings: {ignore: [location]}\n")
    still = {
        f["evidence"]["setting"] for f in audit(hygiene, "privacy_settings", wanted)["findings"]
    }
    assert still == {"old_files"}


def test_an_admin_adds_a_setting(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gnome(monkeypatch)
    camera = policy(
        machine,
        "  privacy_settings:\n"
        "    builtin: false\n"
        "    settings:\n"
        "      camera:\n"
        "        title: The camera is available to apps\n"
        "        why: an app you forgot about can see you\n"
        "        advice: Turn the camera off in Settings > Privacy & Security > Camera.\n"
        "        read:\n"
        "          - {gsettings: org.gnome.desktop.privacy, key: disable-camera, equals: true}\n",
    )
    (finding,) = audit(hygiene, "privacy_settings", camera)["findings"]
    assert finding["message"] == (
        "The camera is available to apps: an app you forgot about can see you "
        "(org.gnome.desktop.privacy disable-camera is false, expected true)."
    )
    gsettings("org.gnome.desktop.privacy", "disable-camera", "true")
    assert audit(hygiene, "privacy_settings", camera)["status"] == "pass"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "  privacy_settings: {ignore: [locaton]}\n",
            "ignore names locaton, which is no setting",
        ),
        (
            "  privacy_settings:\n    settings:\n      x: {title: t, why: w, advice: a, read: "
            "[{gsettings: org.gnome.desktop.privacy, equals: true}]}\n",
            "gsettings needs key",
        ),
        (
            "  privacy_settings:\n    settings:\n      x: {title: t, why: w, advice: a, read: "
            "[{gsettings: s, key: k}]}\n",
            "say the expected value",
        ),
        (
            "  privacy_settings:\n    settings:\n      x: {title: t, why: w, advice: a, read: "
            "[{gsettings: s, registry: r, key: k, equals: 1}]}\n",
            "name exactly one of gsettings",
        ),
        (
            "  privacy_settings:\n    settings:\n      x: {title: t, why: w, advice: a, read: "
            "[{gsettings: org.a, key: k, equals: true, at_most: 3}]}\n",
            "equals and one_of each stand alone; at_least and at_most go together",
        ),
        (
            "  privacy_settings:\n    settings:\n      x: {title: t, why: w, advice: a, read: "
            "[{gsettings: 'org gnome; rm -rf /', key: k, equals: true}]}\n",
            "gsettings 'org gnome; rm -rf /' is not a GSettings schema name",
        ),
        (
            "  privacy_settings:\n    settings:\n      x: {title: t, why: w, advice: a, "
            "read: []}\n",
            "needs at least one entry",
        ),
        ("  screen_lock: {max_lock_delay: 0s}\n", "desktops lock after a minute at the soonest"),
    ],
)
def test_broken_privacy_policies_are_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], text: str, said: str
) -> None:
    outcome = hygiene("policy", "validate", str(policy(machine, text)))
    assert outcome.code == 2
    assert said in outcome.err
    assert "Traceback" not in outcome.err and outcome.err.count("\n") == 1


# --- KDE through kwriteconfig5 ------------------------------------------------------------


@pytest.fixture
def kwrite(machine: Machine) -> Callable[..., None]:
    tool = require_tool("kwriteconfig5")

    def write(
        key: str,
        value: str,
        *,
        group: str = "Daemon",
        kind: str | None = None,
        file: str = "kscreenlockerrc",
    ) -> None:
        argv = [tool, "--file", file, "--group", group, "--key", key]
        argv += ["--type", kind] if kind else []
        subprocess.run([*argv, value], env=machine.env(), check=True, timeout=10)

    return write


def test_kde_defaults_then_what_kwriteconfig_writes(
    machine: Machine,
    kwrite: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")
    assert audit(hygiene, "screen_lock")["status"] == "pass"  # 5 minutes, as Plasma ships

    kwrite("Timeout", "10")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "only after 10 minutes" in finding["message"] and "KDE Plasma" in finding["message"]
    assert "System Settings > Screen Locking" in finding["advice"]
    assert (machine.config / "kscreenlockerrc").read_text() == "[Daemon]\nTimeout=10\n"

    kwrite("Timeout", "3")
    kwrite("LockGrace", "300")  # five minutes in which any key unlocks: not locked at all
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "only after 8 minutes" in finding["message"]

    kwrite("LockGrace", "5")
    kwrite("LockOnResume", "false", kind="bool")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert finding["subject"] == "lock on waking"
    assert "does not lock when the computer wakes from sleep" in finding["message"]

    kwrite("Autolock", "false", kind="bool")
    messages = [f["message"] for f in audit(hygiene, "screen_lock")["findings"]]
    assert messages == [
        "Your screen never locks (KDE Plasma: it never locks by itself; it does not lock "
        "when waking from sleep): anyone at your computer while you are away is signed in "
        "as you."
    ]


def test_kde_admin_default_in_xdg_config_dirs(
    machine: Machine,
    kwrite: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")
    system = machine.home / "etc-xdg"
    system.mkdir()
    (system / "kscreenlockerrc").write_text("[Daemon][$i]\nTimeout=2\n")
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(system))
    kwrite("Timeout", "30")  # immutable in the system file: KDE ignores the user's value
    assert audit(hygiene, "screen_lock")["status"] == "pass"


def test_kde_activity_history(
    machine: Machine,
    kwrite: Callable[..., None],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")
    # Plasma remembers every application's files and keeps them forever by default.
    (finding,) = audit(hygiene, "privacy_settings")["findings"]
    assert finding["evidence"]["setting"] == "recent_files"
    assert "keep-history-for is forever; any one of these would do:" in finding["message"]
    assert "what-to-remember is all applications" in finding["message"]
    assert finding["advice"].startswith("System Settings > Activities > Privacy")
    scoring = "Plugin-org.kde.ActivityManager.Resources.Scoring"
    kwrite("keep-history-for", "1", group=scoring, file="kactivitymanagerd-pluginsrc")
    assert audit(hygiene, "privacy_settings")["status"] == "pass"
    kwrite("keep-history-for", "0", group=scoring, file="kactivitymanagerd-pluginsrc")
    kwrite("what-to-remember", "2", group=scoring, file="kactivitymanagerd-pluginsrc")
    assert audit(hygiene, "privacy_settings")["status"] == "pass"


# --- idle lockers on other desktops -------------------------------------------------------


@pytest.fixture
def display(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Starts an Xvfb (extra arguments allowed) and points DISPLAY at it."""
    servers: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        server, name = start_xvfb(*extra)
        servers.append(server)
        monkeypatch.setenv("DISPLAY", name)
        return name

    for variable in ("XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION"):
        monkeypatch.delenv(variable, raising=False)
    yield start
    for server in servers:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def locker(machine: Machine) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [require_tool(argv[0]), *argv[1:]],
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        time.sleep(0.3)  # let it exec, so that its process name is its own
        assert process.poll() is None, f"{argv[0]} did not stay up"
        return process

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_no_locker_on_a_bare_x_desktop(
    machine: Machine, display: Callable[..., str], hygiene: Callable[..., Outcome]
) -> None:
    display()
    result = audit(hygiene, "screen_lock")
    (finding,) = result["findings"]
    assert finding["message"].startswith("Your screen never locks (an unnamed desktop: ")
    assert "no screen locker is running; looked for swayidle, xidlehook" in finding["message"]
    assert finding["message"].count("(") == 1
    assert "swayidle" in finding["advice"]


def test_xautolock_time_is_read_from_its_command_line(
    machine: Machine,
    display: Callable[..., str],
    locker: Callable[..., subprocess.Popen[bytes]],
    hygiene: Callable[..., Outcome],
) -> None:
    display()
    first = locker("xautolock", "-time", "10", "-locker", "i3lock")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "only after 10 minutes" in finding["message"]
    assert "xautolock starts the locker after 10 minutes idle" in finding["message"]
    # The running locker's own setting, not "start a locker".
    assert finding["advice"].startswith("Shorten the delay: restart xautolock with -time 5")
    first.terminate()
    first.wait(timeout=10)
    second = locker("xautolock", "-time", "3", "-locker", "i3lock")
    assert audit(hygiene, "screen_lock")["status"] == "pass"
    second.terminate()
    second.wait(timeout=10)
    locker("xautolock", "-time", "3", "-locker", "notify-send 'take a break'")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "xautolock runs, but what it starts is not a screen locker" in finding["message"]


def test_xscreensaver_without_lock_then_with(
    machine: Machine,
    display: Callable[..., str],
    locker: Callable[..., subprocess.Popen[bytes]],
    hygiene: Callable[..., Outcome],
) -> None:
    display()
    locker("xscreensaver", "-no-splash")
    # Debian's app-defaults: the saver starts after 10 minutes and locks nothing.
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "xscreensaver runs, but its 'Lock screen after' is off" in finding["message"]
    (machine.home / ".xscreensaver").write_text("timeout:\t0:04:00\nlock:\t\tTrue\n")
    assert audit(hygiene, "screen_lock")["status"] == "pass"
    (machine.home / ".xscreensaver").write_text(
        "timeout:\t0:04:00\nlock:\t\tTrue\nlockTimeout:\t0:03:00\n"
    )
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "xscreensaver starts after 4 minutes and locks 3 minutes later" in finding["message"]
    assert "xscreensaver-settings" in finding["advice"]
    (machine.home / ".xscreensaver").write_text("mode:\t\toff\ntimeout:\t0:03:00\nlock:\tTrue\n")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "set to 'Disable Screen Saver' (mode: off)" in finding["message"]


def test_xss_lock_follows_the_x_servers_saver(
    machine: Machine,
    display: Callable[..., str],
    locker: Callable[..., subprocess.Popen[bytes]],
    hygiene: Callable[..., Outcome],
) -> None:
    display("-s", "4")  # the X server's own saver after 4 minutes, as `xset s 240`
    locker("xss-lock", "--", "true")
    assert audit(hygiene, "screen_lock")["status"] == "pass"


def test_xss_lock_with_the_x_saver_off_locks_only_on_sleep(
    machine: Machine,
    display: Callable[..., str],
    locker: Callable[..., subprocess.Popen[bytes]],
    hygiene: Callable[..., Outcome],
) -> None:
    display("-s", "0")
    locker("xss-lock", "--", "true")
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "xss-lock runs, but the X screen saver is off" in finding["message"]
    assert "xset s 300" in finding["advice"]


# --- Xfce through xfconf-query ------------------------------------------------------------


def test_xfce_screensaver_settings_written_by_xfconf_query(
    machine: Machine,
    xfce: Xfce,  # noqa: F811 - the fixture imported above
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "XFCE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xfce.config))
    monkeypatch.setenv("XDG_CONFIG_DIRS", xfce.env["XDG_CONFIG_DIRS"])
    # xfce4-screensaver is not installed here; the probe asks only whether it is, so an
    # empty program of that name on PATH says "installed". Its settings are xfconfd's own.
    bin_ = machine.home / "bin"
    bin_.mkdir()
    (bin_ / "xfce4-screensaver").write_text("#!/bin/sh\n")
    (bin_ / "xfce4-screensaver").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    assert audit(hygiene, "screen_lock")["status"] == "pass"  # 5 minutes, lock at once

    xfce.write("xfce4-screensaver", "/saver/idle-activation/delay", ("int", "10"))
    xfce.flush()
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "only after 10 minutes" in finding["message"] and "(Xfce:" in finding["message"]
    assert "Settings > Xfce Screensaver" in finding["advice"]

    xfce.write("xfce4-screensaver", "/saver/idle-activation/delay", ("int", "3"))
    xfce.write("xfce4-screensaver", "/lock/saver-activation/delay", ("int", "1"))
    xfce.write(
        "xfce4-power-manager",
        "/xfce4-power-manager/lock-screen-suspend-hibernate",
        ("bool", "false"),
    )
    xfce.flush()
    (finding,) = audit(hygiene, "screen_lock")["findings"]  # 4 minutes: in time
    assert finding["subject"] == "lock on waking"

    xfce.write("xfce4-screensaver", "/lock/enabled", ("bool", "false"))
    xfce.flush()
    (finding,) = audit(hygiene, "screen_lock")["findings"]
    assert "; locking is turned off" in finding["message"]
    assert finding["evidence"]["reason"] == "locking off"


# --- lockers that cannot run here (Wayland), from their documented command lines ---------


def test_swayidle_and_xidlehook_command_lines(tmp_path: Path) -> None:
    from agent.probes._linux_screen import _swayidle, _xidlehook

    # sway's own example (man 1 swayidle), as /proc/PID/cmdline splits it.
    argv = [
        "-w", "timeout", "300", "swaylock -f -c 000000",
        "timeout", "600", 'swaymsg "output * dpms off"', "resume", 'swaymsg "output * dpms on"',
        "before-sleep", "swaylock -f -c 000000",
    ]  # fmt: skip
    found = _swayidle(argv, {"HOME": str(tmp_path)})
    assert found.locks_after is not None and found.locks_after.total_seconds() == 300
    assert found.on_resume is True
    # Only a screen-off timeout: swayidle runs but nothing locks.
    found = _swayidle(["timeout", "600", 'swaymsg "output * dpms off"'], {"HOME": str(tmp_path)})
    assert found.enabled is False and found.locks_after is None
    # No events on the command line: its config file.
    config = tmp_path / ".config" / "swayidle"
    config.mkdir(parents=True)
    (config / "config").write_text(
        "timeout 240 'loginctl lock-session'\nlock 'swaylock -f'\nbefore-sleep 'swaylock -f'\n"
    )
    found = _swayidle(["-w"], {"HOME": str(tmp_path)})
    assert found.locks_after is not None and found.locks_after.total_seconds() == 240
    # xidlehook's README: dim after 60 s, then lock 60 s later; timers run in turn.
    dim = ["--timer", "60", "xrandr --brightness .1", "xrandr --brightness 1"]
    found = _xidlehook(["--not-when-fullscreen", *dim, "--timer", "60", "i3lock", ""])
    assert found.locks_after is not None and found.locks_after.total_seconds() == 120


# --- privacy: what the checks read stays what they name -----------------------------------


def test_canaries_in_settings_and_command_lines_never_come_out(
    machine: Machine,
    gsettings: Callable[..., None],
    display: Callable[..., str],
    locker: Callable[..., subprocess.Popen[bytes]],
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GNOME keeps the HTTP proxy password in GSettings and a locker's command line can hold
    anything: neither may appear in what the checks say, log or keep."""
    from tests.test_privacy import kept_on_disk

    canary = "Canary-7f3a9c-proxy"
    gsettings("org.gnome.system.proxy.http", "authentication-password", f"'{canary}'")
    display()
    locker("xautolock", "-time", "10", "-locker", f"true {canary}-locker")
    for desktop in ("GNOME", ""):  # GSettings; then the bare display and its locker
        monkeypatch.setenv("XDG_CURRENT_DESKTOP", desktop)
        said = [
            hygiene("check", "--json", "--only", c) for c in ("screen_lock", "privacy_settings")
        ]
        said.append(hygiene("run", "--once"))
        text = " ".join(o.out + o.err for o in said)
        assert "xautolock" in text or "GNOME" in text  # the checks did run
        assert canary not in text
        assert not any(canary in view for view in kept_on_disk(machine.state))


def test_other_programs_command_lines_are_not_even_read(
    machine: Machine, display: Callable[..., str], hygiene: Callable[..., Outcome]
) -> None:
    """psutil reads a command line to name a process whose short name was cut at 15
    characters; the probe names processes by the kernel's short name alone."""
    import shutil
    import sys

    display()
    program = machine.home / "my-backup-uploader"  # 18 characters: the kernel keeps 15
    shutil.copy(require_tool("sleep"), program)
    uploader = subprocess.Popen([str(program), "30", "--password=Canary-cmdline-55"])
    opened: list[str] = []
    watching = [True]

    def watch(event: str, args: tuple[object, ...]) -> None:
        if watching[0] and event == "open" and args and isinstance(args[0], str | bytes | Path):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(watch)  # hooks cannot be removed; this one goes quiet below
    try:
        result = audit(hygiene, "screen_lock")
    finally:
        watching[0] = False
        uploader.kill()
        uploader.wait()
    assert result["status"] == "fail"  # it looked, and found no locker
    assert f"/proc/{uploader.pid}/comm" in opened
    assert not [path for path in opened if path.endswith("/cmdline")]


def test_an_admins_setting_on_a_secret_key_never_shows_its_value(
    machine: Machine,
    gsettings: Callable[..., None],
    hygiene: Callable[..., Outcome],
    hygiene_process: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_privacy import kept_on_disk

    gnome(monkeypatch)
    canary = "Canary-proxy-secret-42"
    gsettings("org.gnome.system.proxy.http", "authentication-password", f"'{canary}'")
    (machine.user_policies / "proxy.yaml").write_text(
        "schema: 1\nchecks:\n  privacy_settings:\n    builtin: false\n    settings:\n"
        "      proxy_password:\n        title: A proxy password is kept in plain text\n"
        "        why: any program you run can read it\n"
        "        advice: Clear it in Settings > Network > Network Proxy.\n"
        "        read:\n"
        "          - {gsettings: org.gnome.system.proxy.http, key: authentication-password,"
        ' equals: ""}\n'
    )
    (finding,) = audit(hygiene, "privacy_settings")["findings"]
    assert finding["message"].endswith(
        "(org.gnome.system.proxy.http authentication-password is not empty)."
    )
    assert "value" not in finding["evidence"]
    env = {**machine.env(), "GSETTINGS_BACKEND": "keyfile", "XDG_CURRENT_DESKTOP": "GNOME"}
    said = [hygiene_process("run", "--once", env=env), hygiene_process("status", env=env)]
    assert not any(canary in o.out + o.err for o in said)
    assert not any(canary in view for view in kept_on_disk(machine.state))
