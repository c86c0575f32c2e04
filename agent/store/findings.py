"""Findings, checks, snoozes and the history of events.

Only what a check chose to show a person is kept (subject, message, advice, its notice) and
the kind of finding it is (its reason, which picks the notice's title); the rest of a
finding's ``evidence`` is never written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from agent.store.database import Database, StoreError
from agent.store.values import parse, parse_optional, readable, readable_one, text_or_none, ts
from agent.verdicts import Severity, Status

EXCEPTED = "excepted"  # CheckResult.skip_reason when every finding is excepted

if TYPE_CHECKING:
    from agent.models import CheckResult, Finding

DETAIL_MAX = 200

_SELECT_FINDINGS = (
    "SELECT id, check_id, subject, severity, message, advice, first_seen, last_seen, "
    "resolved_at, times_notified, last_notified, reason, notice FROM findings "
)


class FindingState(NamedTuple):
    id: str
    check: str
    subject: str
    severity: Severity
    message: str
    advice: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    snoozed_until: datetime | None  # the later of an active check- and finding-level snooze
    times_notified: int
    last_notified: datetime | None
    reason: str = ""  # the kind of finding (evidence["reason"]): "no passphrase"
    notice: str = ""  # a notice's body for it alone; "" when kept before there was one
    excepted: ExceptionState | None = None  # an admin policy's exception covers it now


class ExceptionState(NamedTuple):
    """An admin's exception for a finding: until the end of `until` (local), and why."""

    until: date
    reason: str

    def said(self) -> str:
        return f"excepted until {self.until.isoformat()} by your administrator: {self.reason}"


class CheckState(NamedTuple):
    id: str
    last_run: datetime
    status: Status
    error: str | None  # why it could not run (error), or why it was skipped (skip)


class Change(NamedTuple):
    kind: Literal["appeared", "changed", "resolved"]
    finding: FindingState


class Event(NamedTuple):
    at: datetime
    kind: str
    target: str
    detail: str


