"""app_sessions on Telegram Desktop's tdata and Signal Desktop's config.json.

The key_datas files are constructed in tdesktop's format, but for one written by Telegram
Desktop 4.6.5 itself (tests/data/app_sessions/README.md); the Signal config.json files are
written here in the shape Signal Desktop writes them."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import probes
from agent.probes import Volume, app_sessions
from agent.probes.app_sessions import empty_passcode_opens
from tests.conftest import Machine, Outcome
from tests.data.app_sessions import make_key_datas
from tests.test_privacy import everything_shown

DATA = Path(__file__).parent / "data" / "app_sessions"
# What Telegram Desktop 4.6.5 itself wrote in tdata by its welcome screen, signed in to nothing.
WELCOME = DATA / "telegram-4.6.5-welcome"
TDATA = ".local/share/TelegramDesktop/tdata"
SIGNAL = ".config/Signal"
SIGNAL_CANARY = "5a1f9e0c" * 8  # a database key's 64 hex digits
ACCOUNT_CANARY = b"TDATA-CANARY-MTP-AUTH-KEY-3b9c"


def telegram(machine: Machine, key_datas: str | bytes = "key_datas-no-passcode") -> Path:
    tdata = machine.home / TDATA
    tdata.mkdir(parents=True, mode=0o700)
    tdata.chmod(0o700)
    data = key_datas if isinstance(key_datas, bytes) else (DATA / key_datas).read_bytes()
    (tdata / "key_datas").write_bytes(data)
    (tdata / "D877F783D5D3EF8Cs").write_bytes(b"TDF$" + ACCOUNT_CANARY)  # an account's file
    return tdata


def signal(machine: Machine, config: dict[str, Any] | None = None) -> Path:
    folder = machine.home / SIGNAL
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    body = {"key": SIGNAL_CANARY, "mediaPermissions": True} if config is None else config
    (folder / "config.json").write_text(json.dumps(body))
    return folder


def audit(hygiene: Callable[..., Outcome]) -> dict[str, Any]:
    outcome = hygiene("check", "--only", "app_sessions", "--json")
    assert outcome.code in (0, 1), outcome.err
    assert "Traceback" not in outcome.err
    (result,) = json.loads(outcome.out)["results"]
    assert result["check"] == "app_sessions"
    return dict(result)


def reasons(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["subject"], f["evidence"]["reason"]) for f in result["findings"]}


@pytest.fixture
def encrypted_disk(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The disks' facts as an encrypted machine gives them; the calls are counted."""
    calls: list[str] = []

    def disks(home: str) -> list[Volume]:
        calls.append(home)
        return [Volume(("/", "~"), "/", "dm-0 (luks-1)", True, "LUKS2 (dm-crypt) on vda2")]

    monkeypatch.setattr(probes, "disk_encryption", disks)
    return calls


