"""Fleet outputs read by the real tools: sqlite3 (as osquery's ATC reads), GNU tail -F (as a
shipper follows a file by name) and Debian's prometheus-node-exporter."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from agent.checks import ALL_CHECKS
from agent.fleet import (
    EVENTS_FILE,
    PROM_FILE,
    SQLITE_FILE,
    AgentFacts,
    FleetError,
    Outputs,
    SqliteReport,
    agent_event,
    append_events,
    changes,
    previous_from_sqlite,
    prometheus_text,
    reported_fields,
    snapshot,
    write_prometheus,
    write_sqlite,
)
from agent.models import CheckResult, Excepted, Finding, Severity, Status
from agent.policy_settings import LayerInfo
from tests.conftest import REPO, Machine, Outcome, as_nobody, require_root, require_tool

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DOCS = REPO / "docs" / "fleet.md"
CANARY_SUBJECT = "~/canary-subject-Hq27/.netrc"
CANARY_MESSAGE = "canary-message-Lp40: a password is kept in plain text"
CANARY_EVIDENCE = "canary-evidence-Zx81"
# Pieces that must not leave without details; the subject's folder name is unique enough.
CANARIES = ("canary-subject-Hq27", "canary-message-Lp40")


# --- results and helpers ----------------------------------------------------------------


def result(
    check: str,
    status: Status,
    findings: Sequence[Finding] = (),
    *,
    severity: Severity = Severity.high,
    notes: Sequence[str] = (),
) -> CheckResult:
    return CheckResult(
        check=check,
        status=status,
        severity=severity,
        title=f"{check} title",
        advice=f"{check} advice",
        findings=list(findings),
        notes=list(notes),
    )


def audit(vpn: Status = Status.passed, plain_text: int = 2) -> list[CheckResult]:
    """A cycle with one check in each status; `plain_text` findings for credentials."""
    credentials = [
        Finding(
            id="cred-1",
            subject=CANARY_SUBJECT,
            message=CANARY_MESSAGE,
            advice="move it into the keyring",
            evidence={"reason": CANARY_EVIDENCE},
            severity=Severity.critical,
        ),
        Finding(
            id="cred-2",
            subject="~/.config/rclone/rclone.conf",
            message="an rclone password is only obscured",
            advice="set a config password",
            severity=Severity.medium,
        ),
    ][:plain_text]
    on_wifi = Finding(
        id="vpn-1",
        subject="this Wi-Fi network",
        message="no VPN on an untrusted network",
        advice="turn the VPN on",
    )
    return [
        result("vpn", vpn, [on_wifi] if vpn is Status.fail else []),
        result("credentials", Status.fail if plain_text else Status.passed, credentials),
        result("ssh_keys", Status.passed),
        result("screen_lock", Status.error, severity=Severity.medium),
        result("disk_encryption", Status.skip, notes=["disabled by the policy"]),
    ]


def sql(db: Path, query: str) -> list[dict[str, object]]:
    """Rows as the real sqlite3 shell returns them, read-only and with no busy timeout:
    the way osquery's ATC opens a database."""
    done = subprocess.run(
        [require_tool("sqlite3"), "-readonly", "-batch", "-json", str(db), query],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr, (query, done.stderr)
    rows: list[dict[str, object]] = json.loads(done.stdout) if done.stdout.strip() else []
    return rows


def docs_block(language: str, containing: str) -> str:
    blocks = re.findall(r"```(\w+)\n(.*?)```", DOCS.read_text(), re.S)
    found = [body for lang, body in blocks if lang == language and containing in body]
    assert len(found) == 1, f"docs/fleet.md: one {language} block with {containing!r} expected"
    return str(found[0])


def atc_table() -> dict[str, object]:
    config = json.loads(docs_block("json", "auto_table_construction"))
    table: dict[str, object] = config["auto_table_construction"]["hygiene"]
    return table


def policy_queries() -> list[str]:
    block = docs_block("sql", "SELECT 1 FROM hygiene")
    return [line for line in block.splitlines() if line.startswith("SELECT")]


def written(folder: Path) -> list[str]:
    """Every file in `folder`, read every way text could be stored in it."""
    views = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        views += [data.decode("latin-1"), data.decode("utf-16-le", "replace")]
    return views


def lines_of(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path} ends in half a line"
    return [json.loads(line) for line in text.splitlines()]


def checkout_env() -> dict[str, str]:
    """A child Python that imports this checkout's agent package."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


def one_sentence(err: BaseException) -> str:
    text = str(err)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text, text
    return text


# --- osquery: SQLite --------------------------------------------------------------------


def test_sqlite_rows_layout_and_modes(tmp_path: Path) -> None:
    db = tmp_path / "report" / SQLITE_FILE
    write_sqlite(db, audit(), AT, details=False)

    stamp = {"updated_at": "2024-05-01T12:00:00Z", "updated_at_unix": 1714564800}
    none_excepted = {"excepted": 0, "excepted_until": None}

    def row(check: str, status: str, severity: str, findings: int, notes: int) -> object:
        skip = "not_applicable" if status == "skip" else None
        return (
            {"check_id": check, "status": status, "skip_reason": skip, "severity": severity}
            | {"findings": findings}
            | none_excepted
            | {"notes": notes}
            | stamp
        )

    assert sql(db, "SELECT * FROM hygiene ORDER BY check_id") == [
        row("credentials", "fail", "high", 2, 0),
        row("disk_encryption", "skip", "high", 0, 1),
        row("screen_lock", "error", "medium", 0, 0),
        row("ssh_keys", "pass", "high", 0, 0),
        row("vpn", "pass", "high", 0, 0),
    ]
    assert sql(db, "PRAGMA user_version") == [{"user_version": 2}]
    assert sql(db, "PRAGMA journal_mode") == [{"journal_mode": "wal"}]
    assert sql(db, "SELECT key, value FROM meta ORDER BY key") == [
        {"key": "details", "value": "0"},
        {"key": "layout", "value": "2"},
        {"key": "producer", "value": "hygiene-agent"},
        {"key": "updated_at", "value": "2024-05-01T12:00:00Z"},
    ]
    assert sql(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") == [
        {"name": "hygiene"},
        {"name": "hygiene_agent"},
        {"name": "hygiene_policy"},
        {"name": "hygiene_problems"},
        {"name": "meta"},
    ]
    assert stat.S_IMODE(db.stat().st_mode) == 0o644
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700

    # Under a strict umask too, and a missing state folder above it is made private.
    nested = tmp_path / "state" / "hygiene-agent" / "report" / SQLITE_FILE
    old_umask = os.umask(0o077)
    try:
        write_sqlite(nested, audit(), AT, details=False)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(nested.stat().st_mode) == 0o644
    for folder in (nested.parent, nested.parent.parent, nested.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    # The next cycle replaces every row: a check gone from the results is gone from the table.
    write_sqlite(db, audit()[:2], AT + timedelta(minutes=1), details=False)
    assert sql(db, "SELECT check_id, updated_at FROM hygiene ORDER BY check_id") == [
        {"check_id": "credentials", "updated_at": "2024-05-01T12:01:00Z"},
        {"check_id": "vpn", "updated_at": "2024-05-01T12:01:00Z"},
    ]


def test_the_fleet_vpn_policy(tmp_path: Path) -> None:
    db = tmp_path / SQLITE_FILE
    policy = "SELECT 1 FROM hygiene WHERE check_id='vpn' AND status='pass';"
    assert policy in policy_queries()

    write_sqlite(db, audit(vpn=Status.passed), AT, details=False)
    assert sql(db, policy) == [{"1": 1}]
    write_sqlite(db, audit(vpn=Status.fail), AT, details=False)
    assert sql(db, policy) == []


def test_every_policy_in_the_docs(tmp_path: Path) -> None:
    db = tmp_path / SQLITE_FILE
    now = datetime.now(UTC)
    ids = [check.id for check in ALL_CHECKS]
    clean = dataclasses.replace(FACTS, problems=[])

    def cycle(
        overrides: Mapping[str, Status | str], at: datetime = now, agent: AgentFacts = clean
    ) -> None:
        results = []
        for i in ids:
            wanted = overrides.get(i, Status.passed)
            if isinstance(wanted, Status):
                results.append(result(i, wanted))
            else:  # skipped, for this reason
                results.append(dataclasses.replace(result(i, Status.skip), skip_reason=wanted))
        write_sqlite(db, results, at, details=False, agent=agent)

    covered: set[str] = set()
    for query in policy_queries():
        named = re.search(r"check_id(?:='([a-z_]+)'| IN \(([^)]*)\))", query)
        if named is None:  # the agent's own policies: running, and every policy in force
            cycle({})
            assert sql(db, query) == [{"1": 1}], query
            if "heartbeat" in query:
                cycle({}, at=now - timedelta(minutes=31))
            else:
                cycle({}, agent=FACTS)  # a source could not be pulled
            assert sql(db, query) == [], query
            continue
        family = re.findall(r"[a-z_]+", named[1] or named[2])
        assert set(family) <= set(ids), query
        covered |= set(family)
        cycle({})
        assert sql(db, query) == [{"1": 1}], query
        for check_id in family:
            for status in (Status.fail, Status.error):
                cycle({check_id: status})
                assert sql(db, query) == [], (query, check_id, status)
        single = "status='pass'" in query
        # A check the admin turned off, that does not apply or that is excepted fails only
        # the single-check vpn policy, which asks for a pass; one the person turned off fails
        # every policy.
        for reason in ("disabled_by_admin", "not_applicable", "excepted"):
            cycle(dict.fromkeys(family, reason))
            assert sql(db, query) == ([] if single else [{"1": 1}]), (query, reason)
        cycle(dict.fromkeys(family, "disabled_by_user"))
        assert sql(db, query) == [], query
    assert covered == set(ids), "every check belongs to a family policy in docs/fleet.md"


WRITER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from agent.fleet import SqliteReport
from agent.models import CheckResult, Finding, Status, Severity

def cycle(i):
    def r(check, status, n=0):
        found = [Finding(id=f"{check}-{k}", subject="~/x", message="m", advice="a")
                 for k in range(n)]
        return CheckResult(check=check, status=status, severity=Severity.high, title=check,
                           advice="a", findings=found)
    vpn = Status.passed if i % 2 == 0 else Status.fail
    return [r("vpn", vpn), r("credentials", Status.fail if i % 4 else Status.passed, i % 4),
            r("ssh_keys", Status.passed), r("screen_lock", Status.passed),
            r("disk_encryption", Status.skip)]

stop = Path(sys.argv[2])
with SqliteReport(Path(sys.argv[1])) as report:
    i = 0
    while not stop.exists():
        report.write(cycle(i), datetime.fromtimestamp(1_700_000_000 + i, UTC), False)
        if i == 0:
            print("ready", flush=True)
        i += 1
        time.sleep(0.001)
print(i, flush=True)
"""


def test_the_osquery_query_while_another_process_writes(tmp_path: Path) -> None:
    """The ATC query from the docs, run by the real sqlite3 shell the way osquery opens the
    file (read-only, no busy timeout), always sees one whole cycle."""
    table = atc_table()
    assert table["query"] == "SELECT check_id, status, severity, findings, updated_at FROM hygiene"
    assert table["columns"] == ["check_id", "status", "severity", "findings", "updated_at"]
    assert table["platform"] == "linux"
    assert str(table["path"]).endswith("/.local/state/hygiene-agent/report/hygiene.db")

    db, stop = tmp_path / "report" / SQLITE_FILE, tmp_path / "stop"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(db), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=checkout_env(),
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        seen: set[int] = set()
        for _ in range(150):
            rows = sql(db, str(table["query"]))
            assert [r["check_id"] for r in rows] == [
                "vpn",
                "credentials",
                "ssh_keys",
                "screen_lock",
                "disk_encryption",
            ]
            (stamp,) = {str(r["updated_at"]) for r in rows}  # one cycle, never a mix
            i = int(datetime.fromisoformat(stamp).timestamp()) - 1_700_000_000
            by_id = {str(r["check_id"]): r for r in rows}
            assert by_id["vpn"]["status"] == ("pass" if i % 2 == 0 else "fail"), i
            assert by_id["credentials"]["findings"] == i % 4, i
            assert by_id["disk_encryption"]["status"] == "skip"
            seen.add(i)
        assert len(seen) > 10, "the writer kept writing while the queries ran"
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=30)
    assert writer.returncode == 0, err
    assert not err
    assert int(out.split()[-1]) > max(seen)


