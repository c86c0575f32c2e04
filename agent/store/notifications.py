"""The notification log: every notice sent (delivered or not) and what the person did with it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from agent.store.database import Database, StoreError
from agent.store.findings import add_event
from agent.store.values import finding_ids as finding_ids_of
from agent.store.values import parse, parse_optional, readable, readable_one, text_or_none, ts

_SELECT_NOTIFICATIONS = (
    "SELECT id, at, check_id, kind, title, body, urgency, backend, delivered, reason, "
    "server_id, finding_ids, response, response_at FROM notifications "
)


OPENED = "opened the details"  # an answer that decides nothing (record_response)
POLICY_REFUSED = "policy refused"  # the agent's own notice: no finding, not under the cap


class NotificationRecord(NamedTuple):
    id: int
    at: datetime
    check: str
    kind: str
    title: str
    body: str
    urgency: str
    backend: str
    delivered: bool
    reason: str | None
    server_id: int | None
    finding_ids: tuple[str, ...]
    response: str | None = None  # "snoozed it for 1d", "opened the details", "dismissed it"
    response_at: datetime | None = None


class Notifications(Database):
    def record_notification(
        self,
        *,
        at: datetime,
        check: str,
        kind: str,
        title: str,
        body: str,
        urgency: str,
        backend: str,
        delivered: bool,
        reason: str | None,
        server_id: int | None,
        finding_ids: Sequence[str],
    ) -> NotificationRecord:
        """Log a notification (delivered or not) and count it against its findings."""
        stamp = ts(at)
        ids = tuple(finding_ids)
        with self._write("save a notification to") as conn:
            cursor = conn.execute(
                "INSERT INTO notifications (at, check_id, kind, title, body, urgency, backend, "
                "delivered, reason, server_id, finding_ids) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stamp,
                    check,
                    kind,
                    title,
                    body,
                    urgency,
                    backend,
                    int(delivered),
                    reason,
                    server_id,
                    json.dumps(list(ids)),
                ),
            )
            record_id = cursor.lastrowid
            event = "notified" if delivered else "delivery failed"
            detail = f"{kind} via {backend}" if delivered else f"{kind} via {backend}: {reason}"
            for target in ids or (check,):
                add_event(conn, stamp, event, target, check=check, detail=detail)
            if delivered and ids:
                conn.executemany(
                    "UPDATE findings SET times_notified = times_notified + 1, last_notified = ? "
                    "WHERE id = ?",
                    [(stamp, finding_id) for finding_id in ids],
                )
        if record_id is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise StoreError(f"The store {self.path} did not number a new notification.")
        return NotificationRecord(
            id=record_id,
            at=parse(stamp),
            check=check,
            kind=kind,
            title=title,
            body=body,
            urgency=urgency,
            backend=backend,
            delivered=delivered,
            reason=reason,
            server_id=server_id,
            finding_ids=ids,
        )

    def notifications(self, limit: int | None = None) -> list[NotificationRecord]:
        """The notification log, newest first."""
        count = -1 if limit is None else max(limit, 0)  # LIMIT -1: no limit
        with self._read("read the notification log in") as conn:
            rows = conn.execute(
                _SELECT_NOTIFICATIONS + "ORDER BY at DESC, id DESC LIMIT ?",
                (count,),
            ).fetchall()
        return readable(rows, _notification)

    def delivered_times_since(self, since: datetime) -> list[datetime]:
        """When each notice about findings delivered at or after `since` was, oldest first:
        what the hourly cap counts (a policy refusal is the agent's own, and not counted)."""
        with self._read("count the notifications in") as conn:
            rows = conn.execute(
                "SELECT at FROM notifications WHERE delivered = 1 AND at >= ? AND kind != ? "
                "ORDER BY at",
                (ts(since), POLICY_REFUSED),
            ).fetchall()
        return readable(rows, lambda row: parse(row[0]))

    def last_server_id(self, check: str) -> int | None:
        """The server's id of the newest delivered notification of `check` that has one."""
        with self._read("read the notification log in") as conn:
            row = conn.execute(
                "SELECT server_id FROM notifications "
                "WHERE check_id = ? AND delivered = 1 AND server_id IS NOT NULL "
                "ORDER BY at DESC, id DESC LIMIT 1",
                (check,),
            ).fetchone()
        return None if row is None else int(row[0])

    def by_server_id(self, backend: str, server_id: int) -> NotificationRecord | None:
        """The newest notification the server numbered `server_id` (servers reuse ids)."""
        with self._read("read the notification log in") as conn:
            row = conn.execute(
                _SELECT_NOTIFICATIONS + "WHERE backend = ? AND server_id = ? AND delivered = 1 "
                "ORDER BY at DESC, id DESC LIMIT 1",
                (backend, server_id),
            ).fetchone()
        return readable_one(row, _notification)

    def record_response(self, record: NotificationRecord, response: str, now: datetime) -> None:
        """What the person did with a notification; the first decision is the one kept.
        Opening the details decides nothing: a snooze or a dismissal after it replaces it."""
        stamp = ts(now)
        with self._write("save your answer to a notification in") as conn:
            cursor = conn.execute(
                "UPDATE notifications SET response = ?, response_at = ? "
                "WHERE id = ? AND (response IS NULL OR (response = ? AND ? != ?))",
                (response, stamp, record.id, OPENED, response, OPENED),
            )
            if cursor.rowcount:
                for target in record.finding_ids or (record.check,):
                    add_event(conn, stamp, "answered", target, check=record.check, detail=response)


def _notification(row: tuple[object, ...]) -> NotificationRecord:
    (
        record_id,
        at,
        check,
        kind,
        title,
        body,
        urgency,
        backend,
        delivered,
        reason,
        server_id,
        finding_ids,
        response,
        response_at,
    ) = row
    return NotificationRecord(
        id=int(str(record_id)),
        at=parse(at),
        check=str(check),
        kind=str(kind),
        title=str(title),
        body=str(body),
        urgency=str(urgency),
        backend=str(backend),
        delivered=bool(delivered),
        reason=text_or_none(reason),
        server_id=None if server_id is None else int(str(server_id)),
        finding_ids=finding_ids_of(finding_ids),
        response=text_or_none(response),
        response_at=parse_optional(response_at),
    )
