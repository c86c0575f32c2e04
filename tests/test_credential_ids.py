"""A credential finding is known by where and what it is, never by its value: the store holds
nothing a guess of the value could be tested against (issue 16, item 1). Every scan here is
the real scanner child, run by `hygiene run --once` on real files."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.cli import main
from agent.credentials.strength import COMMON_LIST
from agent.store import Store, schema
from tests.conftest import Machine, Outcome
from tests.test_credentials import STRONG, TOKEN, policy, private
from tests.test_privacy import kept_on_disk, store_rows

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# Two homes' worth of guessable values, each pair breaking the same rules (so the reasons
# are the same) and of different lengths (so the files' sizes differ too).
HOME_A = {"short": "hunter2", "fair": "Summer2023!", "pattern": "Falcon456", "env": "trustno1"}
HOME_B = {"short": "monkey", "fair": "Canary2024", "pattern": "Tigers7890", "env": "baseball1"}
# The attack below tries the whole shipped list against the keyed hash (cheap), and its
# first words and the planted values against the slow one (2,424 PBKDF2 runs, a few seconds):
# enough when nothing in the state folder depends on the value at all.
SLOWLY_TRIED = 400


def plant(machine: Machine, values: dict[str, str]) -> None:
    private(
        machine.home / ".netrc",
        f"machine mail.example.com login ann password {values['short']}\n"
        f"machine ftp.example.org login ann password {values['fair']}\n",
    )
    private(
        machine.home / "projects" / "app" / ".env",
        f"DB_PASSWORD={values['pattern']}\nJWT_SECRET={values['env']}\nAPI_TOKEN={TOKEN}\n",
    )
    private(machine.home / ".git-credentials", f"https://ann:{TOKEN}@github.com\n")


def run_once(at: datetime = T0) -> None:
    assert main(["run", "--once"], clock=lambda: at) == 0


def comparable(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows without what tells two files apart however alike they are: each path's
    device, inode and times (its stat signature, in its columns and in its record)."""
    out = dict(rows)
    kept = []
    for scanner, path, _device, _inode, _ctime, _mtime, version, record in rows["scan_cache"]:
        loaded = json.loads(record) if record else None
        if loaded:
            assert len(loaded.pop("stat", [])) in (0, 4)
        kept.append((scanner, path, version, loaded))
    out["scan_cache"] = kept
    return out


def test_homes_that_differ_only_in_the_values_keep_identical_rows(
    machine: Machine, tmp_path: Path
) -> None:
    policy(machine, project_roots=["~/projects"])
    state = machine.state / "hygiene-agent"
    plant(machine, HOME_A)
    run_once()
    first = store_rows(machine.state)
    on_disk_a = "\n".join(kept_on_disk(machine.state))
    # The second home: the same paths, other values, the same install key, a fresh store.
    shutil.move(machine.state, tmp_path / "state-a")
    state.mkdir(parents=True, mode=0o700)
    shutil.copy2(tmp_path / "state-a" / "hygiene-agent" / "install.key", state)
    plant(machine, HOME_B)
    run_once()
    second = store_rows(machine.state)
    on_disk_b = "\n".join(kept_on_disk(machine.state))

    assert len(first["findings"]) == 6 and first["notifications"]  # all found, and told
    assert comparable(first) == comparable(second)
    for value in [*HOME_A.values(), *HOME_B.values(), TOKEN]:
        assert value not in on_disk_a + on_disk_b


def failing(hygiene: Callable[..., Outcome]) -> dict[str, str]:
    """What `hygiene status` says is failing: finding id -> the start of its message."""
    status = json.loads(hygiene("status", "--json").out)
    return {f["id"]: f["message"].split(": ")[1] for f in status["failing"]}


