"""A text value read from a setting is never quoted, whatever rule a policy points at it.

GNOME keeps the HTTP proxy's password in a GSettings key; a KDE or Xfce file, a macOS
domain or a registry value can hold a secret just as well. A policy (an admin's, or one a
person was talked into adding) can name such a key with any comparison. Each test plants a
canary there with the desktop's own tool (gsettings on the keyfile backend, kwriteconfig5,
xfconf-query through xfconfd on a private bus) or, for macOS and Windows, in the recorded
output of `defaults read` and `reg query`, points one rule of each comparison at it, and
looks for the canary in everything the agent says, logs, stores and sends.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agent.checks import privacy_settings
from agent.probes import Desktop, Setting, SettingRead, _macos_screen, _windows_screen
from tests.conftest import Machine, Outcome, require_tool
from tests.desktop import Desktop as RealDesktop
from tests.recorded import Answer, Recorder
from tests.test_kconfig_xfconf import Kde, Xfce, kde, xfce  # noqa: F401 - fixtures
from tests.test_privacy import everything_shown, kept_on_disk

CANARY = "S3cretCanary42"
# Text that reads as a number (a PIN) is still text: never quoted either.
NUMERIC_CANARY = "90210417"
# One rule per comparison, each of which the canary fails or cannot be compared with.
RULES: dict[str, dict[str, Any]] = {
    "equals": {"equals": False},
    "one_of": {"one_of": [1, 2]},
    "at_least": {"at_least": 1e12},
    "at_most": {"at_most": 0},
    "default": {"at_most": 0, "default": 7},
}


def canary_policy(machine: Machine, where: dict[str, Any], desktop: str) -> Path:
    settings = {
        f"canary_{name}": {
            "name": f"Canary {name}",
            "title": f"Canary rule {name}",
            "why": "a test",
            "advice": "nothing",
            "read": [{**where, **rule, "desktops": [desktop]}],
        }
        for name, rule in RULES.items()
    }
    body = {
        "schema": 1,
        "checks": {
            "privacy_settings": {"builtin": False, "severity": "high", "settings": settings}
        },
    }
    path = machine.user_policies / "canary.yaml"
    path.write_text(json.dumps(body))  # JSON is YAML
    machine.keep_only("privacy_settings")
    return path


def everything_said(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    policy: Path,
) -> tuple[str, dict[str, Any]]:
    """All the person and the admin could see: text and JSON, a full cycle with its
    notifications and log, status, the history, and every byte of the state folder."""
    assert policy.exists()
    said = everything_shown(
        machine,
        hygiene,
        caplog,
        [
            ("check", "--only", "privacy_settings"),
            ("-v", "check", "--json", "--only", "privacy_settings"),
            ("run", "--once"),
            ("status",),
            ("status", "--json"),
            ("notifications", "--json"),
        ],
    )
    result = json.loads(hygiene("check", "--json", "--only", "privacy_settings").out)
    (checked,) = result["results"]
    return said, checked


def assert_judged_without_quoting(checked: dict[str, Any], said: str, canary: str) -> None:
    assert canary not in said
    failed = {f["evidence"]["setting"] for f in checked["findings"]}
    # Compared as text or as a yes/no: it is not what the rule asks, and said so.
    assert {"canary_equals", "canary_one_of"} <= failed, checked
    for finding in checked["findings"]:
        assert "value" not in finding["evidence"], finding
    told = " ".join(checked["notes"]) + " ".join(f["message"] for f in checked["findings"])
    # Range rules cannot compare text: the person is told it could not be checked.
    assert "Canary at_most" in told or "canary_at_most" in failed


# --- Linux, with the desktops' own tools ------------------------------------------------


@pytest.mark.parametrize("canary", [CANARY, NUMERIC_CANARY])
def test_gsettings_text_is_never_quoted(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    canary: str,
) -> None:
    tool = require_tool("gsettings")
    monkeypatch.setenv("GSETTINGS_BACKEND", "keyfile")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    schema, key = "org.gnome.system.proxy.http", "authentication-password"
    subprocess.run([tool, "set", schema, key, canary], check=True, timeout=10)
    read = subprocess.run([tool, "get", schema, key], capture_output=True, text=True, check=True)
    assert canary in read.stdout  # really there, where the agent will read it
    policy = canary_policy(machine, {"gsettings": schema, "key": key}, "gnome")
    said, checked = everything_said(machine, hygiene, caplog, policy)
    assert_judged_without_quoting(checked, said, canary)


def test_gsettings_canary_reaches_no_notification(
    machine: Machine,
    desktop: RealDesktop,
    hygiene_process: Callable[..., Outcome],
) -> None:
    """The real agent in its own process, telling a real notification server."""
    tool = require_tool("gsettings")
    env = {
        **machine.env(),
        **desktop.env,
        "GSETTINGS_BACKEND": "keyfile",
        "XDG_CURRENT_DESKTOP": "GNOME",
    }
    schema, key = "org.gnome.system.proxy.http", "authentication-password"
    subprocess.run([tool, "set", schema, key, CANARY], env=env, check=True, timeout=10)
    canary_policy(machine, {"gsettings": schema, "key": key}, "gnome")
    ran = hygiene_process("-v", "run", "--once", env=env)
    status = hygiene_process("status", "--json", env=env)
    shown = desktop.received(at_least=1)
    assert any("Canary rule" in n.text or "privacy" in n.text.lower() for n in shown), shown
    for notice in shown:
        assert CANARY not in notice.text + notice.body + notice.message
    assert CANARY not in ran.out + ran.err + status.out + status.err
    assert not any(CANARY in view for view in kept_on_disk(machine.state))


def test_kconfig_text_is_never_quoted(
    machine: Machine,
    kde: Kde,  # noqa: F811
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert kde.config == machine.config  # the same home: kwriteconfig5 writes the person's file
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")
    kde.write("canarytestrc", "Proxy", "Password", CANARY)
    assert CANARY in (machine.config / "canarytestrc").read_text()
    where = {"kconfig": "canarytestrc", "group": "Proxy", "key": "Password"}
    said, checked = everything_said(machine, hygiene, caplog, canary_policy(machine, where, "kde"))
    assert_judged_without_quoting(checked, said, CANARY)


def test_xfconf_text_is_never_quoted(
    machine: Machine,
    xfce: Xfce,  # noqa: F811
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert xfce.config == machine.config
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "XFCE")
    xfce.write("canary-test", "/proxy/password", ("string", CANARY))
    xfce.flush()  # xfconfd writes the channel's file as it exits
    assert CANARY in xfce.user_path("canary-test").read_text()
    where = {"xfconf": "canary-test", "property": "/proxy/password"}
    said, checked = everything_said(machine, hygiene, caplog, canary_policy(machine, where, "xfce"))
    assert_judged_without_quoting(checked, said, CANARY)


# --- macOS and Windows, from their tools' recorded answers ------------------------------


def on(monkeypatch: pytest.MonkeyPatch, kind: str, answers: dict[tuple[str, ...], Answer]) -> None:
    found = Desktop(kind, "macOS" if kind == "macos" else "Windows")
    monkeypatch.setattr(privacy_settings, "desktop", lambda env: found)

    def read(settings: Iterable[Setting], env: Mapping[str, str]) -> dict[Setting, SettingRead]:
        if kind == "macos":
            return _macos_screen.read_settings(
                list(settings), {"HOME": "/Users/sam"}, Recorder(answers)
            )
        return _windows_screen.read_settings(list(settings), {}, Recorder(answers), "cp437")

    monkeypatch.setattr(privacy_settings, "read_settings", read)


def test_macos_defaults_text_is_never_quoted(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    domain, key = "com.example.proxy", "password"
    # `defaults read` prints a string value as it is, then a newline.
    on(
        monkeypatch,
        "macos",
        {_macos_screen.defaults_read(domain, key): (0, f"{CANARY}\n".encode(), b"")},
    )
    where = {"defaults": domain, "key": key}
    said, checked = everything_said(
        machine, hygiene, caplog, canary_policy(machine, where, "macos")
    )
    assert_judged_without_quoting(checked, said, CANARY)


def on_windows(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    value: tuple[str, str],
) -> tuple[str, dict[str, Any]]:
    """The canary rules on HKCU\\Software\\Example Setting, which holds `value` (type, data)
    as reg.exe prints a value found by a search (tests/data/screen/windows-reg-value-*)."""
    key, name = "HKCU\\Software\\Example", "Setting"
    kind, data = value
    out = (
        f"\r\nHKEY_CURRENT_USER\\Software\\Example\r\n    {name}    {kind}    {data}\r\n"
        "\r\nEnd of search: 1 match(es) found.\r\n"
    )
    on(monkeypatch, "windows", {_windows_screen.reg_value(key, name): (0, out.encode(), b"")})
    policy = canary_policy(machine, {"registry": key, "name": name}, "windows")
    return everything_said(machine, hygiene, caplog, policy)


def test_windows_registry_text_is_never_quoted(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said, checked = on_windows(machine, hygiene, caplog, monkeypatch, ("REG_SZ", CANARY))
    assert_judged_without_quoting(checked, said, CANARY)


def test_numbers_and_booleans_the_rule_compares_are_still_said(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other side: a number compared as a number is shown, so the person knows what to
    change (and the same value under a rule that is no number is not)."""
    _, checked = on_windows(machine, hygiene, caplog, monkeypatch, ("REG_DWORD", "0x3"))
    by_setting = {f["evidence"]["setting"]: f for f in checked["findings"]}
    assert "Setting is 3, expected at most 0" in by_setting["canary_at_most"]["message"]
    assert by_setting["canary_at_most"]["evidence"]["value"] == "3"
    assert "Setting is 3" in by_setting["canary_one_of"]["message"]  # compared with numbers
    assert "Setting is not false" in by_setting["canary_equals"]["message"]  # not a yes/no


def test_screen_lock_never_quotes_the_text_it_reads(
    machine: Machine,
    kde: Kde,  # noqa: F811
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same rule in screen_lock: KDE's lock settings set to text are read as KDE reads
    them (the defaults), and the text is not repeated."""
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")
    for key in ("Autolock", "Timeout", "LockGrace", "LockOnResume"):
        kde.write("kscreenlockerrc", "Daemon", key, CANARY)
    machine.keep_only("screen_lock")
    caplog.set_level("DEBUG")
    outputs = [hygiene("check", "--only", "screen_lock"), hygiene("-v", "run", "--once")]
    checked = json.loads(hygiene("check", "--json", "--only", "screen_lock").out)
    said = "\n".join([*(o.out + o.err for o in outputs), caplog.text, *kept_on_disk(machine.state)])
    assert CANARY not in said + json.dumps(checked)
    (result,) = checked["results"]
    assert result["status"] in ("pass", "fail"), result  # it was read and judged
