"""Notices that are due but held back, each with its reason and the time it goes. The agent
writes them after each decision (agent.nudge); status, notifications and the page read them,
so that nothing is held back without a trace."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from agent.store.database import Database
from agent.store.values import finding_ids as finding_ids_of
from agent.store.values import parse, readable, ts

REASONS = {
    "hourly cap": "the hourly limit of notices is reached",
    "quiet hours": "it is within quiet hours",
    "grace": "a new problem waits its grace period before the first notice",
}


class HeldNotice(NamedTuple):
    check: str
    kind: str  # "new", "reminder" or "summary"
    title: str  # what the notice will say, as it would be sent now
    reason: str  # a key of REASONS
    goes_at: datetime  # when it is sent, unless what it is about is fixed or snoozed first
    since: datetime  # when it was first held
    finding_ids: tuple[str, ...]


class Held(Database):
    def held(self) -> list[HeldNotice]:
        """The notices held now, the soonest to go first."""
        with self._read("read the held notices in") as conn:
            rows = conn.execute(
                "SELECT check_id, kind, title, reason, goes_at, since, finding_ids FROM held "
                "ORDER BY goes_at, check_id"
            ).fetchall()
        return readable(rows, _held)

    def replace_held(self, notices: Sequence[HeldNotice]) -> bool:
        """Make `notices` the held ones; True when that changed anything. Unchanged, nothing
        is written (the agent decides every few seconds)."""
        wanted = sorted(notices, key=lambda n: (n.goes_at, n.check))
        if self.held() == wanted:
            return False
        with self._write("save the held notices to") as conn:
            conn.execute("DELETE FROM held")
            conn.executemany(
                "INSERT INTO held (check_id, kind, title, reason, goes_at, since, finding_ids) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        n.check,
                        n.kind,
                        n.title,
                        n.reason,
                        ts(n.goes_at),
                        ts(n.since),
                        json.dumps(list(n.finding_ids)),
                    )
                    for n in wanted
                ],
            )
        return True


def _held(row: tuple[object, ...]) -> HeldNotice:
    check, kind, title, reason, goes_at, since, finding_ids = row
    return HeldNotice(
        check=str(check),
        kind=str(kind),
        title=str(title),
        reason=str(reason),
        goes_at=parse(goes_at),
        since=parse(since),
        finding_ids=finding_ids_of(finding_ids),
    )
