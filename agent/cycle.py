"""One cycle of the agent: audit, remember, decide, tell. `hygiene run --once` is one cycle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from agent.checks.base import Check, CheckContext
from agent.engine import run_checks
from agent.models import CheckResult
from agent.notify import Backend, Notification, deliver
from agent.nudge import CheckWords, Hold, Notice, plan
from agent.policy_settings import Policy
from agent.store import Change, HeldNotice, NotificationRecord, Store


@dataclass(frozen=True)
class Told:
    """What one decision did: the notices sent (delivered or not), those held (recorded in
    the store, with when they go) and the thank-yous left out for want of room."""

    sent: list[tuple[Notice, NotificationRecord]]
    held: list[HeldNotice]
    held_changed: bool
    dropped: list[Notice]


@dataclass(frozen=True)
class CycleOutcome:
    results: list[CheckResult]
    changes: list[Change]
    told: Told

    @property
    def sent(self) -> list[tuple[Notice, NotificationRecord]]:
        return self.told.sent


def check_words(policy: Policy, checks: Sequence[type[Check[Any]]]) -> dict[str, CheckWords]:
    """The words of each enabled check; the nudge says nothing about a check turned off."""
    return {
        check.id: CheckWords(
            alert=check.alert,
            alert_many=check.alert_many,
            thanks=check.thanks_when_fixed,
            topic=check.topic,
            alerts={kind: (one, many) for kind, one, many in check.alerts},
        )
        for check in checks
        if policy.settings[check.id].enabled
    }


def run_cycle(
    *,
    policy: Policy,
    checks: Sequence[type[Check[Any]]],
    ctx: CheckContext,
    store: Store,
    backends: Sequence[Backend],
    now: datetime,
) -> CycleOutcome:
    results = run_checks(policy, checks, ctx, today=now.astimezone().date())
    changes = store.record_results(results, now)
    told = tell(
        policy=policy, checks=checks, store=store, backends=backends, changes=changes, now=now
    )
    return CycleOutcome(results=results, changes=changes, told=told)


def tell(
    *,
    policy: Policy,
    checks: Sequence[type[Check[Any]]],
    store: Store,
    backends: Sequence[Backend],
    changes: Sequence[Change],
    now: datetime,
) -> Told:
    """Send what the nudge says is due now, log each notice in the store, and record what
    is held and until when."""
    decided = plan(
        settings=policy.notify,
        words=check_words(policy, checks),
        current=store.current(now),
        resolved=[change.finding for change in changes if change.kind == "resolved"],
        delivered=store.delivered_times_since(now - timedelta(hours=1)),
        now=now,
    )
    sent = []
    for notice in decided.send:
        notification = Notification(title=notice.title, body=notice.body, urgency=notice.urgency)
        if notice.kind == "fixed":
            # A thank-you needs no answer; a warning offers to snooze or show details.
            notification = replace(notification, actions=())
        record = send(
            store,
            backends,
            notification,
            check=notice.check,
            kind=notice.kind,
            finding_ids=notice.finding_ids,
            at=now,
            replaces_id=store.last_server_id(notice.check),
        )
        sent.append((notice, record))
    held = _held_records(decided.held, store.held(), now)
    changed = store.replace_held(held)
    return Told(sent=sent, held=held, held_changed=changed, dropped=decided.dropped)


def _held_records(
    holds: Sequence[Hold], before: Sequence[HeldNotice], now: datetime
) -> list[HeldNotice]:
    """The store's records of `holds`; one held before for the same reason keeps its `since`."""
    since = {(h.check, h.reason): h.since for h in before}
    return [
        HeldNotice(
            check=h.notice.check,
            kind=h.notice.kind,
            title=h.notice.title,
            reason=h.reason,
            goes_at=h.goes_at,
            since=since.get((h.notice.check, h.reason), now),
            finding_ids=h.notice.finding_ids,
        )
        for h in holds
    ]


def send(
    store: Store,
    backends: Sequence[Backend],
    notification: Notification,
    *,
    check: str,
    kind: str,
    finding_ids: Sequence[str],
    at: datetime,
    replaces_id: int | None = None,
) -> NotificationRecord:
    """Deliver one notification and log it in the store, delivered or not."""
    delivery = deliver(notification, backends, replaces_id)
    return store.record_notification(
        at=at,
        check=check,
        kind=kind,
        title=notification.title,
        body=notification.body,
        urgency=notification.urgency,
        backend=delivery.backend,
        delivered=delivery.delivered,
        reason=delivery.reason,
        server_id=delivery.server_id,
        finding_ids=finding_ids,
    )