def test_a_changed_weak_password_is_the_same_finding_until_it_is_strong(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    netrc = machine.home / ".netrc"
    private(netrc, "machine a.example login ann password hunter2\n")
    run_once()
    ((weak, said),) = failing(hygiene).items()
    assert said == "the password for a.example (login ann) is weak"
    private(netrc, "# changed\nmachine a.example login ann password dragon12\n")
    run_once()
    assert list(failing(hygiene)) == [weak]  # another weak value, another line: still it
    private(netrc, f"machine a.example login ann password {STRONG}\n")
    run_once()
    ((plain, said),) = failing(hygiene).items()
    assert (
        plain != weak and said == "the password for a.example (login ann) is stored in plain text."
    )
    netrc.write_text("machine a.example login ann\n")
    run_once()
    assert failing(hygiene) == {}
    kinds = {(kind, target) for _, _, kind, target, *_ in store_rows(machine.state)["events"]}
    assert {
        ("appeared", weak),
        ("resolved", weak),
        ("appeared", plain),
        ("resolved", plain),
    } <= kinds


def test_equal_entries_of_one_file_are_told_apart_by_their_order(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine, project_roots=["~/app"])
    env = machine.home / "app" / ".env"
    private(env, "DB_PASSWORD=hunter2\nDB_PASSWORD=dragon1\n")
    run_once()
    two = failing(hygiene)
    assert len(two) == 2
    private(env, "# the database\nDB_PASSWORD=letmein\nDB_PASSWORD=monkey1\n")
    run_once()
    assert failing(hygiene).keys() == two.keys()  # lines moved and values changed: the same


# --- what a copy of the state folder gives a guesser -------------------------------------


def old_ids(
    key: bytes, guess: str, places: Iterable[tuple[str, str, str, str]], *, slow: bool
) -> Iterable[str]:
    """What the previous design kept for a value `guess` at each (path, shown, field,
    target): its keyed hash, its slow salted hash (when `slow`), and the finding ids made
    of them."""
    child = hmac.new(key, b"derived key\x1fcredentials", hashlib.sha256).digest()
    message = ("credential value\x1f" + guess).encode()
    fast = hmac.new(child, message, hashlib.sha256).hexdigest()[:32]
    for path, shown, field, target in places:
        ids = [fast]
        if slow:
            salt = "\x1f".join((path, field, target)).encode()
            ids.append(hashlib.pbkdf2_hmac("sha256", message, child + salt, 5000).hex()[:32])
        for secret_id in ids:
            yield secret_id
            parts = "\x1f".join(("credentials", shown, field, target, secret_id))
            yield hmac.new(key, parts.encode(), hashlib.sha256).hexdigest()[:32]


def test_a_copy_of_the_state_folder_recovers_no_password(machine: Machine, tmp_path: Path) -> None:
    policy(machine, project_roots=["~/projects"])
    plant(machine, HOME_A)
    run_once()
    copy = tmp_path / "backup"
    shutil.copytree(machine.state, copy)
    key = (copy / "hygiene-agent" / "install.key").read_bytes()
    # Every 32-hex-digit string anywhere in the copy, in every way it could be written.
    seen = set(re.findall(r"[0-9a-f]{32}", "\n".join(kept_on_disk(copy))))
    places = []
    for _, path, *_, record in store_rows(copy)["scan_cache"]:
        for fact in (json.loads(record) if record else {}).get("facts", []):
            shown = json.loads(record)["shown"]
            places.append((path, shown, fact["field"], fact["target"]))
    assert len(places) == 6 and len(seen) > 5  # the attacker has the places and the ids

    words = COMMON_LIST.read_text(encoding="utf-8").splitlines()
    guesses = [w for w in words if w and not w.startswith("#")]
    guesses += HOME_A.values()  # the attacker's best case: the right guess is tried
    assert len(guesses) > 30_000

    def attack(kept: set[str], tried: list[str], *, slow: bool) -> list[str]:
        return [g for g in tried if kept.intersection(old_ids(key, g, places, slow=slow))]

    # The attack works: on what the previous design kept for a planted value, it finds it.
    for slow in (False, True):
        before = set(old_ids(key, HOME_A["fair"], places[1:2], slow=slow))
        assert attack(before, [*guesses[:20], HOME_A["fair"]], slow=slow) == [HOME_A["fair"]]
    assert attack(seen, guesses, slow=False) == []
    assert attack(seen, [*guesses[:SLOWLY_TRIED], *HOME_A.values()], slow=True) == []


# --- a store the previous version wrote ---------------------------------------------------

OLD_ID = "0ddba11c0ffee5eed0ddba11c0ffee5e"  # a finding id made of a password's hash
OLD_HASH = "feedfacecafebeef0123456789abcdef"  # the hash itself, in the scan cache
OLD_MESSAGE = (
    "~/.netrc, line 1: the password for a.example (login ann) is weak: it is only 7 characters."
)
KEPT_ID = "5511a5511a5511a5511a5511a5511a55"  # another check's finding
STAMP = "2026-11-30T08:00:00.000000+00:00"


def schema_4_store(state: Path) -> None:
    """The store as the previous version left it after a credentials scan, made by SQL."""
    state.mkdir(parents=True, mode=0o700)
    conn = sqlite3.connect(state / "store.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        for step in schema.MIGRATIONS[:4]:
            step(conn)
        rows: dict[str, list[tuple[object, ...]]] = {
            "findings": [
                (
                    OLD_ID,
                    "credentials",
                    "~/.netrc",
                    "high",
                    OLD_MESSAGE,
                    "Change it.",
                    STAMP,
                    STAMP,
                    None,
                    1,
                    STAMP,
                ),
                (
                    KEPT_ID,
                    "ssh_keys",
                    "~/.ssh/id_rsa",
                    "high",
                    "No passphrase.",
                    "Add one.",
                    STAMP,
                    STAMP,
                    None,
                    1,
                    STAMP,
                ),
            ],
            "events (at, kind, target, check_id, detail)": [
                (STAMP, "appeared", OLD_ID, "credentials", "high: ~/.netrc"),
                (STAMP, "snoozed", OLD_ID, "credentials", "until 2026-12-30"),
                (STAMP, "snoozed", "credentials", "credentials", "until 2026-12-30"),
                (STAMP, "appeared", KEPT_ID, "ssh_keys", "high: ~/.ssh/id_rsa"),
            ],
            "snoozes": [
                (OLD_ID, "2026-12-30T00:00:00+00:00", STAMP),
                ("credentials", "2026-12-30T00:00:00+00:00", STAMP),
                (KEPT_ID, "2026-12-30T00:00:00+00:00", STAMP),
            ],
            "notifications (at, check_id, kind, title, body, urgency, backend, delivered, "
            "finding_ids)": [
                (
                    STAMP,
                    "credentials",
                    "new",
                    "A password is stored in plain text",
                    f"{OLD_MESSAGE}\nChange it.",
                    "normal",
                    "dbus",
                    1,
                    json.dumps([OLD_ID]),
                ),
                (
                    STAMP,
                    "ssh_keys",
                    "new",
                    "An SSH key has no passphrase",
                    "No passphrase.",
                    "normal",
                    "dbus",
                    1,
                    json.dumps([KEPT_ID]),
                ),
            ],
            "scan_cache": [
                (
                    "credentials",
                    "/home/ann/.netrc",
                    1,
                    2,
                    60,
                    3,
                    "3:x",
                    json.dumps({"facts": [{"secret_id": OLD_HASH}]}),
                ),
            ],
        }
        for table, values in rows.items():
            marks = ", ".join("?" * len(values[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)  # noqa: S608
        conn.execute("PRAGMA user_version = 4")
    finally:
        conn.close()
    (state / "status.txt").write_text(f"FAILING\n{OLD_MESSAGE}\n")  # the last Details opened


def test_an_upgraded_store_keeps_nothing_made_from_a_value(tmp_path: Path) -> None:
    xdg = tmp_path / "state"
    schema_4_store(xdg / "hygiene-agent")
    old = ("only 7 characters", OLD_ID, OLD_HASH)
    before = "\n".join(kept_on_disk(xdg))
    assert all(text in before for text in old)  # the test's store holds them to begin with

    with Store.open(xdg / "hygiene-agent") as store:
        assert [f.id for f in store.current(datetime(2026, 12, 1, tzinfo=UTC))] == [KEPT_ID]
        assert [n.check for n in store.notifications()] == ["ssh_keys"]

    rows = store_rows(xdg)
    assert [r[0] for r in rows["findings"]] == [KEPT_ID]
    assert [r[0] for r in rows["snoozes"]] == [KEPT_ID, "credentials"]  # the check's stays
    assert [(r[2], r[3]) for r in rows["events"]] == [
        ("snoozed", "credentials"),
        ("appeared", KEPT_ID),
    ]
    assert rows["scan_cache"] == []
    after = "\n".join(kept_on_disk(xdg))  # the store, its WAL, anything beside it
    for text in old:
        assert text not in after