@pytest.mark.parametrize("keep_open", [False, True], ids=["one-shot", "kept-open"])
def test_details_and_turning_them_off(tmp_path: Path, keep_open: bool) -> None:
    db = tmp_path / "report" / SQLITE_FILE
    with SqliteReport(db) as report:

        def write(details: bool) -> None:
            if keep_open:
                report.write(audit(vpn=Status.fail), AT, details)
            else:
                write_sqlite(db, audit(vpn=Status.fail), AT, details)

        write(True)
        assert sql(db, "SELECT * FROM hygiene_findings ORDER BY check_id, finding_id") == [
            {
                "check_id": "credentials",
                "finding_id": "cred-1",
                "subject": CANARY_SUBJECT,
                "severity": "critical",
                "message": CANARY_MESSAGE,
            },
            {
                "check_id": "credentials",
                "finding_id": "cred-2",
                "subject": "~/.config/rclone/rclone.conf",
                "severity": "medium",
                "message": "an rclone password is only obscured",
            },
            {
                "check_id": "vpn",
                "finding_id": "vpn-1",
                "subject": "this Wi-Fi network",
                "severity": "high",
                "message": "no VPN on an untrusted network",
            },
        ]
        assert sql(db, "SELECT value FROM meta WHERE key = 'details'") == [{"value": "1"}]
        assert not any(CANARY_EVIDENCE in view for view in written(db.parent))

        write(False)
        assert sql(db, "SELECT name FROM sqlite_master WHERE name = 'hygiene_findings'") == []
        assert sql(db, "SELECT value FROM meta WHERE key = 'details'") == [{"value": "0"}]
        # Gone from the file and its write-ahead log, not just from the schema.
        for view in written(db.parent):
            for canary in (*CANARIES, CANARY_EVIDENCE):
                assert canary not in view


