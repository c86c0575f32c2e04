"""The store: real SQLite files in a temporary state folder, no mocks."""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.errors import AgentError
from agent.models import CheckResult, Finding, Severity, Status
from agent.store import (
    CachedPath,
    Event,
    HeldNotice,
    NotificationRecord,
    Store,
    StoreError,
    TrustedNetwork,
    schema,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
NOBODY = 65534


def finding(
    finding_id: str,
    *,
    subject: str | None = None,
    message: str = "the key has no passphrase",
    advice: str = "add a passphrase with ssh-keygen -p",
    evidence: dict[str, str | int | float | bool | None] | None = None,
) -> Finding:
    return Finding(
        id=finding_id,
        subject=subject or f"~/.ssh/{finding_id}",
        message=message,
        advice=advice,
        evidence=evidence or {},
    )


def result(
    check: str,
    *findings: Finding,
    status: Status | None = None,
    severity: Severity = Severity.high,
) -> CheckResult:
    if status is None:
        status = Status.fail if findings else Status.passed
    return CheckResult(
        check=check,
        status=status,
        severity=severity,
        title=f"{check} title",
        advice=f"{check} advice",
        findings=list(findings),
    )


def notify(
    store: Store,
    at: datetime,
    *finding_ids: str,
    check: str = "ssh_keys",
    kind: str = "new",
    delivered: bool = True,
    reason: str | None = None,
    server_id: int | None = 7,
) -> NotificationRecord:
    return store.record_notification(
        at=at,
        check=check,
        kind=kind,
        title="An SSH key has no passphrase",
        body="Add a passphrase.",
        urgency="normal",
        backend="dbus",
        delivered=delivered,
        reason=reason,
        server_id=server_id,
        finding_ids=finding_ids,
    )


def one_sentence(text: str) -> bool:
    return bool(text) and "\n" not in text and text.endswith(".") and ". " not in text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def user_version(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "hygiene-agent"


@pytest.fixture
def store(state: Path) -> Iterator[Store]:
    with Store.open(state) as opened:
        yield opened


# --- schema and migrations -------------------------------------------------------------


def test_the_hourly_cap_does_not_count_the_agents_own_notice_of_a_refused_policy(
    store: Store,
) -> None:
    notify(store, T0, "a")
    notify(store, T0 + MINUTE, check="policy", kind="policy refused")
    assert store.delivered_times_since(T0) == [T0]


def test_held_notices_are_replaced_whole_and_written_only_when_they_change(store: Store) -> None:
    held = [
        HeldNotice("vpn", "new", "No VPN", "quiet hours", T0 + HOUR, T0, ("v1",)),
        HeldNotice("ssh_keys", "reminder", "Key", "hourly cap", T0 + MINUTE, T0, ("a", "b")),
    ]
    assert store.held() == []
    assert store.replace_held(held) is True
    assert store.held() == sorted(held, key=lambda h: h.goes_at)  # the soonest first
    assert store.replace_held(list(reversed(held))) is False  # the same: nothing written
    assert store.replace_held(held[:1]) is True
    assert [h.check for h in store.held()] == ["vpn"]
    assert store.replace_held([]) is True
    assert store.held() == []


def test_a_new_store_is_created_at_the_current_schema_in_wal_mode(state: Path) -> None:
    with Store.open(state) as store:
        assert store.path == state / "store.db"
        assert store.current(T0) == []
    db = state / "store.db"
    assert Store.SCHEMA_VERSION == 8
    assert user_version(db) == Store.SCHEMA_VERSION
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"findings", "checks", "snoozes", "events", "notifications"} <= tables


def test_an_empty_file_is_migrated_from_version_0(state: Path) -> None:
    state.mkdir(parents=True)
    (state / "store.db").touch()
    with Store.open(state) as store:
        store.record_results([result("ssh_keys", finding("a"))], T0)
    assert user_version(state / "store.db") == Store.SCHEMA_VERSION
    with Store.open(state) as store:  # opening again migrates nothing and keeps the data
        assert [f.id for f in store.current(T0)] == ["a"]
    assert not list(state.glob("store.db.*-*"))


def test_a_new_migration_is_one_appended_step_run_once(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(state) as store:
        store.record_results([result("ssh_keys", finding("a"))], T0)
    runs: list[int] = []
    newest = Store.SCHEMA_VERSION

    def one_more(conn: sqlite3.Connection) -> None:
        runs.append(1)
        conn.execute("CREATE TABLE extra (x INTEGER)")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, one_more))
    monkeypatch.setattr(Store, "SCHEMA_VERSION", newest + 1)
    with Store.open(state) as store:
        assert [f.id for f in store.current(T0)] == ["a"]
    with Store.open(state):
        pass
    assert runs == [1]
    assert user_version(state / "store.db") == newest + 1


