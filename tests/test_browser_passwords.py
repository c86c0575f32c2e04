"""browser_passwords on stores made by the real programs: NSS's certutil, firefox-esr and
chromium (with the "basic" store, and with gnome-keyring-daemon's keyring)."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browsers import (
    COOKIE_CANARY,
    PASSWORD_CANARY,
    Nss,
    logins_json,
    run_chromium,
    write_profiles_ini,
)
from tests.conftest import Machine, Outcome, require_tool

CHECK = "browser_passwords"


def audit(hygiene: Callable[..., Outcome]) -> dict[str, Any]:
    outcome = hygiene("check", "--only", CHECK, "--json")
    assert outcome.code in (0, 1), outcome.err
    result: dict[str, Any] = json.loads(outcome.out)["results"][0]
    assert result["check"] == CHECK
    assert result["status"] in ("pass", "fail"), result
    return result


def by_subject(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["subject"]: f for f in result["findings"]}


# --- Firefox ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "legacy", "flagged"),
    [
        pytest.param("", False, True, id="key4-empty-password"),
        pytest.param("Correct-Horse-9", False, False, id="key4-primary-password"),
        pytest.param("", True, True, id="key3-empty-password"),
        pytest.param("Correct-Horse-9", True, False, id="key3-primary-password"),
    ],
)
def test_a_primary_password_is_told_from_the_key_store_nss_made(
    machine: Machine,
    nss: Nss,
    hygiene: Callable[..., Outcome],
    password: str,
    legacy: bool,
    flagged: bool,
) -> None:
    nss.profile(machine.home, logins=3, password=password, legacy=legacy)
    result = audit(hygiene)
    assert result["notes"] == []
    found = by_subject(result)
    if not flagged:
        assert found == {}
        return
    finding = found["~/.mozilla/firefox/test.default"]
    assert result["severity"] == finding["severity"] == "high"
    assert finding["evidence"] == {
        "reason": "no primary password",
        "browser": "Firefox",
        "saved_passwords": 3,
        "primary_password": False,
    }
    assert "Primary Password" in finding["advice"] and "about:logins" in finding["advice"]


def test_no_saved_logins_is_no_finding(
    machine: Machine, nss: Nss, hygiene: Callable[..., Outcome]
) -> None:
    nss.profile(machine.home, logins=0)
    assert audit(hygiene)["findings"] == []


def test_forks_flatpak_and_snap_profiles_are_found(
    machine: Machine, nss: Nss, hygiene: Callable[..., Outcome]
) -> None:
    nss.profile(machine.home, base=".librewolf", name="abc.default-default", logins=1)
    nss.profile(
        machine.home, base=".var/app/org.mozilla.firefox/.mozilla/firefox", name="f.x", logins=2
    )
    nss.profile(machine.home, base="snap/firefox/common/.mozilla/firefox", name="s.y", logins=1)
    found = by_subject(audit(hygiene))
    assert {
        s: (f["evidence"]["browser"], f["evidence"]["saved_passwords"]) for s, f in found.items()
    } == {
        "~/.librewolf/abc.default-default": ("LibreWolf", 1),
        "~/.var/app/org.mozilla.firefox/.mozilla/firefox/f.x": ("Firefox", 2),
        "~/snap/firefox/common/.mozilla/firefox/s.y": ("Firefox", 1),
    }


def test_a_profile_firefox_itself_made_is_read(
    machine: Machine, hygiene: Callable[..., Outcome], tmp_path: Path
) -> None:
    firefox = require_tool("firefox-esr")
    base = machine.home / ".mozilla" / "firefox"
    profile = base / "real.default-esr"
    profile.mkdir(parents=True)
    write_profiles_ini(base, profile.name)
    env = {**os.environ, "HOME": str(tmp_path / "ffhome"), "MOZ_HEADLESS": "1"}
    done = subprocess.run(
        [
            firefox,
            "--headless",
            "--no-remote",
            "-profile",
            str(profile),
            "--screenshot",
            str(tmp_path / "blank.png"),
            "about:blank",
        ],
        capture_output=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert (profile / "key4.db").exists(), done.stderr.decode(errors="replace")[-2000:]
    assert audit(hygiene)["findings"] == []  # no saved logins yet
    (profile / "logins.json").write_text(logins_json(2))
    finding = by_subject(audit(hygiene))["~/.mozilla/firefox/real.default-esr"]
    assert finding["evidence"]["saved_passwords"] == 2


def test_exactly_the_password_check_entry_is_decrypted(
    machine: Machine,
    nss: Nss,
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agent.probes import _nss

    folder = nss.profile(machine.home, logins=4)
    with sqlite3.connect(folder / "key4.db") as db:
        (entry,) = db.execute("SELECT item2 FROM metaData WHERE id = 'password'").fetchone()
    decrypted: list[bytes] = []
    real_cipher = getattr(_nss, "Cipher")  # noqa: B009 - not exported, replaced below

    class Recorded:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def update(self, data: bytes) -> bytes:
            decrypted.append(bytes(data))
            return bytes(self.inner.update(data))

        def finalize(self) -> bytes:
            return bytes(self.inner.finalize())

    class RecordingCipher:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.inner = real_cipher(*args, **kwargs)

        def decryptor(self) -> Recorded:
            return Recorded(self.inner.decryptor())

        def encryptor(self) -> None:
            raise AssertionError("the check encrypts nothing")

    monkeypatch.setattr(_nss, "Cipher", RecordingCipher)
    assert by_subject(audit(hygiene))
    # One decryption, of the check entry's ciphertext (its last OCTET STRING) and nothing else.
    assert decrypted == [entry[-16:]]
    assert len(decrypted[0]) % 16 == 0


# --- Chromium --------------------------------------------------------------------------


def test_chromium_with_the_basic_store_is_found(
    machine: Machine, cookie_site: str, hygiene: Callable[..., Outcome]
) -> None:
    user_data = machine.home / ".config" / "chromium"
    run_chromium(user_data, cookie_site, "basic")
    result = audit(hygiene)
    finding = by_subject(result)["~/.config/chromium/Default"]
    assert finding["severity"] == "medium"  # cookies alone
    assert finding["evidence"]["reason"] == "basic password store"
    assert finding["evidence"]["cookies_fixed_key"] >= 1
    assert finding["evidence"]["saved_passwords_fixed_key"] == 0

    # A saved password under the fixed key makes it high (planted in Chromium's own table).
    with sqlite3.connect(user_data / "Default" / "Login Data") as db:
        db.execute(
            "INSERT INTO logins (origin_url, signon_realm, date_created, blacklisted_by_user, "
            "scheme, username_value, password_value) VALUES (?, ?, 0, 0, 0, 'ann', ?)",
            ("https://example.org/", "https://example.org/", b"v10" + PASSWORD_CANARY.encode()),
        )
    finding = by_subject(audit(hygiene))["~/.config/chromium/Default"]
    assert finding["severity"] == "high"
    assert finding["evidence"]["saved_passwords_fixed_key"] == 1
    assert "chrome://password-manager/passwords" in finding["advice"]


def test_chromium_with_the_keyring_passes(
    machine: Machine,
    cookie_site: str,
    keyring: dict[str, str],
    hygiene: Callable[..., Outcome],
) -> None:
    user_data = machine.home / ".config" / "chromium"
    run_chromium(user_data, cookie_site, "gnome-libsecret", env=keyring)
    with sqlite3.connect(user_data / "Default" / "Cookies") as db:
        prefixes = {
            row[0] for row in db.execute("SELECT substr(encrypted_value, 1, 3) FROM cookies")
        }
    assert prefixes == {b"v11"}, "chromium did not use the keyring"
    assert audit(hygiene)["findings"] == []


def test_the_result_is_as_serious_as_its_worst_finding(
    machine: Machine, nss: Nss, cookie_site: str, hygiene: Callable[..., Outcome]
) -> None:
    nss.profile(machine.home, logins=1)
    run_chromium(machine.home / ".config" / "chromium", cookie_site, "basic")
    result = audit(hygiene)
    severities = {s: f["severity"] for s, f in by_subject(result).items()}
    assert severities == {
        "~/.mozilla/firefox/test.default": "high",
        "~/.config/chromium/Default": "medium",
    }
    assert result["severity"] == "high"


@pytest.mark.parametrize(
    ("name", "text", "flagged"),
    [
        (".config/chromium-flags.conf", "--password-store=basic\n", True),
        (".config/brave-flags.conf", "# --password-store=basic\n--incognito\n", False),
        (
            ".local/share/applications/google-chrome.desktop",
            "[Desktop Entry]\nExec=/usr/bin/google-chrome-stable --password-store=basic %U\n",
            True,
        ),
    ],
)
def test_a_basic_store_flag_is_found(
    machine: Machine, hygiene: Callable[..., Outcome], name: str, text: str, flagged: bool
) -> None:
    path = machine.home / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    found = by_subject(audit(hygiene))
    assert (f"~/{name}" in found) is flagged
    if flagged:
        assert found[f"~/{name}"]["evidence"]["reason"] == "basic store flag"


# --- what never comes out ----------------------------------------------------------------


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()[:-4]]


def test_the_cookie_and_the_saved_password_appear_nowhere(
    machine: Machine,
    nss: Nss,
    cookie_site: str,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.test_privacy import everything_shown

    nss.profile(machine.home, logins=2)
    run_chromium(machine.home / ".config" / "chromium", cookie_site, "basic")
    everything = everything_shown(
        machine,
        hygiene,
        caplog,
        [
            ("check",),
            ("check", "--json"),
            ("-v", "check", "--only", CHECK, "--json"),
            ("checks", "--json"),
            ("run", "--once"),
            ("status",),
            ("status", "--json"),
            ("notifications", "--json"),
            ("page", "--print-path"),
        ],
    )
    assert "~/.config/chromium/Default" in everything and "test.default" in everything
    for canary in (COOKIE_CANARY, PASSWORD_CANARY):
        for form in forms(canary):
            assert form not in everything, f"{canary} leaked as {form}"


# --- bad input ---------------------------------------------------------------------------


def test_a_truncated_key_store_is_a_note(
    machine: Machine, nss: Nss, hygiene: Callable[..., Outcome]
) -> None:
    folder = nss.profile(machine.home, logins=1)
    data = (folder / "key4.db").read_bytes()
    (folder / "key4.db").write_bytes(data[:1500])
    result = audit(hygiene)
    assert result["findings"] == []
    assert len(result["notes"]) == 1
    assert "test.default could not be checked" in result["notes"][0]


@pytest.fixture
def held_cookies(machine: Machine, cookie_site: str) -> Iterator[Path]:
    """A real Chromium profile whose Cookies database another connection holds locked."""
    user_data = machine.home / ".config" / "chromium"
    run_chromium(user_data, cookie_site, "basic")
    holder = sqlite3.connect(user_data / "Default" / "Cookies", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield user_data / "Default"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_locked_cookies_database_is_read_without_waiting(
    held_cookies: Path, hygiene: Callable[..., Outcome]
) -> None:
    started = time.monotonic()
    result = audit(hygiene)
    assert time.monotonic() - started < 5
    assert any("in use" in note for note in result["notes"]), result["notes"]
    assert "~/.config/chromium/Default" in by_subject(result)


def test_symbolic_link_loops_are_notes(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    base = machine.home / ".mozilla" / "firefox"
    write_profiles_ini(base, "loop.default")
    (base / "loop.default").symlink_to(base / "loop.default")
    chromium = machine.home / ".config" / "chromium"
    chromium.mkdir(parents=True)
    (chromium / "Default").symlink_to(chromium / "Default")
    started = time.monotonic()
    result = audit(hygiene)
    assert time.monotonic() - started < 5
    assert result["findings"] == []
    notes = "\n".join(result["notes"])
    assert "loop.default could not be checked: it is a symbolic link loop" in notes
    assert "chromium/Default could not be checked: it is a symbolic link loop" in notes


def test_a_fifo_is_never_opened(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    folder = machine.home / ".config" / "chromium" / "Default"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "Cookies")
    os.mkfifo(machine.home / ".config" / "chromium-flags.conf")
    started = time.monotonic()
    result = audit(hygiene)
    assert time.monotonic() - started < 5
    assert result["findings"] == []
    assert all("not a regular file" in note for note in result["notes"]), result["notes"]
    assert len(result["notes"]) == 2


@pytest.mark.parametrize(
    ("name", "content"),
    [("Cookies", b"garbage\n"), ("Login Data", b""), ("Login Data", "no logins table")],
)
def test_a_damaged_chromium_store_is_a_note_and_the_firefox_finding_stays(
    machine: Machine, nss: Nss, hygiene: Callable[..., Outcome], name: str, content: object
) -> None:
    # One store cut short by a crash, or not the browser's, must not hide the rest.
    nss.profile(machine.home, logins=1)
    folder = machine.home / ".config" / "chromium" / "Default"
    folder.mkdir(parents=True)
    if isinstance(content, bytes):
        (folder / name).write_bytes(content)
    else:
        with sqlite3.connect(folder / name) as db:
            db.execute("CREATE TABLE other (x)")
        db.close()
    result = audit(hygiene)
    assert result["status"] == "fail", result
    assert any("test.default" in f["subject"] for f in result["findings"])
    assert any(
        "chromium/Default could not be checked: its database cannot be read" in note
        for note in result["notes"]
    ), result["notes"]


def test_a_profile_folder_named_in_other_bytes_than_utf8_is_checked(
    machine: Machine, nss: Nss, hygiene: Callable[..., Outcome]
) -> None:
    folder = nss.profile(machine.home, logins=1)
    base = folder.parent
    odd = os.fsdecode(b"bad\xff\xfename")
    folder.rename(base / odd)
    (base / "profiles.ini").write_bytes(b"[Profile0]\nName=x\nIsRelative=1\nPath=bad\xff\xfename\n")
    result = audit(hygiene)
    assert result["status"] == "fail", result
    (finding,) = result["findings"]
    assert "bad\\udcff\\udcfename" in finding["subject"]