def test_older_layouts_are_rebuilt_and_other_databases_refused(tmp_path: Path) -> None:
    ours = tmp_path / "ours.db"
    with sqlite3.connect(ours) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('producer', 'hygiene-agent')")
        conn.execute("CREATE TABLE hygiene (check_id TEXT, state TEXT)")
        conn.execute("CREATE VIEW failing AS SELECT * FROM hygiene")
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    write_sqlite(ours, audit(), AT, details=False)
    assert sql(ours, "PRAGMA user_version") == [{"user_version": 2}]
    assert sql(ours, "SELECT name FROM sqlite_master ORDER BY name") == [
        {"name": "hygiene"},
        {"name": "hygiene_agent"},
        {"name": "hygiene_policy"},
        {"name": "hygiene_problems"},
        {"name": "meta"},
        {"name": "sqlite_autoindex_hygiene_1"},
        {"name": "sqlite_autoindex_meta_1"},
    ]
    assert len(sql(ours, "SELECT * FROM hygiene")) == 5

    theirs = tmp_path / "bookmarks.db"
    with sqlite3.connect(theirs) as conn:
        conn.execute("CREATE TABLE bookmarks (url TEXT)")
        conn.execute("INSERT INTO bookmarks VALUES ('https://example.org')")
    conn.close()
    with pytest.raises(FleetError) as refused:
        write_sqlite(theirs, audit(), AT, details=False)
    assert "another program's database" in one_sentence(refused.value)
    assert sql(theirs, "SELECT url FROM bookmarks") == [{"url": "https://example.org"}]

    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    with pytest.raises(FleetError) as refused:
        write_sqlite(notes, audit(), AT, details=False)
    assert "is not an SQLite database" in one_sentence(refused.value)
    assert notes.read_text() == "not a database\n"