def test_a_version_1_store_keeps_its_notifications_and_gains_answers(state: Path) -> None:
    # A store as the previous release left it: the first step only, one notification.
    state.mkdir(parents=True)
    conn = sqlite3.connect(state / "store.db")
    try:
        schema.MIGRATIONS[0](conn)
        conn.execute(
            "INSERT INTO notifications (at, check_id, kind, title, body, urgency, backend, "
            "delivered, reason, server_id, finding_ids) "
            "VALUES ('2026-01-01T00:00:00.000000+00:00', 'ssh_keys', 'new', "
            "'An SSH key has no passphrase', 'Add a passphrase.', 'normal', 'dbus', 1, NULL, "
            "7, '[\"a\"]')"
        )
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    finally:
        conn.close()
    assert user_version(state / "store.db") == 1
    with Store.open(state) as store:
        (record,) = store.notifications()
        assert record.title == "An SSH key has no passphrase" and record.response is None
        assert store.by_server_id("bus", 7) is None  # another backend's numbering
        found = store.by_server_id("dbus", 7)
        assert found is not None and found.id == record.id
        # Opening the details decides nothing: the snooze after it is what is kept, and the
        # first decision stays.
        store.record_response(record, "opened the details", T0)
        store.record_response(record, "snoozed 1 day", T0 + timedelta(minutes=1))
        store.record_response(record, "dismissed", T0 + timedelta(minutes=2))
        store.record_response(record, "opened the details", T0 + timedelta(minutes=3))
        (answered,) = store.notifications()
    assert answered.response == "snoozed 1 day"
    assert answered.response_at == T0 + timedelta(minutes=1)
    assert user_version(state / "store.db") == Store.SCHEMA_VERSION


