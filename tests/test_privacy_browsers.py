"""privacy_settings on browsers' own preferences, written by the real browsers: a headless
firefox-esr saves into prefs.js what user.js or an enterprise policies.json set; a headless
chromium rewrites the Preferences and Local State it was started with. Policies the browsers
read from /etc are written there by the test (as root, under a lock shared by every test run
on this machine, removed at once) and read by the check where the browsers read them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.probes.browser_prefs import (
    ChromiumPolicy,
    FirefoxPolicy,
    FirefoxPrefs,
    chromium_prefs,
    firefox_prefs,
    parse_prefs,
)
from tests.browsers import CHROMIUM_FLAGS, Nss, write_profiles_ini
from tests.conftest import Machine, Outcome, require_root, require_tool
from tests.test_screen_lock_linux import audit as audit_check
from tests.test_settings_canary import everything_said

CHECK = "privacy_settings"
CANARY = "PrefCanary-9b1d7e3a"
# Every test run on this machine that writes a browser's policy folder in /etc takes it.
POLICY_LOCK = Path("/run/lock/hygiene-tests-browser-policies.lock")


@pytest.fixture(autouse=True)
def no_desktop(monkeypatch: pytest.MonkeyPatch) -> None:
    """No graphical desktop: the browsers are judged on their own."""
    for variable in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(variable, raising=False)


def audit(hygiene: Callable[..., Outcome], *policy: Path) -> dict[str, Any]:
    result = audit_check(hygiene, CHECK, *policy)
    assert result["status"] in ("pass", "fail"), result
    return result


def failing(result: dict[str, Any], subject: str) -> set[str]:
    """The settings failing for the profile shown as `subject`."""
    return {f["evidence"]["setting"] for f in result["findings"] if f["subject"] == subject}


def firefox_profile(home: Path, name: str = "t.default-esr", **files: str) -> Path:
    base = home / ".mozilla" / "firefox"
    profile = base / name
    profile.mkdir(parents=True)
    write_profiles_ini(base, name)
    for file_name, text in files.items():
        (profile / file_name.replace("_", ".")).write_text(text)
    return profile


def run_firefox(profile: Path, tmp_path: Path) -> None:
    """A real headless firefox-esr starts with `profile`, loads a blank page and quits,
    saving its prefs.js."""
    firefox = require_tool("firefox-esr")
    env = {**os.environ, "HOME": str(tmp_path / "ffhome"), "MOZ_HEADLESS": "1"}
    done = subprocess.run(
        [firefox, "--headless", "--no-remote", "-profile", str(profile), "--screenshot",
         str(tmp_path / "blank.png"), "about:blank"],
        capture_output=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert (profile / "prefs.js").exists(), done.stderr.decode(errors="replace")[-2000:]


def run_chromium(user_data: Path, *extra: str) -> None:
    chromium = require_tool("chromium")
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={user_data}", *extra, "--dump-dom",
         "about:blank"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert (user_data / "Local State").exists(), done.stderr.decode(errors="replace")[-2000:]


@contextlib.contextmanager
def system_file(path: Path, text: str) -> Iterator[None]:
    """`text` at `path` (a browser's policy in /etc) for as short as the test needs it,
    under the machine-wide lock; the file and the folders made for it removed after."""
    require_root("a browser's policies are read from /etc")
    POLICY_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with POLICY_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = [p for p in reversed(path.parents) if not p.exists()]
        assert not path.exists(), f"{path} is already there: not the test's to replace"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.write_text(text)
            yield
        finally:
            path.unlink(missing_ok=True)
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()


# --- the prefs.js reader ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "user", "skipped"),
    [
        ('user_pref("a.b", true);\nuser_pref("c", -42);', {"a.b": True, "c": -42}, 0),
        (r'user_pref("s", "q\"uote\\ back\'s\n");', {"s": "q\"uote\\ back's\n"}, 0),
        ("user_pref('single', 'x');", {"single": "x"}, 0),
        (r'user_pref("u", "\u00e9\uD83D\uDE00\x41");', {"u": "é😀A"}, 0),
        ('// c\n# hash\n/* block\n over lines */ user_pref("k", 1) ;', {"k": 1}, 0),
        ('user_pref("a", 1); user_pref("b", 2);', {"a": 1, "b": 2}, 0),
        ('user_pref("a", 1);\nuser_pref("a", 2);', {"a": 2}, 0),  # the last one counts
        ('user_pref("big", 2147483648);\nuser_pref("ok", 2147483647);', {"ok": 2147483647}, 1),
        ('user_pref("f", 1.5);\nuser_pref("t", tru);\nuser_pref("n", 1)', {}, 3),
        ('user_pref("bad", "\\q");\nnot a pref at all\nuser_pref("x", false);', {"x": False}, 2),
        ('user_pref("open", "no end);\nuser_pref("y", true);', {"y": True}, 1),
    ],
)
def test_prefs_statements(text: str, user: dict[str, Any], skipped: int) -> None:
    read = parse_prefs(text.encode())
    assert (read.user, read.skipped) == (user, skipped)


def test_default_files_keep_defaults_and_locks_apart() -> None:
    read = parse_prefs(b'pref("d", 1);\nsticky_pref("s", true);\npref("l", false, locked);')
    assert read.user == {}
    assert read.defaults == {"d": 1, "s": True, "l": False}
    assert read.locked == {"l"}


def test_binary_is_not_a_prefs_file() -> None:
    with pytest.raises(ValueError, match="not a text file"):
        parse_prefs(b"SQLite format 3\x00\x10\x00")


def test_policy_wins_over_user_js_over_prefs_js() -> None:
    policy = FirefoxPolicy(
        locked={"locked.one": False},
        user={"set.each.start": 3},
        cleared=frozenset({"cleared.one"}),
        defaults={"only.default": 7, "cleared.one": 9},
    )
    fox = FirefoxPrefs(
        "Firefox",
        Path("/p"),
        started=True,
        complete=True,
        saved={"locked.one": True, "set.each.start": 1, "cleared.one": 1, "saved": 1},
        user_js={"saved": 2, "only.default": 8},
        policy=policy,
    )
    assert fox.value("locked.one") == (False, "locked by policy")
    assert fox.value("set.each.start") == (3, "set by policy")
    assert fox.value("cleared.one") == (9, "default set by the system")
    assert fox.value("saved") == (2, "user.js")
    assert fox.value("only.default") == (8, "user.js")
    assert fox.value("privacy.donottrackheader.enabled") == (False, "Firefox's default")
    assert fox.value("unknown.pref") == (None, "not set")


# --- real Firefox -------------------------------------------------------------------------


def test_what_user_js_sets_firefox_saves_and_the_check_reads(
    machine: Machine, hygiene: Callable[..., Outcome], tmp_path: Path
) -> None:
    profile = firefox_profile(machine.home)
    subject = "~/.mozilla/firefox/t.default-esr"
    run_firefox(profile, tmp_path)
    before = audit(hygiene)
    assert {"browser_do_not_track", "browser_autofill"} <= failing(before, subject)
    (finding,) = (f for f in before["findings"] if f["evidence"]["setting"] == "browser_autofill")
    assert finding["message"].startswith(f"Firefox ({subject}): Saved addresses and cards")
    assert finding["evidence"]["browser"] == "Firefox"
    (profile / "user.js").write_text(
        '// set as a person would\nuser_pref("privacy.globalprivacycontrol.enabled", true);\n'
        'user_pref("extensions.formautofill.addresses.enabled", false);\n'
        'user_pref("extensions.formautofill.creditCards.enabled", false);\n'
        'user_pref("network.cookie.cookieBehavior", 0);\n'
    )
    run_firefox(profile, tmp_path)
    (profile / "user.js").unlink()  # what Firefox saved is what counts now
    saved = (profile / "prefs.js").read_text()
    assert 'user_pref("privacy.globalprivacycontrol.enabled", true);' in saved
    after = audit(hygiene)
    assert not {"browser_do_not_track", "browser_autofill"} & failing(after, subject)
    (tracking,) = (f for f in after["findings"] if f["evidence"]["setting"] == "browser_tracking")
    assert "network.cookie.cookieBehavior is all cookies allowed" in tracking["message"]
    assert "browser.contentblocking.category is not strict" in tracking["message"]
    assert tracking["evidence"]["value"] == "0"


def test_a_policy_firefox_applies_and_a_locked_one_that_overrides_the_person(
    machine: Machine, hygiene: Callable[..., Outcome], tmp_path: Path
) -> None:
    profile = firefox_profile(
        machine.home,
        user_js='user_pref("extensions.formautofill.creditCards.enabled", true);\n'
        'user_pref("extensions.formautofill.addresses.enabled", true);\n',
    )
    subject = "~/.mozilla/firefox/t.default-esr"
    policies = {
        "policies": {
            "Preferences": {
                "privacy.globalprivacycontrol.enabled": {"Value": True, "Status": "user"},
            },
            "AutofillAddressEnabled": False,
            "AutofillCreditCardEnabled": False,
            "DisableTelemetry": True,
            "DisableFirefoxStudies": True,
        }
    }
    with system_file(Path("/etc/firefox/policies/policies.json"), json.dumps(policies)):
        run_firefox(profile, tmp_path)
        result = audit(hygiene)
    # Firefox itself applied the policy's user value and saved it.
    assert (
        'user_pref("privacy.globalprivacycontrol.enabled", true);'
        in (profile / "prefs.js").read_text()
    )
    # The locked policies win over what user.js asks.
    assert not {"browser_do_not_track", "browser_autofill", "browser_telemetry"} & failing(
        result, subject
    )
    # Without the policy, user.js decides again.
    assert "browser_autofill" in failing(audit(hygiene), subject)


def test_the_systems_policy_comes_before_the_installs(tmp_path: Path, machine: Machine) -> None:
    firefox_profile(machine.home, prefs_js='user_pref("app.shield.optoutstudies.enabled", true);')
    root = tmp_path / "root"
    (root / "etc/firefox/policies").mkdir(parents=True)
    (root / "usr/lib/firefox-esr/distribution").mkdir(parents=True)
    (root / "etc/firefox/policies/policies.json").write_text(
        json.dumps({"policies": {"DisableFirefoxStudies": True}})
    )
    (root / "usr/lib/firefox-esr/distribution/policies.json").write_text(
        json.dumps({"policies": {"DisableTelemetry": True}})
    )
    (root / "etc/firefox-esr").mkdir()
    (root / "etc/firefox-esr/site.js").write_text(
        'pref("privacy.donottrackheader.enabled", true);\n'
        'pref("network.cookie.cookieBehavior", 0, locked);\n'
    )
    ((fox,), problems) = firefox_prefs(machine.home, root)
    assert problems == []
    assert fox.value("app.shield.optoutstudies.enabled") == (False, "locked by policy")
    # Only the first policies.json found counts, as in Firefox.
    assert fox.value("datareporting.healthreport.uploadEnabled") == (True, "Firefox's default")
    assert fox.value("privacy.donottrackheader.enabled") == (True, "default set by the system")
    assert fox.value("network.cookie.cookieBehavior") == (0, "locked by policy")


def test_a_primary_password_makes_autofill_acceptable(
    machine: Machine, nss: Nss, hygiene: Callable[..., Outcome]
) -> None:
    locked = nss.profile(machine.home, name="locked.default", logins=0, password="Pw-12345")
    open_ = machine.home / ".mozilla/firefox/open.default"
    nss.key_store(open_)
    write_profiles_ini(machine.home / ".mozilla/firefox", "locked.default", "open.default")
    for profile in (locked, open_):
        (profile / "prefs.js").write_text('user_pref("browser.startup.page", 3);\n')
    result = audit(hygiene)
    assert "browser_autofill" not in failing(result, "~/.mozilla/firefox/locked.default")
    assert "browser_autofill" in failing(result, "~/.mozilla/firefox/open.default")


def test_a_profile_never_started_is_not_judged(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    firefox_profile(machine.home, user_js='user_pref("network.cookie.cookieBehavior", 0);')
    outcome = hygiene("check", "--json", "--only", CHECK)
    (result,) = json.loads(outcome.out)["results"]
    assert result["status"] == "skip"  # no desktop here, and nothing a browser uses yet
    assert result["findings"] == []


# --- real Chromium ------------------------------------------------------------------------


def test_what_chromium_keeps_is_read_from_preferences_and_local_state(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    user_data = machine.home / ".config" / "chromium"
    (user_data / "Default").mkdir(parents=True)
    # Chromium keeps the preferences it starts with and writes back its whole set.
    (user_data / "Default" / "Preferences").write_text(
        json.dumps({"enable_do_not_track": True, "profile": {"cookie_controls_mode": 1}})
    )
    run_chromium(user_data)
    written = json.loads((user_data / "Default" / "Preferences").read_text())
    assert written["enable_do_not_track"] is True
    assert "user_experience_metrics" in json.loads((user_data / "Local State").read_text())
    result = audit(hygiene)
    assert failing(result, "~/.config/chromium/Default") == {"browser_autofill"}
    # A second profile with Chromium's own defaults.
    run_chromium(user_data, "--profile-directory=Profile 1")
    second = failing(audit(hygiene), "~/.config/chromium/Profile 1")
    assert second == {"browser_autofill", "browser_tracking", "browser_do_not_track"}


def test_a_managed_chromium_policy_wins_over_the_profile(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    user_data = machine.home / ".config" / "chromium"
    run_chromium(user_data)
    subject = "~/.config/chromium/Default"
    assert "browser_tracking" in failing(audit(hygiene), subject)
    policy = {
        "BlockThirdPartyCookies": True,
        "AutofillAddressEnabled": False,
        "AutofillCreditCardEnabled": False,
        "MetricsReportingEnabled": True,
    }
    managed = Path(f"/etc/chromium/policies/managed/hygiene-test-{os.getpid()}.json")
    with system_file(managed, json.dumps(policy)):
        run_chromium(user_data)
        result = audit(hygiene)
    found = failing(result, subject)
    assert "browser_tracking" not in found and "browser_autofill" not in found
    (telemetry,) = (
        f for f in result["findings"] if f["evidence"]["setting"] == "browser_telemetry"
    )
    assert "Local State user_experience_metrics.reporting_enabled is true" in telemetry["message"]


def test_chromium_policy_folders_under_a_root(tmp_path: Path, machine: Machine) -> None:
    profile = machine.home / ".config/google-chrome/Default"
    profile.mkdir(parents=True)
    (profile / "Preferences").write_text(json.dumps({"enable_do_not_track": False}))
    root = tmp_path / "root"
    for kind, body in (("managed", "{not json"), ("recommended", '{"SearchSuggestEnabled": 0}')):
        (root / "etc/opt/chrome/policies" / kind).mkdir(parents=True)
        (root / "etc/opt/chrome/policies" / kind / "p.json").write_text(body)
    ((chrome,), problems) = chromium_prefs(machine.home, root)
    assert [(p.browser, p.path.name, p.reason) for p in problems] == [
        ("Chrome", "p.json", "it is not JSON")
    ]
    assert chrome.policy == ChromiumPolicy(
        {}, {"SearchSuggestEnabled": 0}, (root / "etc/opt/chrome/policies/recommended/p.json",)
    )
    assert chrome.value("search.suggest_enabled") == (0, "recommended by policy")
    assert chrome.value("enable_do_not_track") == (False, "Preferences")
    assert chrome.state_value("user_experience_metrics.reporting_enabled") == (
        False,
        "Chrome's default",
    )


# --- bad input ----------------------------------------------------------------------------


def test_broken_files_are_notes_and_the_rest_is_judged(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    home = machine.home
    base = home / ".mozilla" / "firefox"
    names = ["syntax", "huge", "binary", "fifo", "loop", "good"]
    write_profiles_ini(base, *names)
    for name in names:
        (base / name).mkdir(parents=True)
    (base / "syntax/prefs.js").write_text(
        'user_pref("privacy.globalprivacycontrol.enabled", true);\nuser_pref("x", ;\n'
        "}}} not a pref\n"
    )
    with (base / "huge/prefs.js").open("wb") as huge:
        huge.truncate(9 * 1024 * 1024)
    (base / "binary/prefs.js").write_bytes(b"\x7fELF\x02\x01\x01\x00" * 64)
    os.mkfifo(base / "fifo/prefs.js")
    (base / "loop/prefs.js").symlink_to(base / "loop/prefs.js")
    (base / "good/prefs.js").write_text('user_pref("browser.startup.page", 3);\n')
    chromium = home / ".config/chromium/Default"
    chromium.mkdir(parents=True)
    (chromium / "Preferences").write_text('{"enable_do_not_track": tru')
    result = audit(hygiene)
    notes = result["notes"]
    assert (
        "Firefox: 2 lines of ~/.mozilla/firefox/syntax/prefs.js could not be read and were "
        "skipped." in notes
    )
    for reason, name in (
        ("it is too large", "huge"),
        ("it is not a text file", "binary"),
        ("it is not a regular file", "fifo"),
        ("it is a symbolic link loop", "loop"),
    ):
        assert f"Firefox: ~/.mozilla/firefox/{name}/prefs.js could not be read: {reason}." in notes
    assert (
        "Chromium: ~/.config/chromium/Default/Preferences could not be read: it is not JSON."
        in (notes)
    )
    assert result["error"] is None
    assert "browser_do_not_track" not in failing(result, "~/.mozilla/firefox/syntax")
    assert "browser_do_not_track" in failing(result, "~/.mozilla/firefox/good")
    # An unreadable prefs.js is not judged on defaults.
    assert not [f for f in result["findings"] if "/huge" in f["subject"]]


def test_the_only_profile_unreadable_on_a_computer_without_a_desktop_is_said(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    base = machine.home / ".mozilla" / "firefox"
    write_profiles_ini(base, "fifo")
    (base / "fifo").mkdir(parents=True)
    os.mkfifo(base / "fifo/prefs.js")
    result = audit(hygiene)
    assert result["status"] != "skip"
    assert (
        "Firefox: ~/.mozilla/firefox/fifo/prefs.js could not be read: it is not a regular file."
        in result["notes"]
    )
    assert any("no graphical desktop" in note for note in result["notes"])


# --- admins' preferences and privacy ------------------------------------------------------


def admin_rules(machine: Machine, read: list[dict[str, Any]], builtin: bool = False) -> Path:
    settings = {
        f"canary_{n}": {
            "name": f"Canary {n}", "title": f"Canary rule {n}", "why": "a test",
            "advice": "nothing", "read": [source],
        }
        for n, source in enumerate(read)
    }  # fmt: skip
    body = {"schema": 1, "checks": {CHECK: {"builtin": builtin, "settings": settings}}}
    path = machine.user_policies / "browsers.yaml"
    path.write_text(json.dumps(body))
    return path


def test_an_admin_adds_browser_preferences(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    firefox_profile(machine.home, prefs_js='user_pref("browser.cache.disk.capacity", 1024);')
    chromium = machine.home / ".config/chromium/Default"
    chromium.mkdir(parents=True)
    (chromium / "Preferences").write_text(json.dumps({"search": {"suggest_enabled": True}}))
    admin_rules(
        machine,
        [
            {"firefox": "browser.cache.disk.capacity", "at_most": 512, "unit": "KB"},
            {"chromium": "search.suggest_enabled", "equals": False},
            {"chromium": "search.suggest_enabled", "equals": False, "browsers": ["Brave"]},
            {"firefox": "never.set.anywhere", "equals": True},
        ],
    )
    result = audit(hygiene)
    said = {f["evidence"]["setting"]: f["message"] for f in result["findings"]}
    assert set(said) == {"canary_0", "canary_1"}
    assert "(browser.cache.disk.capacity is 1024 KB, expected at most 512 KB)" in said["canary_0"]
    assert "(search.suggest_enabled is true, expected false)" in said["canary_1"]
    assert (
        "Firefox (~/.mozilla/firefox/t.default-esr): Canary 3 could not be checked "
        "(never.set.anywhere is not set)." in result["notes"]
    )


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ({"firefox": "bad name!", "equals": True}, "is not a Firefox preference name"),
        ({"chromium": "a..b", "equals": True}, "is not a Chromium preference"),
        ({"chromium": ".".join("a" * 17), "equals": True}, "is not a Chromium preference"),
        ({"firefox": "x" * 201, "equals": True}, "is not a Firefox preference name"),
        ({"chromium": "a", "equals": 1, "desktops": ["gnome"]}, "takes browsers, not desktops"),
        ({"gsettings": "a.b", "key": "k", "equals": 1, "browsers": ["Chrome"]}, "not browsers"),
        ({"chromium": "a", "equals": 1, "unless": "primary_password"}, "for a firefox pref"),
        ({"firefox": "a", "equals": 1, "browsers": ["Netscape"]}, "browsers"),
    ],
)
def test_bad_browser_sources_are_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], source: dict[str, Any], said: str
) -> None:
    policy = admin_rules(machine, [source])
    outcome = hygiene("policy", "validate", str(policy))
    assert outcome.code == 2
    assert said in outcome.err and "Traceback" not in outcome.err


def test_a_setting_mixing_desktop_and_browser_is_refused(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    body = {
        "schema": 1,
        "checks": {CHECK: {"settings": {"mixed": {
            "title": "t", "why": "w", "advice": "a",
            "read": [{"firefox": "a.b", "equals": True},
                     {"gsettings": "org.gnome.desktop.privacy", "key": "k", "equals": True}],
        }}}},
    }  # fmt: skip
    path = machine.home / "mixed.yaml"
    path.write_text(json.dumps(body))
    outcome = hygiene("policy", "validate", str(path))
    assert outcome.code == 2
    assert "desktop settings or browser preferences, not both" in outcome.err


def test_a_text_preference_is_never_quoted(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
) -> None:
    firefox_profile(
        machine.home,
        prefs_js=f'user_pref("browser.contentblocking.category", "{CANARY}");\n'
        f'user_pref("network.cookie.cookieBehavior", 0);\n'
        f'user_pref("hygiene.canary.number", "90210417");\n'
        f'user_pref("hygiene.canary.text", "{CANARY}");\n',
    )
    chromium = machine.home / ".config/chromium/Default"
    chromium.mkdir(parents=True)
    (chromium / "Preferences").write_text(json.dumps({"homepage": CANARY}))
    policy = admin_rules(
        machine,
        [
            {"firefox": "hygiene.canary.text", "equals": False},
            {"firefox": "hygiene.canary.text", "one_of": [1, 2]},
            {"firefox": "hygiene.canary.number", "at_most": 0},
            {"firefox": "hygiene.canary.number", "equals": 7},
            {"chromium": "homepage", "equals": "https://example.org/"},
        ],
        builtin=True,
    )
    machine.keep_only(CHECK)
    said, checked = everything_said(machine, hygiene, caplog, policy)
    assert CANARY not in said and "90210417" not in said
    messages = {
        (f["evidence"]["browser"], f["evidence"]["setting"]): f["message"]
        for f in checked["findings"]
    }
    tracking = messages["Firefox", "browser_tracking"]
    assert "browser.contentblocking.category is not strict" in tracking
    assert "homepage is not https://example.org/" in messages["Chromium", "canary_4"]
    assert {"canary_0", "canary_1"} <= {setting for _, setting in messages}
    for finding in checked["findings"]:
        assert CANARY not in json.dumps(finding)