def test_only_sqlite_opens_the_report_database(tmp_path: Path) -> None:
    """Python never opens hygiene.db itself: closing such a descriptor would drop the locks
    SQLite holds on it in the agent (SQLite's "How To Corrupt", 2.2). A new file is 0644
    for osquery, whatever the umask; a FIFO there is refused, never waited on."""
    code = """
import os, sys
from datetime import UTC, datetime
from pathlib import Path
opened = []
def hook(event, args):
    if event == "open" and "hygiene.db" in str(args[0]):
        opened.append(str(args[0]))
sys.addaudithook(hook)
from agent.fleet import write_sqlite
os.umask(0o077)
write_sqlite(Path(sys.argv[1]), [], datetime(2026, 1, 1, tzinfo=UTC), details=False)
write_sqlite(Path(sys.argv[1]), [], datetime(2026, 1, 2, tzinfo=UTC), details=False)
print(len(opened))
"""
    db = tmp_path / SQLITE_FILE
    done = subprocess.run(
        [sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "0", done.stdout
    assert stat.S_IMODE(db.stat().st_mode) == 0o644

    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)
    with pytest.raises(FleetError) as refused:
        write_sqlite(fifo, audit(), AT, details=False)
    assert "not a regular file" in one_sentence(refused.value)


def test_a_locked_database_is_retried_then_named(tmp_path: Path) -> None:
    db = tmp_path / SQLITE_FILE
    write_sqlite(db, audit(), AT, details=False)
    holder = subprocess.Popen(
        [require_tool("sqlite3"), "-batch", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    try:
        holder.stdin.write("BEGIN IMMEDIATE;\nDELETE FROM meta WHERE key = 'nothing';\n")
        holder.stdin.flush()
        wait_until_locked(db)

        started = time.monotonic()
        with pytest.raises(FleetError) as held:
            write_sqlite(db, audit(vpn=Status.fail), AT, details=False, lock_timeout=0.5)
        assert time.monotonic() - started >= 0.5
        assert one_sentence(held.value) == (
            f"Cannot write the osquery report {db}: another process kept it locked for "
            "0.5 seconds; the next audit writes it again."
        )

        # Let go a moment into the next attempt: the write waits, then goes through.
        release = threading.Timer(0.5, lambda: release_lock(holder))
        release.start()
        started = time.monotonic()
        write_sqlite(db, audit(vpn=Status.fail), AT, details=False, lock_timeout=10)
        assert 0.4 <= time.monotonic() - started < 10
        release.join()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=10)
    assert sql(db, "SELECT status FROM hygiene WHERE check_id = 'vpn'") == [{"status": "fail"}]


def wait_until_locked(db: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as err:
            if "locked" in str(err):
                return
            raise
        finally:
            probe.close()
        time.sleep(0.02)
    pytest.fail("the sqlite3 shell did not take the write lock")


def release_lock(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("COMMIT;\n.quit\n")
    holder.stdin.close()


def test_a_report_kept_open_follows_its_file(tmp_path: Path) -> None:
    db = tmp_path / "report" / SQLITE_FILE
    with SqliteReport(db) as report:
        report.write(audit(), AT, details=False)
        for side in db.parent.iterdir():
            side.unlink()
        report.write(audit(vpn=Status.fail), AT, details=False)
        assert sql(db, "SELECT status FROM hygiene WHERE check_id = 'vpn'") == [{"status": "fail"}]
    assert previous_from_sqlite(db) == snapshot(audit(vpn=Status.fail))
    assert previous_from_sqlite(tmp_path / "missing.db") is None


# --- log shippers: JSON lines -----------------------------------------------------------


def test_changes_between_cycles() -> None:
    first = changes(None, audit(), at=AT)
    plain = ["event", "time", "check", "status", "severity", "findings", "previous_status"]
    skipped = [*plain[:4], "skip_reason", *plain[4:]]
    assert [list(e) for e in first] == [plain] * 4 + [skipped]
    assert first[4]["skip_reason"] == "not_applicable"
    assert first[1] == {
        "event": "check",
        "time": "2024-05-01T12:00:00Z",
        "check": "credentials",
        "status": "fail",
        "severity": "high",
        "findings": 2,
        "previous_status": None,
    }

    before = snapshot(audit())
    assert changes(before, audit(), at=AT) == []
    later = changes(before, audit(vpn=Status.fail, plain_text=1), at=AT, details=True)
    assert later == [
        {
            "event": "check",
            "time": "2024-05-01T12:00:00Z",
            "check": "vpn",
            "status": "fail",
            "severity": "high",
            "findings": 1,
            "previous_status": "pass",
            "subjects": ["this Wi-Fi network"],
        },
        {
            "event": "check",
            "time": "2024-05-01T12:00:00Z",
            "check": "credentials",
            "status": "fail",
            "severity": "high",
            "findings": 1,
            "previous_status": "fail",
            "subjects": [CANARY_SUBJECT],
        },
    ]
    named = changes(None, audit()[:1], at=AT, host="ws-17")
    assert list(named[0])[:4] == ["event", "time", "host", "check"]
    assert named[0]["host"] == "ws-17"


def test_appended_lines_parse_and_stay_private(tmp_path: Path) -> None:
    log = tmp_path / "report" / EVENTS_FILE
    first, second = changes(None, audit(), at=AT), changes(snapshot(audit()), audit(Status.fail))
    append_events(log, first)
    append_events(log, [])
    append_events(log, second)
    assert lines_of(log) == [*first, *second]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def numbered(count: int) -> list[dict[str, object]]:
    template = changes(None, audit()[:1], at=AT)[0]
    return [template | {"check": f"check-{n:05d}"} for n in range(count)]


def in_order(log: Path) -> list[dict[str, object]]:
    """The events of every file of the log, oldest file first."""
    rotated = sorted(
        (p for p in log.parent.glob(f"{log.name}.*") if p.suffix[1:].isdigit()),
        key=lambda p: -int(p.suffix[1:]),
    )
    return [event for path in [*rotated, log] for event in lines_of(path)]


def test_rotation_loses_no_event(tmp_path: Path) -> None:
    events = numbered(1500)
    sizes = itertools.cycle([1, 4, 9, 2, 7, 3, 8, 5, 6])
    log = tmp_path / "all" / EVENTS_FILE
    start = 0
    while start < len(events):
        size = next(sizes)
        append_events(log, events[start : start + size], max_bytes=4096, keep=1000)
        start += size
    assert in_order(log) == events
    files = list(log.parent.iterdir())
    assert len(files) > 20
    for path in files:
        assert path.stat().st_size <= 4096
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # Keep three: the newest events, with no gap, in four files.
    kept = tmp_path / "kept" / EVENTS_FILE
    for start in range(0, len(events), 5):
        append_events(kept, events[start : start + 5], max_bytes=4096, keep=3)
    assert sorted(p.name for p in kept.parent.iterdir()) == [
        EVENTS_FILE,
        f"{EVENTS_FILE}.1",
        f"{EVENTS_FILE}.2",
        f"{EVENTS_FILE}.3",
    ]
    tail = in_order(kept)
    assert tail == events[-len(tail) :]

    # A batch larger than the limit is split at lines; a line larger than it stands alone.
    big = tmp_path / "big" / EVENTS_FILE
    append_events(big, events[:10], max_bytes=50, keep=20)
    assert in_order(big) == events[:10]
    assert all(len(lines_of(p)) == 1 for p in big.parent.iterdir())


APPENDER = """
import json, sys, time
from pathlib import Path
from agent.fleet import append_events
events = json.loads(Path(sys.argv[2]).read_text())
start = 1  # the test wrote the first one before its follower started
while start < len(events):
    size = 1 + start % 7
    append_events(Path(sys.argv[1]), events[start:start + size], max_bytes=2048, keep=3)
    start += size
    time.sleep(0.005)
"""


def test_a_reader_following_the_name_sees_every_event(tmp_path: Path) -> None:
    """GNU tail -F follows the name as Fluent Bit (Rotate_Wait) and Vector do: it reads the
    renamed file to its end, then the new one."""
    tail = require_tool("tail")
    events = numbered(2000)
    (tmp_path / "events.json").write_text(json.dumps(events))
    (tmp_path / "script.py").write_text(APPENDER)
    log = tmp_path / "report" / EVENTS_FILE
    append_events(log, events[:1])
    seen = tmp_path / "seen.jsonl"
    with seen.open("wb") as out:
        follower = subprocess.Popen(
            [tail, "-F", "-n", "+1", "-s", "0.01", str(log)],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_for_lines(seen, 1)
        subprocess.run(
            [sys.executable, str(tmp_path / "script.py"), str(log), str(tmp_path / "events.json")],
            env=checkout_env(),
            check=True,
            timeout=120,
        )
        assert len(list(log.parent.iterdir())) == 4, "the log was rotated"
        wait_for_lines(seen, len(events))
        time.sleep(0.2)  # anything more would be a duplicate
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert lines_of(seen) == events


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while path.read_bytes().count(b"\n") < count and time.monotonic() < deadline:
        time.sleep(0.01)


# --- Prometheus: node_exporter ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def node_exporter_on(folder: Path) -> Iterator[str]:
    """Debian's prometheus-node-exporter with only the textfile collector, reading `folder`,
    on 127.0.0.1; its /metrics URL."""
    binary = require_tool("prometheus-node-exporter")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={folder}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                scrape(url)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    _, err = process.communicate(timeout=5)
                    pytest.fail(f"node_exporter did not start: {err}")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "textfile"
    folder.mkdir()
    with node_exporter_on(folder) as url:
        yield url, folder


Sample = tuple[str, frozenset[tuple[str, str]]]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def scrape(url: str) -> dict[Sample, float]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a local http URL
        text = response.read().decode()
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        name, labels, value = match.groups()
        pairs = frozenset(
            (key, re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], raw))
            for key, raw in _LABEL.findall(labels or "")
        )
        samples[(name, pairs)] = float(value)
    return samples


def value(samples: Mapping[Sample, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def hygiene_samples(samples: Mapping[Sample, float]) -> dict[Sample, float]:
    return {k: v for k, v in samples.items() if k[0].startswith("hygiene_")}


def test_node_exporter_serves_the_textfile(node_exporter: tuple[str, Path]) -> None:
    url, folder = node_exporter
    old_umask = os.umask(0o077)
    try:
        write_prometheus(folder, audit(vpn=Status.fail), AT)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((folder / PROM_FILE).stat().st_mode) == 0o644
    # The admin's folder to make: a missing one is said, and not made by the agent.
    missing = folder.parent / "made" / "here"
    with pytest.raises(FleetError) as refused:
        write_prometheus(missing, audit(), AT)
    assert "its folder does not exist, and the agent does not create it" in one_sentence(
        refused.value
    )
    assert not missing.parent.exists()
    assert [p.name for p in folder.iterdir()] == [PROM_FILE]

    got = scrape(url)
    assert value(got, "node_textfile_scrape_error") == 0
    assert value(got, "hygiene_check_failing", check="vpn") == 1
    assert value(got, "hygiene_check_failing", check="credentials") == 1
    assert value(got, "hygiene_check_failing", check="ssh_keys") == 0
    assert value(got, "hygiene_check_failing", check="screen_lock") == 0
    for check, now in [("vpn", "fail"), ("screen_lock", "error"), ("disk_encryption", "skip")]:
        for status in ("pass", "fail", "error", "skip"):
            expected = 1 if status == now else 0
            assert value(got, "hygiene_check_status", check=check, status=status) == expected
    findings = {
        severity.value: value(got, "hygiene_findings", check="credentials", severity=severity)
        for severity in Severity
    }
    assert findings == {"info": 0, "low": 0, "medium": 1, "high": 0, "critical": 1}
    assert value(got, "hygiene_findings", check="vpn", severity="high") == 1
    assert value(got, "hygiene_last_audit_timestamp_seconds") == AT.timestamp()
    # Per check: failing, 4 statuses, 4 skip reasons, 5 severities, excepted.
    assert len(hygiene_samples(got)) == 5 * (1 + 4 + 4 + 5 + 1) + 1

    later = AT + timedelta(minutes=5)
    write_prometheus(folder, audit(vpn=Status.passed, plain_text=0), later)
    got = scrape(url)
    assert value(got, "hygiene_check_failing", check="vpn") == 0
    assert value(got, "hygiene_check_status", check="vpn", status="pass") == 1
    assert value(got, "hygiene_check_failing", check="credentials") == 0
    assert value(got, "hygiene_findings", check="credentials", severity="critical") == 0
    assert value(got, "hygiene_last_audit_timestamp_seconds") == later.timestamp()

    # A label value with a quote, a backslash and a newline survives node_exporter's parser;
    # the newline, a control character, arrives shown as an escape (agent.text.printable).
    odd = 'odd"check\\with\nbreak'
    write_prometheus(folder, [result(odd, Status.fail)], AT)
    got = scrape(url)
    assert value(got, "node_textfile_scrape_error") == 0
    assert value(got, "hygiene_check_failing", check='odd"check\\with\\nbreak') == 1


def test_node_exporter_never_sees_half_a_file(node_exporter: tuple[str, Path]) -> None:
    url, folder = node_exporter
    write_prometheus(folder, audit(), AT)
    done = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not done.is_set():
            vpn = Status.fail if n % 2 else Status.passed
            write_prometheus(folder, audit(vpn=vpn), AT + timedelta(seconds=n))
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        for _ in range(40):
            got = scrape(url)
            assert value(got, "node_textfile_scrape_error") == 0
            # Per check: failing, 4 statuses, 4 skip reasons, 5 severities, excepted.
            assert len(hygiene_samples(got)) == 5 * (1 + 4 + 4 + 5 + 1) + 1
            failing = value(got, "hygiene_check_failing", check="vpn")
            assert value(got, "hygiene_check_status", check="vpn", status="fail") == failing
    finally:
        done.set()
        writer.join()
    assert [p.name for p in folder.iterdir()] == [PROM_FILE]


# --- privacy ----------------------------------------------------------------------------


# What the agent says of itself, as a machine with no uid (Windows) does: hygiene.prom.
FACTS = AgentFacts(
    version="0.1.0",
    uid=None,
    policy_name="acme",
    policy_revision=3,
    layers=[LayerInfo("built-in default", "default", "default", 1, "ab" * 32)],
    problems=[("pull_failed", "https://policies.example/acme.yaml could not be pulled")],
)


def written_cycle() -> list[CheckResult]:
    """audit(), with every field a check's row or event can have."""
    cycle = audit(vpn=Status.fail)
    # An admin's exception covers the one SSH key finding: the check is skipped, excepted.
    key = Finding(id="key-1", subject="~/.ssh/id_rsa", message="no passphrase", advice="add one")
    cycle[2] = dataclasses.replace(
        cycle[2],
        status=Status.skip,
        skip_reason="excepted",
        excepted=[Excepted(finding=key, until=date(2027, 1, 31), reason="build robot")],
    )
    return cycle


def write_all(folder: Path, details: bool) -> None:
    cycle = written_cycle()
    write_sqlite(folder / SQLITE_FILE, cycle, AT, details, agent=FACTS)
    events = [agent_event(FACTS, AT), *changes(None, cycle, details=details)]
    append_events(folder / EVENTS_FILE, events)
    folder.mkdir(exist_ok=True)
    write_prometheus(folder, cycle, AT, FACTS)


def test_without_details_no_subject_path_or_host_leaves(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    write_all(folder, details=False)
    assert sorted(p.name for p in folder.iterdir()) == [EVENTS_FILE, SQLITE_FILE, PROM_FILE]
    host = socket.gethostname()
    for view in written(folder):
        for canary in (*CANARIES, CANARY_EVIDENCE, str(tmp_path), "rclone.conf", "Wi-Fi"):
            assert canary not in view
        if len(host) >= 6:
            assert host not in view


def test_with_details_subjects_go_to_sqlite_and_json_lines_only(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    write_all(folder, details=True)
    subjects = sql(folder / SQLITE_FILE, "SELECT subject FROM hygiene_findings ORDER BY subject")
    assert {str(row["subject"]) for row in subjects} == {
        CANARY_SUBJECT,
        "~/.config/rclone/rclone.conf",
        "this Wi-Fi network",
    }
    events = lines_of(folder / EVENTS_FILE)
    assert [e["subjects"] for e in events if e.get("check") == "credentials"] == [
        [CANARY_SUBJECT, "~/.config/rclone/rclone.conf"]
    ]
    prom = (folder / PROM_FILE).read_text()
    for canary in (*CANARIES, CANARY_EVIDENCE, "rclone.conf", "Wi-Fi", "~"):
        assert canary not in prom
    for view in written(folder):
        assert CANARY_EVIDENCE not in view


def test_reported_fields_are_what_is_written(tmp_path: Path) -> None:
    for details in (False, True):
        folder = tmp_path / str(details)
        write_all(folder, details)
        fields = reported_fields(details)
        assert list(fields) == ["osquery SQLite", "JSON lines", "Prometheus"]

        conn = sqlite3.connect(folder / SQLITE_FILE)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {
            f"{t}.{c[1]}"
            for t in tables
            if t != "meta"
            for c in conn.execute(f"PRAGMA table_info({t})")
        }
        columns |= {f"meta.{key}" for (key,) in conn.execute("SELECT key FROM meta")}
        conn.close()
        assert set(fields["osquery SQLite"]) == columns

        keys = {key for event in lines_of(folder / EVENTS_FILE) for key in event}
        assert set(fields["JSON lines"]) == keys
        named = [agent_event(FACTS, AT, host="ws-17")]
        named += changes(None, written_cycle(), details=details, host="ws-17")
        assert set(reported_fields(details, host=True)["JSON lines"]) == {
            key for event in named for key in event
        }

        text = (folder / PROM_FILE).read_text()
        names = {line.split("{")[0].split()[0] for line in text.splitlines() if line[0] != "#"}
        assert {f.split("{")[0] for f in fields["Prometheus"]} == names
    assert reported_fields(False)["Prometheus"] == reported_fields(True)["Prometheus"]


# --- errors: one sentence ---------------------------------------------------------------


def writers(folder: Path) -> dict[str, object]:
    """Each output written into `folder`: the one-sentence error, or None."""
    outcome: dict[str, object] = {}
    attempts: dict[str, Callable[[], None]] = {
        "sqlite": lambda: write_sqlite(folder / SQLITE_FILE, audit(), AT, details=False),
        "events": lambda: append_events(folder / EVENTS_FILE, changes(None, audit(), at=AT)),
        "prometheus": lambda: write_prometheus(folder, audit(), AT),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            outcome[name] = None
        except FleetError as err:
            outcome[name] = one_sentence(err)
    return outcome


def test_a_folder_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    said = writers(blocker / "report")
    assert said == {
        "sqlite": f"The folder {blocker / 'report'} for the osquery report cannot be created: "
        "not a directory.",
        "events": f"The folder {blocker / 'report'} for the event log cannot be created: "
        "not a directory.",
        "prometheus": f"Cannot write the Prometheus textfile {blocker / 'report' / PROM_FILE}: "
        "not a directory.",
    }


def prom_as_nobody(folder: Path, agent: AgentFacts | None = None) -> str:
    """write_prometheus into `folder` as nobody: "written", or its one sentence."""

    def attempt() -> str:
        try:
            write_prometheus(folder, audit(), AT, agent)
        except FleetError as err:
            return one_sentence(err)
        return "written"

    return as_nobody(attempt)


def test_a_prometheus_folder_out_of_reach_is_one_sentence(tmp_path: Path) -> None:
    # Behind a folder the person may not enter: Path.is_dir() would raise, not say False.
    require_root("a folder out of a person's reach needs another user")
    closed = Path(tempfile.mkdtemp(prefix="hygiene-fleet-"))
    inside = closed / "textfile"
    inside.mkdir()
    try:
        closed.chmod(0o700)
        os.chown(closed, 0, 0)

        said = prom_as_nobody(inside)
    finally:
        shutil.rmtree(closed)
    assert said == f"Cannot write the Prometheus textfile {inside / PROM_FILE}: permission denied."


def test_an_unwritable_folder_is_one_sentence(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hygiene-fleet-"))
    try:
        folder.chmod(0o555)
        said = json.loads(as_nobody(lambda: json.dumps(writers(folder))))
    finally:
        folder.chmod(0o700)
        folder.rmdir()
    assert said == {
        "sqlite": f"Cannot write the osquery report {folder / SQLITE_FILE}: permission denied.",
        "events": f"Cannot append to the event log {folder / EVENTS_FILE}: permission denied.",
        "prometheus": f"Cannot write the Prometheus textfile {folder / PROM_FILE}: "
        "permission denied.",
    }


def test_a_full_disk_is_one_sentence_and_keeps_what_was_written(tmp_path: Path) -> None:
    require_root("mounting a small tmpfs needs root")
    mount, umount = require_tool("mount"), require_tool("umount")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=True)
    try:
        folder = disk / "report"
        assert writers(folder) == {"sqlite": None, "events": None, "prometheus": None}
        before_prom = (folder / PROM_FILE).read_text()
        before_events = lines_of(folder / EVENTS_FILE)
        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError as err:
            assert err.errno == errno.ENOSPC
        finally:
            os.close(filler)
        many = [result(f"check_{n}", Status.fail, audit()[1].findings) for n in range(200)]
        with pytest.raises(FleetError) as full:
            write_sqlite(folder / SQLITE_FILE, many, AT, details=True)
        assert one_sentence(full.value).endswith(": the disk is full.")
        with pytest.raises(FleetError) as full:
            append_events(folder / EVENTS_FILE, changes(None, many, at=AT) * 50)
        assert one_sentence(full.value).endswith(": no space left on device.")
        with pytest.raises(FleetError) as full:
            write_prometheus(folder, many, AT)
        assert one_sentence(full.value).endswith(": no space left on device.")

        assert lines_of(folder / EVENTS_FILE) == before_events
        assert (folder / PROM_FILE).read_text() == before_prom
        assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]

        # With room again, the last cycle written is there whole, and writing goes on.
        (disk / "filler").unlink()
        assert len(sql(folder / SQLITE_FILE, "SELECT * FROM hygiene")) == 5
        assert writers(folder) == {"sqlite": None, "events": None, "prometheus": None}
    finally:
        subprocess.run([umount, str(disk)], check=True)


def test_undecodable_bytes_in_a_name_do_not_stop_a_write(tmp_path: Path) -> None:
    odd = result(
        "ssh_keys",
        Status.fail,
        [Finding(id="k", subject="~/.ssh/id_\udcff", message="m", advice="a")],
    )
    folder = tmp_path / "report"
    write_sqlite(folder / SQLITE_FILE, [odd], AT, details=True)
    append_events(folder / EVENTS_FILE, changes(None, [odd], at=AT, details=True))
    write_prometheus(folder, [odd], AT)
    shown = "~/.ssh/id_\\udcff"
    assert sql(folder / SQLITE_FILE, "SELECT subject FROM hygiene_findings") == [{"subject": shown}]
    assert lines_of(folder / EVENTS_FILE)[0]["subjects"] == [shown]


def test_programming_mistakes_are_named() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        prometheus_text(audit(), datetime(2024, 5, 1, 12, 0))
    with pytest.raises(ValueError, match="max_bytes"):
        append_events(Path("unused"), changes(None, audit()), max_bytes=0)


def test_outputs_turned_off_do_not_linger(tmp_path: Path) -> None:
    """An admin who turns details or the osquery file off gets their bytes gone, not left
    behind in files fleet tools (and anyone) can read."""
    outputs = Outputs(tmp_path)
    folder = tmp_path / "report"
    at = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)

    def write(results: list[CheckResult], *, details: bool, osquery: bool = True) -> list[str]:
        return outputs.write(
            results, at, details=details, osquery=osquery, jsonl=True, prometheus_dir=None
        )

    assert write(audit(plain_text=1), details=True) == []
    assert CANARY_SUBJECT in (folder / "events.jsonl").read_text()
    assert write(audit(plain_text=2), details=False) == []
    every_byte = b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())
    assert CANARY_SUBJECT.encode() not in every_byte
    assert write(audit(), details=False, osquery=False) == []
    assert not list(folder.glob("hygiene.db*"))
    outputs.close()


def test_the_host_an_admin_names_is_in_each_event_and_nothing_else_names_one(
    machine: Machine, hygiene_process: Callable[..., Outcome], make_key: Callable[..., Path]
) -> None:
    machine.keep_only("ssh_keys")
    (machine.admin_policies / "20-report.yaml").write_text(
        "schema: 1\nreport: {host: ws-17.example}\n"
    )
    assert hygiene_process("run", "--once").code == 0
    events = lines_of(machine.state / "hygiene-agent" / "report" / EVENTS_FILE)
    assert events and {e["host"] for e in events} == {"ws-17.example"}
    shown = {c["id"]: c for c in json.loads(hygiene_process("checks", "--json").out)}
    assert "host" in shown["ssh_keys"]["reports"]["JSON lines"]

    # Without it, no event carries a host (a new key makes one); a name that is not one is
    # refused, as written.
    (machine.admin_policies / "20-report.yaml").write_text("schema: 1\n")
    make_key(machine.ssh / "id_ed25519")
    assert hygiene_process("run", "--once").code == 0
    events = lines_of(machine.state / "hygiene-agent" / "report" / EVENTS_FILE)
    assert events[-1]["check"] == "ssh_keys" and "host" not in events[-1]
    bad = machine.admin_policies / "20-report.yaml"
    bad.write_text("schema: 1\nreport: {host: 'ws 17; rm -rf /'}\n")
    refused = hygiene_process("policy", "validate", str(bad))
    assert refused.code == 2 and "report.host: a host name is 1 to 63 letters" in refused.err


def test_a_cycle_with_nothing_new_moves_only_the_heartbeat(tmp_path: Path) -> None:
    """The running agent reports every cycle; when no result changed, only the heartbeat
    moves: the audit's rows and the rest of the textfile stay as they were written."""
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    outputs = Outputs(tmp_path / "state")
    facts = dataclasses.replace(FACTS, uid=4242)

    def write(at: datetime, results: Sequence[CheckResult]) -> None:
        assert (
            outputs.write(
                results,
                at,
                details=False,
                osquery=True,
                jsonl=True,
                prometheus_dir=textfiles,
                agent=facts,
            )
            == []
        )

    try:
        write(AT, audit())
        prom = textfiles / "hygiene-4242.prom"
        first = prom.read_text()
        later = AT + timedelta(seconds=5)
        write(later, [])
        db = outputs.folder / SQLITE_FILE
        assert sql(db, "SELECT heartbeat_at FROM hygiene_agent") == [
            {"heartbeat_at": "2024-05-01T12:00:05Z"}
        ]
        assert {r["updated_at"] for r in sql(db, "SELECT updated_at FROM hygiene")} == {
            "2024-05-01T12:00:00Z"
        }
        beat = f'hygiene_agent_heartbeat_timestamp_seconds{{uid="4242"}} {int(later.timestamp())}'
        assert prom.read_text() == first.replace(
            f'hygiene_agent_heartbeat_timestamp_seconds{{uid="4242"}} {int(AT.timestamp())}', beat
        )
        assert prom.read_text() != first
        events = lines_of(outputs.folder / EVENTS_FILE)
        assert [e["event"] for e in events].count("agent") == 1  # the next one in an hour
        # The database removed meanwhile: the heartbeat writes it whole again.
        outputs.close()
        for path in outputs.folder.glob(f"{SQLITE_FILE}*"):
            path.unlink()
        write(later + timedelta(seconds=5), [])
        assert len(sql(db, "SELECT * FROM hygiene")) == 5
    finally:
        outputs.close()


def test_a_write_only_shared_folder_takes_the_textfile(tmp_path: Path) -> None:
    # Mode 1773: people may write there but not list it; the folder's own sync is skipped.
    require_root("a folder only root may read needs another user")
    shared = Path(tempfile.mkdtemp(prefix="hygiene-fleet-shared-"))
    try:
        shared.chmod(0o1773)

        assert prom_as_nobody(shared) == "written"
        assert (shared / PROM_FILE).stat().st_uid == 65534  # as_nobody's
    finally:
        shutil.rmtree(shared)


def test_a_file_another_person_made_first_is_said_as_theirs(tmp_path: Path) -> None:
    # In a sticky shared folder, a file named after this person's uid but made by another
    # cannot be replaced; the sentence says why, not a bare "operation not permitted".
    require_root("another person's file needs another user")
    shared = Path(tempfile.mkdtemp(prefix="hygiene-fleet-shared-"))
    try:
        shared.chmod(0o1777)
        (shared / "hygiene-65534.prom").write_text("# made by someone else first\n")
        facts = dataclasses.replace(FACTS, uid=65534)

        said = prom_as_nobody(shared, facts)
    finally:
        shutil.rmtree(shared)
    assert said == (
        f"Cannot write the Prometheus textfile {shared / 'hygiene-65534.prom'}: another user "
        "(uid 0) made a file of that name there first, and only they or an admin can remove "
        "it; what it says is not this person's."
    )