def test_a_failed_migration_step_is_rolled_back_entirely(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(state).close()
    newest = Store.SCHEMA_VERSION

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE extra (x INTEGER)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(Store, "SCHEMA_VERSION", newest + 1)
    with pytest.raises(StoreError) as caught:
        Store.open(state)
    assert one_sentence(str(caught.value))
    db = state / "store.db"
    assert user_version(db) == newest
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchall() == []
    finally:
        conn.close()


# --- permissions ----------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_folder_is_0700_and_every_file_0600_even_with_umask_0(state: Path) -> None:
    old_umask = os.umask(0)
    try:
        with Store.open(state) as store:
            store.record_results([result("ssh_keys", finding("a"))], T0)
            db = state / "store.db"
            wal, shm = state / "store.db-wal", state / "store.db-shm"
            assert wal.exists()
            assert shm.exists()
            assert mode(state) == 0o700
            assert {p.name: mode(p) for p in (db, wal, shm)} == {
                "store.db": 0o600,
                "store.db-wal": 0o600,
                "store.db-shm": 0o600,
            }
    finally:
        os.umask(old_umask)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_loose_permissions_on_an_existing_store_are_tightened(state: Path) -> None:
    Store.open(state).close()
    state.chmod(0o755)
    (state / "store.db").chmod(0o644)
    with Store.open(state) as store:
        store.snooze("ssh_keys", T0 + HOUR, T0)
        assert mode(state) == 0o700
        assert mode(state / "store.db") == 0o600
        assert mode(state / "store.db-wal") == 0o600


# --- findings: appeared, changed, resolved --------------------------------------------


def test_findings_appear_update_and_resolve(store: Store) -> None:
    changes = store.record_results([result("ssh_keys", finding("a"), finding("b"))], T0)
    assert [(c.kind, c.finding.id) for c in changes] == [("appeared", "a"), ("appeared", "b")]
    a = changes[0].finding
    assert (a.check, a.severity, a.subject) == ("ssh_keys", Severity.high, "~/.ssh/a")
    assert (a.first_seen, a.last_seen, a.resolved_at) == (T0, T0, None)
    assert (a.times_notified, a.last_notified, a.snoozed_until) == (0, None, None)

    # Seen again unchanged: no change, last_seen moves on, first_seen stays.
    assert store.record_results([result("ssh_keys", finding("a"), finding("b"))], T0 + MINUTE) == []
    again = store.get("a", T0 + MINUTE)
    assert again is not None
    assert (again.first_seen, again.last_seen) == (T0, T0 + MINUTE)

    # Message, advice or severity changed -> "changed"; evidence alone is not a change.
    changes = store.record_results(
        [
            result(
                "ssh_keys",
                finding("a", message="the key is 1024-bit RSA"),
                finding("b", evidence={"reason": "other"}),
                severity=Severity.critical,
            )
        ],
        T0 + 2 * MINUTE,
    )
    assert [(c.kind, c.finding.id) for c in changes] == [("changed", "a"), ("changed", "b")]
    assert changes[0].finding.message == "the key is 1024-bit RSA"
    assert changes[1].finding.severity == Severity.critical
    changes = store.record_results(
        [
            result(
                "ssh_keys",
                finding("a", message="the key is 1024-bit RSA", advice="make a new key"),
                finding("b", evidence={"reason": "changed again"}),
                severity=Severity.critical,
            )
        ],
        T0 + 3 * MINUTE,
    )
    assert [(c.kind, c.finding.id, c.finding.advice) for c in changes] == [
        ("changed", "a", "make a new key")
    ]

    # Absent from a passing result -> resolved.
    changes = store.record_results([result("ssh_keys", finding("b"))], T0 + 4 * MINUTE)
    assert [(c.kind, c.finding.id) for c in changes] == [("changed", "b"), ("resolved", "a")]
    assert changes[1].finding.resolved_at == T0 + 4 * MINUTE
    assert [f.id for f in store.current(T0 + 4 * MINUTE)] == ["b"]
    resolved = store.get("a", T0 + 4 * MINUTE)
    assert resolved is not None
    assert resolved.resolved_at == T0 + 4 * MINUTE
    assert store.get("nope", T0) is None

    changes = store.record_results([result("ssh_keys")], T0 + 5 * MINUTE)
    assert [(c.kind, c.finding.id) for c in changes] == [("resolved", "b")]
    assert store.current(T0 + 5 * MINUTE) == []

    assert [(e.kind, e.target) for e in store.events()] == [
        ("appeared", "a"),
        ("appeared", "b"),
        ("changed", "a"),
        ("changed", "b"),
        ("changed", "a"),
        ("changed", "b"),
        ("resolved", "a"),
        ("resolved", "b"),
    ]
    assert store.events("a")[2] == Event(T0 + 3 * MINUTE, "changed", "a", "advice")
    assert store.events("b")[1].detail == "severity high -> critical"


def test_a_resolved_finding_that_comes_back_appears_anew(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a"))], T0)
    notify(store, T0 + MINUTE, "a")
    store.record_results([result("ssh_keys")], T0 + HOUR)
    changes = store.record_results([result("ssh_keys", finding("a"))], T0 + 2 * HOUR)
    assert [c.kind for c in changes] == ["appeared"]
    back = changes[0].finding
    assert (back.first_seen, back.last_seen, back.resolved_at) == (
        T0 + 2 * HOUR,
        T0 + 2 * HOUR,
        None,
    )
    # A new occurrence: the person has not been told about this one yet.
    assert (back.times_notified, back.last_notified) == (0, None)


@pytest.mark.parametrize("status", [Status.error, Status.skip])
def test_error_and_skip_results_leave_their_findings_untouched(
    store: Store, status: Status
) -> None:
    store.record_results([result("ssh_keys", finding("a")), result("vpn", finding("v"))], T0)
    changes = store.record_results(
        [result("ssh_keys", status=status), result("vpn", finding("v"))], T0 + HOUR
    )
    assert changes == []
    a = store.get("a", T0 + HOUR)
    assert a is not None
    assert (a.resolved_at, a.last_seen) == (None, T0)
    assert [f.id for f in store.current(T0 + HOUR)] == ["a", "v"]
    assert store.known_target("ssh_keys")


def test_a_result_only_resolves_findings_of_its_own_check(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a")), result("vpn", finding("v"))], T0)
    changes = store.record_results([result("vpn")], T0 + MINUTE)
    assert [(c.kind, c.finding.id) for c in changes] == [("resolved", "v")]
    assert [f.id for f in store.current(T0 + MINUTE)] == ["a"]


def test_current_lists_the_most_severe_first_then_the_oldest(store: Store) -> None:
    store.record_results([result("low", finding("l1"), severity=Severity.low)], T0)
    store.record_results(
        [
            result("low", finding("l1"), finding("l2"), severity=Severity.low),
            result("crit", finding("c1"), severity=Severity.critical),
        ],
        T0 + MINUTE,
    )
    store.record_results([result("med", finding("m1"), severity=Severity.medium)], T0 + HOUR)
    assert [f.id for f in store.current(T0 + HOUR)] == ["c1", "m1", "l1", "l2"]


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_results([result("ssh_keys", finding("a"))], datetime(2024, 5, 1))
    assert store.events() == []


def test_times_are_kept_in_utc(store: Store) -> None:
    paris = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    store.record_results([result("ssh_keys", finding("a"))], paris)
    a = store.get("a", paris)
    assert a is not None
    assert a.first_seen == T0
    assert a.first_seen.tzinfo == UTC
    assert store.events()[0].at.tzinfo == UTC
    conn = sqlite3.connect(store.path)
    try:
        row = conn.execute("SELECT first_seen FROM findings WHERE id = 'a'").fetchone()
    finally:
        conn.close()
    assert row == ("2024-05-01T12:00:00.000000+00:00",)


# --- snoozes --------------------------------------------------------------------------


def test_snoozes_of_checks_and_findings(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a"), finding("b"))], T0)
    store.snooze("ssh_keys", T0 + HOUR, T0)
    store.snooze("a", T0 + 3 * HOUR, T0)
    store.snooze("b", T0 + MINUTE, T0)

    def until(finding_id: str, now: datetime) -> datetime | None:
        state = store.get(finding_id, now)
        assert state is not None
        return state.snoozed_until

    # The later of the check's and the finding's own snooze, while active.
    assert until("a", T0) == T0 + 3 * HOUR
    assert until("b", T0) == T0 + HOUR
    assert until("b", T0 + 2 * MINUTE) == T0 + HOUR
    assert until("b", T0 + 2 * HOUR) is None
    assert [f.snoozed_until for f in store.current(T0)] == [T0 + 3 * HOUR, T0 + HOUR]
    assert store.snoozes(T0) == {"ssh_keys": T0 + HOUR, "a": T0 + 3 * HOUR, "b": T0 + MINUTE}
    assert store.snoozes(T0 + 2 * HOUR) == {"a": T0 + 3 * HOUR}

    # A new snooze of the same target replaces the earlier one, even a shorter one.
    store.snooze("a", T0 + 30 * MINUTE, T0 + MINUTE)
    assert store.snoozes(T0 + 2 * MINUTE)["a"] == T0 + 30 * MINUTE

    assert store.unsnooze("ssh_keys", T0 + 2 * MINUTE) is True
    assert store.unsnooze("ssh_keys", T0 + 2 * MINUTE) is False
    assert store.unsnooze("never-snoozed", T0) is False
    assert store.unsnooze("b", T0 + HOUR) is False  # expired already
    assert until("b", T0 + 2 * MINUTE) is None
    assert store.snoozes(T0 + 2 * MINUTE) == {"a": T0 + 30 * MINUTE}

    assert [(e.kind, e.target) for e in store.events() if "snoozed" in e.kind] == [
        ("snoozed", "ssh_keys"),
        ("snoozed", "a"),
        ("snoozed", "b"),
        ("snoozed", "a"),
        ("unsnoozed", "ssh_keys"),
    ]
    assert store.events("a")[-1].detail.startswith("until 2024-05-01T12:30:00")


def test_known_targets_are_checks_and_findings_ever_seen(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a")), result("vpn", status=Status.skip)], T0)
    store.record_results([result("ssh_keys")], T0 + MINUTE)
    assert store.known_target("ssh_keys")
    assert store.known_target("vpn")
    assert store.known_target("a")  # resolved, but known
    assert not store.known_target("no_such_check")


def test_events_of_a_check_include_those_of_its_findings(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a")), result("vpn", finding("v"))], T0)
    store.snooze("ssh_keys", T0 + HOUR, T0)
    assert [(e.kind, e.target) for e in store.events("ssh_keys")] == [
        ("appeared", "a"),
        ("snoozed", "ssh_keys"),
    ]
    assert [(e.kind, e.target) for e in store.events("v")] == [("appeared", "v")]
    assert store.events("nothing") == []


# --- notifications --------------------------------------------------------------------


def test_the_notification_log_and_counters(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a"), finding("b"))], T0)
    first = store.record_notification(
        at=T0 + MINUTE,
        check="ssh_keys",
        kind="new",
        title="2 SSH keys have no passphrase",
        body="~/.ssh/a, ~/.ssh/b",
        urgency="critical",
        backend="dbus",
        delivered=True,
        reason=None,
        server_id=41,
        finding_ids=["a", "b"],
    )
    assert first.finding_ids == ("a", "b")
    assert (first.delivered, first.server_id, first.at) == (True, 41, T0 + MINUTE)
    notify(store, T0 + 2 * MINUTE, "a", delivered=False, reason="no session bus", server_id=None)
    notify(store, T0 + 3 * MINUTE, "a", kind="reminder", server_id=None)
    notify(store, T0 + 4 * MINUTE, check="vpn", kind="new", server_id=99)
    notify(store, T0 + 5 * MINUTE, check="vpn", delivered=False, reason="dunst is gone")

    a, b = store.get("a", T0), store.get("b", T0)
    assert a is not None
    assert b is not None
    assert (a.times_notified, a.last_notified) == (2, T0 + 3 * MINUTE)
    assert (b.times_notified, b.last_notified) == (1, T0 + MINUTE)

    log = store.notifications()
    assert [n.at for n in log] == [T0 + k * MINUTE for k in (5, 4, 3, 2, 1)]
    assert log[-1] == first
    assert [n.id for n in store.notifications(limit=2)] == [log[0].id, log[1].id]
    assert store.notifications(limit=0) == []
    failed = log[3]
    assert (failed.delivered, failed.reason, failed.finding_ids) == (
        False,
        "no session bus",
        ("a",),
    )

    # Delivered ones only, oldest first: what the hourly cap counts and ages out.
    assert store.delivered_times_since(T0) == [T0 + k * MINUTE for k in (1, 3, 4)]
    assert store.delivered_times_since(T0 + 3 * MINUTE) == [T0 + 3 * MINUTE, T0 + 4 * MINUTE]
    assert store.delivered_times_since(T0 + HOUR) == []

    # The newest delivered one of that check that has a server id.
    assert store.last_server_id("ssh_keys") == 41
    assert store.last_server_id("vpn") == 99
    assert store.last_server_id("idle_sessions") is None

    kinds = [(e.kind, e.target, e.detail) for e in store.events() if e.at > T0]
    assert kinds == [
        ("notified", "a", "new via dbus"),
        ("notified", "b", "new via dbus"),
        ("delivery failed", "a", "new via dbus: no session bus"),
        ("notified", "a", "reminder via dbus"),
        ("notified", "vpn", "new via dbus"),
        ("delivery failed", "vpn", "new via dbus: dunst is gone"),
    ]


def test_a_resolved_finding_keeps_its_notification_count(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a"))], T0)
    notify(store, T0 + MINUTE, "a")
    changes = store.record_results([result("ssh_keys")], T0 + HOUR)
    assert [(c.kind, c.finding.times_notified) for c in changes] == [("resolved", 1)]


# --- damaged and newer stores ---------------------------------------------------------


def _random_bytes(db: Path) -> None:
    db.write_bytes(os.urandom(8192))
    db.with_name("store.db-wal").write_bytes(b"not a wal either")


def _truncated(db: Path) -> None:
    with Store.open(db.parent) as store:
        store.record_results(
            [result("ssh_keys", *(finding(f"k{i}", message="m" * 400) for i in range(100)))], T0
        )
    data = db.read_bytes()
    assert len(data) > 16 * 4096
    db.write_bytes(data[: len(data) // 2])


def _missing_table(db: Path) -> None:
    Store.open(db.parent).close()
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE events")
    conn.commit()
    conn.close()


def _foreign_database(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE findings (something_else TEXT)")
    conn.commit()
    conn.close()


def _newer(db: Path) -> None:
    with Store.open(db.parent) as store:
        store.record_results([result("ssh_keys", finding("a"))], T0)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {Store.SCHEMA_VERSION + 1}")
    conn.close()


@pytest.mark.parametrize(
    ("damage", "kind"),
    [
        (_random_bytes, "corrupt"),
        (_truncated, "corrupt"),
        (_missing_table, "corrupt"),
        (_foreign_database, "corrupt"),
        (_newer, "newer"),
    ],
    ids=["random-bytes", "truncated", "missing-table", "foreign-tables", "newer-version"],
)
@pytest.mark.parametrize("agent", [True, False], ids=["agent", "command"])
def test_an_unusable_store_is_set_aside_and_a_fresh_one_started(
    state: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
    kind: str,
    agent: bool,
) -> None:
    state.mkdir(parents=True)
    db = state / "store.db"
    damage(db)
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    caplog.clear()

    with (
        caplog.at_level(logging.WARNING, logger="agent.store"),
        Store.open(state, agent=agent) as store,
    ):
        changes = store.record_results([result("ssh_keys", finding("fresh"))], T0)
        assert [c.kind for c in changes] == ["appeared"]
        assert [f.id for f in store.current(T0)] == ["fresh"]

    asides = [p for p in state.iterdir() if p.name.startswith("store.db.")]
    main = [p for p in asides if not p.name.endswith(("-wal", "-shm"))]
    assert len(main) == 1
    aside = main[0]
    assert re.fullmatch(rf"store\.db\.{kind}-\d{{8}}T\d{{6}}", aside.name)
    # Nothing lost: the old file (and its WAL, if it had one) is there byte for byte.
    assert aside.read_bytes() == before["store.db"]
    if "store.db-wal" in before:
        assert aside.with_name(aside.name + "-wal").read_bytes() == before["store.db-wal"]

    # The agent says it in its log; a command, on the terminal of the person who typed it.
    warnings = [r.getMessage() for r in caplog.records if r.name == "agent.store"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    said = capsys.readouterr().err.splitlines()
    if not agent:
        assert all(line.startswith("hygiene: warning: ") for line in said)
        warnings += [line.removeprefix("hygiene: warning: ") for line in said]
    assert len(warnings) == 1
    message = warnings[0]
    assert str(aside) in message
    assert one_sentence(message.replace(str(aside), "ASIDE").replace(str(db), "DB"))
    assert user_version(db) == Store.SCHEMA_VERSION


def test_a_second_damaged_store_in_the_same_second_overwrites_nothing(state: Path) -> None:
    state.mkdir(parents=True)
    db = state / "store.db"
    for n in range(3):
        db.write_bytes(b"garbage %d" % n)
        Store.open(state).close()
    asides = sorted(p for p in state.iterdir() if p.name.startswith("store.db."))
    contents = sorted(p.read_bytes() for p in asides if not p.name.endswith(("-wal", "-shm")))
    assert contents == [b"garbage 0", b"garbage 1", b"garbage 2"]


# --- a disk, a folder or another process that says no -----------------------------------


@contextmanager
def unprivileged() -> Iterator[Path]:
    """A folder to work in as a user whom permissions apply to (root ignores them)."""
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    base = Path(tempfile.mkdtemp(prefix="hygiene-store-"))
    if os.geteuid() != 0:
        try:
            yield base
        finally:
            for path in [base, *base.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o700)
            shutil.rmtree(base)
        return
    os.chown(base, NOBODY, NOBODY)
    try:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    except PermissionError:
        shutil.rmtree(base)
        pytest.skip("running as root without the right to drop privileges")
    try:
        (base / "probe").touch()  # the folder really is ours to write
        yield base
    finally:
        os.seteuid(0)
        os.setegid(0)
        shutil.rmtree(base)


def test_a_read_only_state_folder_is_a_store_error() -> None:
    with unprivileged() as base:
        state = base / "state"
        state.mkdir(mode=0o500)
        with pytest.raises(StoreError) as caught:
            Store.open(state)
        message = str(caught.value)
        assert one_sentence(message.replace(str(state), "STATE"))
        assert "permission denied" in message


def test_a_store_in_a_folder_made_read_only_is_a_store_error() -> None:
    with unprivileged() as base:
        state = base / "state"
        with Store.open(state) as store:
            store.record_results([result("ssh_keys", finding("a"))], T0)
        state.chmod(0o500)
        with pytest.raises(StoreError) as caught:
            Store.open(state)
        assert isinstance(caught.value, AgentError)
        assert one_sentence(str(caught.value).replace(str(state), "STATE"))
        state.chmod(0o700)


def test_an_unwritable_store_file_is_a_store_error() -> None:
    with unprivileged() as base:
        state = base / "state"
        Store.open(state).close()
        db = state / "store.db"
        db.chmod(0o400)
        before = db.read_bytes()
        with pytest.raises(StoreError) as caught:
            Store.open(state)
        message = str(caught.value)
        assert one_sentence(message.replace(str(db), "DB"))
        assert "cannot be opened for writing" in message
        assert db.read_bytes() == before
        assert mode(db) == 0o400
        assert not list(state.glob("store.db.*"))  # not mistaken for a damaged store


def test_a_full_disk_is_a_store_error_and_writes_nothing(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a"))], T0)
    # SQLite's own page limit stands in for the disk: the same SQLITE_FULL reaches the store.
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    many = [finding(f"k{i}", message="m" * 500) for i in range(200)]
    with pytest.raises(StoreError) as caught:
        store.record_results([result("ssh_keys", *many)], T0 + MINUTE)
    message = str(caught.value)
    assert one_sentence(message.replace(str(store.path), "DB"))
    assert "the disk is full" in message
    # One transaction: nothing of the failed call was kept, and the store still works.
    assert [f.id for f in store.current(T0 + MINUTE)] == ["a"]
    assert len(store.events()) == 1
    store._conn.execute("PRAGMA max_page_count = 1000000")  # room again: the store goes on
    assert len(store.record_results([result("ssh_keys", *many)], T0 + HOUR)) == 201


def test_a_store_locked_by_another_process_is_a_store_error(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "BUSY_TIMEOUT", 0.05)
    with Store.open(state) as store:
        other = sqlite3.connect(store.path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreError) as caught:
                store.snooze("ssh_keys", T0 + HOUR, T0)
            message = str(caught.value)
            assert one_sentence(message.replace(str(store.path), "DB"))
            assert "locked" in message
            assert store.snoozes(T0) == {}  # readers are not blocked in WAL mode
            other.execute("ROLLBACK")
        finally:
            other.close()
        store.snooze("ssh_keys", T0 + HOUR, T0)
        assert store.snoozes(T0) == {"ssh_keys": T0 + HOUR}


def test_a_closed_store_raises_a_store_error(state: Path) -> None:
    store = Store.open(state)
    store.close()
    with pytest.raises(StoreError):
        store.current(T0)


# --- privacy --------------------------------------------------------------------------


def test_evidence_never_reaches_the_store_files(state: Path) -> None:
    canary = "hunter2-CANARY-7f3a9c"
    leaky = finding("a", evidence={"value": canary, "prefix": canary[:12]})
    with Store.open(state) as store:
        store.record_results([result("credentials", leaky)], T0)
        store.record_results(
            [result("credentials", finding("a", evidence={"value": canary + "!"}))], T0 + MINUTE
        )
        notify(store, T0 + 2 * MINUTE, "a")
        assert (state / "store.db-wal").exists()
        files = {p.name: p.read_bytes() for p in state.iterdir() if p.is_file()}
        assert "store.db-wal" in files
        state_of_a = store.get("a", T0)
        assert state_of_a is not None
        assert canary not in repr(state_of_a)
    files.update({p.name: p.read_bytes() for p in state.iterdir() if p.is_file()})
    for name, data in files.items():
        for needle in (canary, canary[:12]):
            for encoded in (
                needle.encode(),
                needle.encode("utf-16-le"),
                needle.encode().hex().encode(),
            ):
                assert encoded not in data, name


# --- kill -9 ----------------------------------------------------------------------------


def _said_by(server: subprocess.Popen[str]) -> str:
    """What the writer server wrote to stderr: read only once it has ended, since reading a
    live process's stderr to its end would wait for ever (the server waits for stdin)."""
    server.kill()
    assert server.stderr is not None
    return server.stderr.read()


HOT_JOURNAL = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 1")  # spill to the file mid-transaction
conn.execute("BEGIN")
conn.execute("CREATE TABLE half (x)")
for _ in range(300):
    conn.execute("INSERT INTO half VALUES (?)", (os.urandom(500),))
os.kill(os.getpid(), 9)
"""


def test_a_store_whose_creation_was_killed_midway_opens(state: Path) -> None:
    """A process killed while it creates the store leaves a hot rollback journal, which only
    a read-write connection may roll back: a reader says so in one sentence, and the next
    writer puts it right (it had refused as "read-only" for ever after)."""
    state.mkdir(parents=True)
    path = state / "store.db"
    subprocess.run([sys.executable, "-c", HOT_JOURNAL, str(path)], check=False, timeout=60)
    assert path.with_name("store.db-journal").exists()
    with pytest.raises(StoreError) as refused:
        Store.open_read_only(state)
    assert "was left half-written" in str(refused.value)
    with Store.open(state) as store:
        assert store.current(T0) == []
    reader = Store.open_read_only(state)
    assert reader is not None
    reader.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_kill_9_fifty_times_loses_no_committed_event(state: Path) -> None:
    seed = int.from_bytes(os.urandom(4))
    rng = random.Random(seed)  # noqa: S311 - kill timings, not secrets; the seed is in failures
    writer = Path(__file__).with_name("store_writer.py")
    server = subprocess.Popen(
        [sys.executable, str(writer), str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    assert server.stderr is not None
    committed: list[tuple[str, str]] = []
    try:
        for round_no in range(50):
            server.stdin.write("go\n")
            server.stdin.flush()
            start = server.stdout.readline().split()
            assert start[:1] == ["start"], (seed, round_no, start, _said_by(server))
            if round_no % 5 == 0:
                # While it opens the store (on the first round: creates and migrates it).
                time.sleep(rng.uniform(0, 0.005))
            else:
                # Somewhere in its write loop, checkpoints included.
                first = server.stdout.readline().split()
                assert first[:1] != ["end"], (seed, round_no, _said_by(server))
                committed.append((first[0], first[1]))
                time.sleep(rng.uniform(0, 0.02))
            os.kill(int(start[1]), signal.SIGKILL)
            while True:
                line = server.stdout.readline().split()
                assert line, (seed, round_no, _said_by(server))
                if line[0] == "end":
                    assert line[1:] == [str(int(signal.SIGKILL)), "0"], (seed, round_no, line)
                    break
                committed.append((line[0], line[1]))
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        server.stdout.close()
        server.stderr.close()

    assert len(committed) >= 40, seed

    conn = sqlite3.connect(state / "store.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], seed
    finally:
        conn.close()
    with Store.open(state) as store:
        stored = {(e.kind, e.target) for e in store.events()}
        assert not list(state.glob("store.db.*-*"))  # never mistaken for a damaged store
    missing = [c for c in committed if c not in stored]
    assert missing == [], seed


# --- one connection, many threads -----------------------------------------------------


def test_one_store_is_shared_by_threads_without_losing_a_write(store: Store) -> None:
    """The agent's checks use its one connection from their own threads at once."""
    errors: list[BaseException] = []
    rounds = 40

    def scanner(n: int) -> None:
        try:
            for i in range(rounds):
                rows = [CachedPath(f"/home/a/{n}-{i}-{k}", (1, k, 2, 3)) for k in range(5)]
                store.keep_scan_cache(f"scanner-{n}", "v1", rows)
                assert len(store.scan_cache(f"scanner-{n}", "v1")) == 5
                store.trust_network(TrustedNetwork(f"fp-{n}-{i}", "wired", f"net {n}", T0))
                store.trusted_networks()
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)

    threads = [threading.Thread(target=scanner, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for i in range(rounds):  # the main loop writes results meanwhile, as the agent does
        store.record_results([result("ssh_keys", finding(f"k{i}"))], T0 + i * MINUTE)
        notify(store, T0 + i * MINUTE, f"k{i}")
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(store.trusted_networks()) == 6 * rounds
    assert [(e.kind, e.target) for e in store.events() if e.kind == "appeared"] == [
        ("appeared", f"k{i}") for i in range(rounds)
    ]
    assert len(store.notifications()) == rounds


# --- reading only ------------------------------------------------------------------------


def _version_1(db: Path) -> None:
    conn = sqlite3.connect(db)
    schema.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_random_bytes, "damaged"),
        (_missing_table, "damaged"),
        (_newer, "newer version"),
        (_version_1, "older version"),
    ],
    ids=["random-bytes", "missing-table", "newer-version", "older-version"],
)
def test_reading_only_never_moves_or_migrates_a_store(
    state: Path, damage: Callable[[Path], None], says: str
) -> None:
    state.mkdir(parents=True)
    db = state / "store.db"
    damage(db)
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    with pytest.raises(StoreError) as caught:
        Store.open_read_only(state)
    message = str(caught.value)
    assert says in message
    assert one_sentence(message.replace(str(db), "DB").replace("; ", ", "))
    # Nothing set aside, nothing rewritten (SQLite may add an empty WAL and its index).
    assert not list(state.glob("store.db.*"))
    for name, data in before.items():
        if not name.endswith("-shm"):
            assert (state / name).read_bytes() == data


def test_reading_only_finds_no_store_in_an_empty_or_missing_place(state: Path) -> None:
    assert Store.open_read_only(state) is None
    assert not state.exists()
    state.mkdir(parents=True)
    (state / "store.db").touch()  # created by a writer that has not migrated it yet
    assert Store.open_read_only(state) is None
    assert (state / "store.db").stat().st_size == 0


def test_a_read_only_store_reads_what_the_writer_committed(store: Store) -> None:
    store.record_results([result("ssh_keys", finding("a"))], T0)
    reader = Store.open_read_only(store.path.parent)
    assert reader is not None
    with reader:
        assert [f.id for f in reader.current(T0)] == ["a"]
        store.record_results([result("ssh_keys")], T0 + MINUTE)  # the agent writes on
        assert reader.current(T0 + MINUTE) == []
        with pytest.raises(StoreError) as caught:
            reader.snooze("ssh_keys", T0 + HOUR, T0)
        assert "read-only" in str(caught.value)