@pytest.fixture
def plain_disk(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def disks(home: str) -> list[Volume]:
        calls.append(home)
        return [Volume(("/", "~"), "/", "vda2", False, "ext4 on vda2, not encrypted")]

    monkeypatch.setattr(probes, "disk_encryption", disks)
    return calls


# --- the format ----------------------------------------------------------------------------


def test_the_recorded_key_datas_are_what_the_generator_writes() -> None:
    assert (DATA / "key_datas-no-passcode").read_bytes() == make_key_datas.key_datas(b"", 1)
    assert (DATA / "key_datas-passcode").read_bytes() == make_key_datas.key_datas(
        make_key_datas.PASSCODE, 2
    )


def test_empty_passcode_tells_a_passcode_from_none() -> None:
    assert empty_passcode_opens((DATA / "key_datas-no-passcode").read_bytes()) is True
    assert empty_passcode_opens((DATA / "key_datas-passcode").read_bytes()) is False


def test_telegram_s_own_key_datas_opens_with_the_empty_passcode() -> None:
    real = (WELCOME / "key_datas").read_bytes()
    assert empty_passcode_opens(real) is True
    # The generator writes the same layout: same version, same size (salt, key block, list).
    made = make_key_datas.key_datas(b"", 1)
    assert (len(made), made[:8]) == (len(real), real[:8])


def test_an_account_file_is_named_from_its_data_name() -> None:
    facts = app_sessions.telegram(app_sessions.FolderFacts(WELCOME, 0o700, 0))
    # Telegram's own fresh tdata: key_datas and a file shaped like an account's, no account.
    assert (facts.signed_in, facts.no_passcode, facts.problem) == (False, True, None)
    assert any(len(p.name) == 17 and p.name.endswith("s") for p in WELCOME.iterdir())
    assert "D877F783D5D3EF8Cs" in app_sessions._ACCOUNT_FILES  # the first account's, "data"
    assert len(app_sessions._ACCOUNT_FILES) == 6


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "not a Telegram data file"),
        (b"NOPE" + bytes(40), "not a Telegram data file"),
        ((DATA / "key_datas-no-passcode").read_bytes()[:200], "checksum"),
        ((DATA / "key_datas-no-passcode").read_bytes()[:-1] + b"\x00", "checksum"),
    ],
    ids=["empty", "not-tdf", "truncated", "bad-checksum"],
)
def test_bad_key_datas_is_a_sentence(data: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        empty_passcode_opens(data)


# --- Telegram ------------------------------------------------------------------------------


def test_telegram_without_passcode_is_flagged(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    telegram(machine)
    result = audit(hygiene)
    assert reasons(result) == {(f"~/{TDATA}", "no passcode")}
    assert "Local passcode" in result["findings"][0]["advice"]
    assert "Log out" in result["findings"][0]["advice"]


def test_telegram_never_signed_in_passes(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    tdata = machine.home / TDATA
    shutil.copytree(WELCOME, tdata)
    tdata.chmod(0o700)
    result = audit(hygiene)
    assert result["status"] == "pass", result
    assert result["notes"] == []
    # The same key_datas with an account beside it: no passcode, flagged.
    (tdata / "D877F783D5D3EF8Cs").write_bytes(b"TDF$" + ACCOUNT_CANARY)
    assert reasons(audit(hygiene)) == {(f"~/{TDATA}", "no passcode")}


def test_telegram_with_passcode_passes(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    telegram(machine, "key_datas-passcode")
    result = audit(hygiene)
    assert result["status"] == "pass", result
    assert result["notes"] == []


def test_truncated_key_datas_is_a_note(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    telegram(machine, (DATA / "key_datas-no-passcode").read_bytes()[:100])
    result = audit(hygiene)
    assert result["status"] == "pass"
    (note,) = result["notes"]
    assert "could not be told" in note and "checksum" in note


# --- Signal --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"key": SIGNAL_CANARY}, {(f"~/{SIGNAL}/config.json", "key in plain text")}),
        # Wrapped by the keyring: Chromium's v11 (hex 763131) ciphertext.
        ({"encryptedKey": "763131" + "ab" * 40, "safeStorageBackend": "gnome_libsecret"}, set()),
        # Wrapped by the fixed key of the basic store: v10 (hex 763130), any copy opens it.
        (
            {"encryptedKey": "763130" + "ab" * 40, "safeStorageBackend": "basic_text"},
            {(f"~/{SIGNAL}/config.json", "key under a fixed key")},
        ),
        (
            {"key": SIGNAL_CANARY, "encryptedKey": "76313000"},
            {(f"~/{SIGNAL}/config.json", "key in plain text")},
        ),
        ({"mediaPermissions": True}, set()),
    ],
    ids=["plain", "keyring", "basic", "both", "no-key"],
)
def test_signal_key_by_where_it_is_kept(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    encrypted_disk: list[str],
    config: dict[str, Any],
    expected: set[tuple[str, str]],
) -> None:
    signal(machine, config)
    result = audit(hygiene)
    assert reasons(result) == expected
    assert result["notes"] == []


def test_signal_in_flatpak_is_looked_at(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    folder = machine.home / ".var/app/org.signal.Signal/config/Signal"
    folder.mkdir(parents=True, mode=0o700)
    (folder / "config.json").write_text(json.dumps({"key": SIGNAL_CANARY}))
    assert reasons(audit(hygiene)) == {
        ("~/.var/app/org.signal.Signal/config/Signal/config.json", "key in plain text")
    }


def test_huge_config_is_a_note(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    folder = signal(machine)
    with (folder / "config.json").open("wb") as out:
        out.truncate(64 * 1024 * 1024)  # sparse: 64 MiB that cost nothing
    result = audit(hygiene)
    assert result["findings"] == []
    assert any("larger than such a file" in n for n in result["notes"]), result["notes"]


def test_deep_config_is_a_note(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    folder = signal(machine)
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    result = audit(hygiene)
    assert any("not readable JSON" in n for n in result["notes"]), result["notes"]


def test_config_that_is_a_fifo_is_refused(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    folder = signal(machine)
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    result = audit(hygiene)  # no writer: opening it would block forever
    assert any("FIFO" in n for n in result["notes"]), result["notes"]


def test_symlink_loop_is_a_note(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    parent = (machine.home / SIGNAL).parent
    parent.mkdir(parents=True, exist_ok=True)
    (machine.home / SIGNAL).symlink_to(machine.home / SIGNAL)
    telegram(machine)
    result = audit(hygiene)
    assert reasons(result) == {(f"~/{TDATA}", "no passcode")}
    assert any("symbolic link loop" in n for n in result["notes"]), result["notes"]


# --- the folder and the disk ---------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711])
def test_session_folder_open_to_others(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str], mode: int
) -> None:
    telegram(machine, "key_datas-passcode").chmod(mode)
    signal(machine, {"encryptedKey": "76313100"}).chmod(mode)
    result = audit(hygiene)
    assert reasons(result) == {
        (f"~/{TDATA}", "readable by others"),
        (f"~/{SIGNAL}", "readable by others"),
    }
    for finding in result["findings"]:
        assert finding["evidence"]["mode"] == f"{mode:04o}"
        assert finding["advice"].startswith("Run: chmod 700 ~/")


def test_session_folder_700_passes(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    telegram(machine, "key_datas-passcode")
    signal(machine, {"encryptedKey": "76313100"})
    assert audit(hygiene)["status"] == "pass"


def test_unprotected_session_on_a_plain_disk(
    machine: Machine, hygiene: Callable[..., Outcome], plain_disk: list[str]
) -> None:
    telegram(machine)
    signal(machine, {"encryptedKey": "76313100"})  # locked by the keyring: a copy is no use
    assert reasons(audit(hygiene)) == {
        (f"~/{TDATA}", "no passcode"),
        (f"~/{TDATA}", "disk not encrypted"),
    }


def test_disks_are_looked_at_once_per_run(
    machine: Machine, hygiene: Callable[..., Outcome], plain_disk: list[str]
) -> None:
    telegram(machine)
    outcome = hygiene("check", "--json", "--only", "disk_encryption", "--only", "app_sessions")
    results = {r["check"]: r for r in json.loads(outcome.out)["results"]}
    assert results["disk_encryption"]["status"] == "fail"
    assert ("~/" + TDATA, "disk not encrypted") in reasons(results["app_sessions"])
    assert plain_disk == [str(machine.home)]  # one look, for both checks
    hygiene("check", "--json", "--only", "disk_encryption", "--only", "app_sessions")
    assert len(plain_disk) == 2  # and afresh on the next run


# --- settings ------------------------------------------------------------------------------


def test_apps_and_ignore_come_from_the_policy(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    telegram(machine)
    signal(machine)
    policy = machine.user_policies / "apps.yaml"
    policy.write_text("schema: 1\nchecks:\n  app_sessions: {apps: [signal]}\n")
    assert {r for _, r in reasons(audit(hygiene))} == {"key in plain text"}
    policy.write_text("schema: 1\nchecks:\n  app_sessions: {ignore: [signal]}\n")
    assert {r for _, r in reasons(audit(hygiene))} == {"no passcode"}
    policy.write_text(f"schema: 1\nchecks:\n  app_sessions: {{ignore: ['~/{TDATA}']}}\n")
    assert {r for _, r in reasons(audit(hygiene))} == {"key in plain text"}
    policy.write_text("schema: 1\nchecks:\n  app_sessions: {ignore: [whatsapp]}\n")
    refused = hygiene("check", "--only", "app_sessions")
    assert refused.code == 2 and "whatsapp" in refused.err


def test_no_messenger_passes(
    machine: Machine, hygiene: Callable[..., Outcome], encrypted_disk: list[str]
) -> None:
    result = audit(hygiene)
    assert result["status"] == "pass" and result["notes"] == []


# --- the canaries --------------------------------------------------------------------------


def test_no_key_reaches_any_output(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    plain_disk: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    telegram(machine).chmod(0o755)
    signal(machine).chmod(0o755)
    machine.keep_only("app_sessions")
    said = everything_shown(
        machine,
        hygiene,
        caplog,
        [
            ("check", "--only", "app_sessions"),
            ("-v", "check", "--json", "--only", "app_sessions"),
            ("run", "--once"),
            ("status",),
            ("status", "--json"),
            ("notifications", "--json"),
            ("page", "--print-path"),
            ("checks", "--json"),
        ],
    )
    assert "key in plain text" in said and "no passcode" in said  # it did look
    local_key = make_key_datas.LOCAL_KEY_CANARY
    for canary in (
        SIGNAL_CANARY,
        SIGNAL_CANARY.upper(),
        local_key.decode(),
        local_key.hex(),
        ACCOUNT_CANARY.decode(),
    ):
        assert canary not in said, canary
    assert shutil.which("sqlite3")