class Findings(Database):
    def record_results(self, results: Sequence[CheckResult], now: datetime) -> list[Change]:
        """Bring the findings of every passed or failed check up to date; one transaction.

        A result with status error or skip says nothing about its findings, which are
        left as they were.
        """
        stamp = ts(now)
        changes: list[Change] = []
        with self._write("save the check results to") as conn:
            for result in results:
                if result.status in (Status.passed, Status.fail) or result.skip_reason == EXCEPTED:
                    _replace_exceptions(conn, result)
            snoozes = _holds(conn, now)
            for result in results:
                # A skip keeps its reason where an error keeps its own: the page says why.
                why = result.error
                if why is None and result.status is Status.skip and result.notes:
                    why = "; ".join(result.notes)
                _touch_check(conn, result.check, result.status, why, stamp)
                if result.status not in (Status.passed, Status.fail) and (
                    result.skip_reason != EXCEPTED
                ):
                    continue
                # An excepted finding is still there: kept, not resolved, and not told.
                found = [*result.findings, *(e.finding for e in result.excepted)]
                present: dict[str, Finding] = {f.id: f for f in found}
                for finding in present.values():
                    kind = _upsert(conn, result, finding, stamp)
                    if kind is not None:
                        changes.append(Change(kind, self._state(conn, finding.id, snoozes)))
                rows = conn.execute(
                    "SELECT id FROM findings WHERE check_id = ? AND resolved_at IS NULL "
                    "ORDER BY first_seen, id",
                    (result.check,),
                ).fetchall()
                for (finding_id,) in rows:
                    if finding_id in present:
                        continue
                    conn.execute(
                        "UPDATE findings SET resolved_at = ? WHERE id = ?", (stamp, finding_id)
                    )
                    state = self._state(conn, str(finding_id), snoozes)
                    add_event(
                        conn, stamp, "resolved", state.id, check=state.check, detail=state.subject
                    )
                    changes.append(Change("resolved", state))
        return changes

    def current(self, now: datetime) -> list[FindingState]:
        """Unresolved findings: most severe first, then the oldest first."""
        with self._read("read the current findings in") as conn:
            snoozes = _holds(conn, now)
            rows = conn.execute(_SELECT_FINDINGS + "WHERE resolved_at IS NULL").fetchall()
        states = readable(rows, lambda row: _finding_state(row, snoozes))
        states.sort(key=lambda s: (-s.severity.rank, s.first_seen, s.id))
        return states

    def checks(self) -> list[CheckState]:
        """Each check the agent has run: how it went last time, by check id."""
        with self._read("read the checks in") as conn:
            rows = conn.execute(
                "SELECT id, last_seen, last_status, last_error FROM checks ORDER BY id"
            ).fetchall()
        return readable(rows, _check_state)

    def get(self, finding_id: str, now: datetime) -> FindingState | None:
        with self._read("read a finding in") as conn:
            return _state_or_none(conn, finding_id, _holds(conn, now))

    def check_of(self, target: str, check_ids: Collection[str]) -> str | None:
        """The check a snooze target is (a check id) or belongs to (a finding id's check);
        None for a target this store does not know."""
        if target in check_ids:
            return target
        with self._read("look up a finding in") as conn:
            return _check_of(conn, target)

    def known_target(self, target: str) -> bool:
        """True for a finding id or a check id this store has ever seen."""
        with self._read("look up a check or finding in") as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM findings WHERE id = ? OR check_id = ?) "
                "OR EXISTS (SELECT 1 FROM checks WHERE id = ?)",
                (target, target, target),
            ).fetchone()
        return bool(row[0])

    # --- snoozes ------------------------------------------------------------------------

    def snooze(self, target: str, until: datetime, now: datetime) -> None:
        """Snooze a check id or a finding id until `until`, replacing an earlier snooze."""
        stamp, until_stamp = ts(now), ts(until)
        with self._write("save a snooze in") as conn:
            conn.execute(
                "INSERT INTO snoozes (target, until, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (target) DO UPDATE SET until = excluded.until, "
                "created_at = excluded.created_at",
                (target, until_stamp, stamp),
            )
            add_event(
                conn,
                stamp,
                "snoozed",
                target,
                check=_check_of(conn, target),
                detail=f"until {until_stamp}",
            )

    def unsnooze(self, target: str, now: datetime) -> bool:
        """Lift a snooze; False when the target was not snoozed (an expired one is dropped)."""
        stamp = ts(now)
        with self._write("lift a snooze in") as conn:
            row = conn.execute("SELECT until FROM snoozes WHERE target = ?", (target,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM snoozes WHERE target = ?", (target,))
            if str(row[0]) <= stamp:
                return False
            add_event(conn, stamp, "unsnoozed", target, check=_check_of(conn, target), detail="")
        return True

    def snoozes(self, now: datetime) -> dict[str, datetime]:
        """Active snoozes: target -> until."""
        with self._read("read the snoozes in") as conn:
            return _active_snoozes(conn, now)

    # --- history ------------------------------------------------------------------------

    def events(self, target: str | None = None) -> list[Event]:
        """The history, oldest first; for a check id, also the events of its findings."""
        query = "SELECT at, kind, target, detail FROM events"
        params: tuple[str, ...] = ()
        if target is not None:
            query += " WHERE target = ? OR check_id = ?"
            params = (target, target)
        with self._read("read the history in") as conn:
            rows = conn.execute(query + " ORDER BY seq", params).fetchall()
        return readable(rows, lambda r: Event(parse(r[0]), str(r[1]), str(r[2]), str(r[3])))

    def _state(self, conn: sqlite3.Connection, finding_id: str, snoozes: _Holds) -> FindingState:
        state = _state_or_none(conn, finding_id, snoozes)
        if state is None:  # pragma: no cover - only called for rows written in this transaction
            raise StoreError(f"The store {self.path} lost finding {finding_id} while writing it.")
        return state


def add_event(
    conn: sqlite3.Connection,
    stamp: str,
    kind: str,
    target: str,
    *,
    check: str | None,
    detail: str,
) -> None:
    """One line of history, inside the caller's write transaction."""
    if len(detail) > DETAIL_MAX:
        detail = detail[: DETAIL_MAX - 1] + "…"
    conn.execute(
        "INSERT INTO events (at, kind, target, check_id, detail) VALUES (?, ?, ?, ?, ?)",
        (stamp, kind, target, check, detail),
    )


def _touch_check(
    conn: sqlite3.Connection, check: str, status: Status, error: str | None, stamp: str
) -> None:
    conn.execute(
        "INSERT INTO checks (id, first_seen, last_seen, last_status, last_error) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, "
        "last_status = excluded.last_status, last_error = excluded.last_error",
        (check, stamp, stamp, status.value, error),
    )


def _upsert(
    conn: sqlite3.Connection, result: CheckResult, finding: Finding, stamp: str
) -> Literal["appeared", "changed"] | None:
    # Only what a person is shown is kept, and the kind of finding; the rest of
    # `finding.evidence` is never written.
    severity = (finding.severity or result.severity).value
    reason = str(finding.evidence.get("reason") or "")
    row = conn.execute(
        "SELECT severity, message, advice, resolved_at FROM findings WHERE id = ?",
        (finding.id,),
    ).fetchone()
    if row is None or row[3] is not None:
        # New, or back after being resolved: a fresh occurrence, not yet told to anyone.
        conn.execute(
            "INSERT INTO findings (id, check_id, subject, severity, message, advice, "
            "first_seen, last_seen, resolved_at, times_notified, last_notified, reason, notice) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET check_id = excluded.check_id, "
            "subject = excluded.subject, severity = excluded.severity, "
            "message = excluded.message, advice = excluded.advice, "
            "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
            "resolved_at = NULL, times_notified = 0, last_notified = NULL, "
            "reason = excluded.reason, notice = excluded.notice",
            (
                finding.id,
                result.check,
                finding.subject,
                severity,
                finding.message,
                finding.advice,
                stamp,
                stamp,
                reason,
                finding.notice,
            ),
        )
        add_event(
            conn,
            stamp,
            "appeared",
            finding.id,
            check=result.check,
            detail=f"{severity}: {finding.subject}",
        )
        return "appeared"
    old_severity, old_message, old_advice = str(row[0]), str(row[1]), str(row[2])
    conn.execute(
        "UPDATE findings SET check_id = ?, subject = ?, severity = ?, message = ?, "
        "advice = ?, last_seen = ?, reason = ?, notice = ? WHERE id = ?",
        (
            result.check,
            finding.subject,
            severity,
            finding.message,
            finding.advice,
            stamp,
            reason,
            finding.notice,
            finding.id,
        ),
    )
    what = []
    if old_severity != severity:
        what.append(f"severity {old_severity} -> {severity}")
    if old_message != finding.message:
        what.append("message")
    if old_advice != finding.advice:
        what.append("advice")
    if not what:
        return None
    add_event(conn, stamp, "changed", finding.id, check=result.check, detail=", ".join(what))
    return "changed"


def _check_of(conn: sqlite3.Connection, target: str) -> str | None:
    row = conn.execute("SELECT check_id FROM findings WHERE id = ?", (target,)).fetchone()
    return None if row is None else str(row[0])


def _active_snoozes(conn: sqlite3.Connection, now: datetime) -> dict[str, datetime]:
    rows = conn.execute("SELECT target, until FROM snoozes WHERE until > ?", (ts(now),)).fetchall()
    return dict(readable(rows, lambda r: (str(r[0]), parse(r[1]))))


class _Holds(NamedTuple):
    """What keeps a finding from being told: snoozes (with the exceptions' ends folded in,
    so that the nudge needs nothing new) and the exceptions themselves, to say them."""

    snoozes: dict[str, datetime]
    exceptions: dict[str, ExceptionState]


def _holds(conn: sqlite3.Connection, now: datetime) -> _Holds:
    snoozes = _active_snoozes(conn, now)
    today = now.astimezone().date()
    exceptions = {k: e for k, e in _exceptions(conn).items() if e.until >= today}
    for finding_id, exception in exceptions.items():
        # To the end of its last day, on this computer's clock.
        ends = datetime.combine(exception.until + timedelta(days=1), time()).astimezone()
        snoozes[finding_id] = max(ends, snoozes.get(finding_id, ends))
    return _Holds(snoozes, exceptions)


def _replace_exceptions(conn: sqlite3.Connection, result: CheckResult) -> None:
    """The check's excepted findings as its last run found them: one that lapsed or is
    fixed is gone, and the finding is told again like any other."""
    conn.execute("DELETE FROM exceptions WHERE check_id = ?", (result.check,))
    conn.executemany(
        "INSERT OR REPLACE INTO exceptions (finding_id, check_id, until, reason) "
        "VALUES (?, ?, ?, ?)",
        [(e.finding.id, result.check, e.until.isoformat(), e.reason) for e in result.excepted],
    )


def _exceptions(conn: sqlite3.Connection) -> dict[str, ExceptionState]:
    rows = conn.execute("SELECT finding_id, until, reason FROM exceptions").fetchall()
    return dict(
        readable(
            rows, lambda r: (str(r[0]), ExceptionState(date.fromisoformat(str(r[1])), str(r[2])))
        )
    )


def _state_or_none(
    conn: sqlite3.Connection, finding_id: str, snoozes: _Holds
) -> FindingState | None:
    row = conn.execute(_SELECT_FINDINGS + "WHERE id = ?", (finding_id,)).fetchone()
    return readable_one(row, lambda r: _finding_state(r, snoozes))


def _check_state(row: tuple[object, ...]) -> CheckState:
    check_id, last_seen, status, error = row
    return CheckState(
        id=str(check_id),
        last_run=parse(last_seen),
        status=Status(str(status)),
        error=text_or_none(error),
    )


def _finding_state(row: tuple[object, ...], holds: _Holds) -> FindingState:
    (
        finding_id,
        check,
        subject,
        severity,
        message,
        advice,
        first_seen,
        last_seen,
        resolved_at,
        times_notified,
        last_notified,
        reason,
        notice,
    ) = row
    snoozes = holds.snoozes
    until = [t for t in (snoozes.get(str(check)), snoozes.get(str(finding_id))) if t is not None]
    return FindingState(
        id=str(finding_id),
        check=str(check),
        subject=str(subject),
        severity=Severity(str(severity)),
        message=str(message),
        advice=str(advice),
        first_seen=parse(first_seen),
        last_seen=parse(last_seen),
        resolved_at=parse_optional(resolved_at),
        snoozed_until=max(until) if until else None,
        times_notified=int(str(times_notified)),
        last_notified=parse_optional(last_notified),
        reason=str(reason),
        notice=str(notice),
        excepted=holds.exceptions.get(str(finding_id)),
    )
