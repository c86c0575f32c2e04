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
from agent.nudge import CheckWords, Notice, plan
from agent.policy_settings import Policy
from agent.store import Change, NotificationRecord, Store


@dataclass(frozen=True)
class CycleOutcome:
    results: list[CheckResult]
    changes: list[Change]
    sent: list[tuple[Notice, NotificationRecord]]


def check_words(policy: Policy, checks: Sequence[type[Check[Any]]]) -> dict[str, CheckWords]:
    """The words of each enabled check; the nudge says nothing about a check turned off."""
    return {
        check.id: CheckWords(
            alert=check.alert,
            alert_many=check.alert_many,
            advice=policy.settings[check.id].advice or check.advice,
            thanks=check.thanks_when_fixed,
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
    results = run_checks(policy, checks, ctx)
    changes = store.record_results(results, now)
    sent = tell(
        policy=policy, checks=checks, store=store, backends=backends, changes=changes, now=now
    )
    return CycleOutcome(results=results, changes=changes, sent=sent)


def tell(
    *,
    policy: Policy,
    checks: Sequence[type[Check[Any]]],
    store: Store,
    backends: Sequence[Backend],
    changes: Sequence[Change],
    now: datetime,
) -> list[tuple[Notice, NotificationRecord]]:
    """Send what the nudge says is due now, and log each notice in the store."""
    notices = plan(
        settings=policy.notify,
        words=check_words(policy, checks),
        current=store.current(now),
        resolved=[change.finding for change in changes if change.kind == "resolved"],
        delivered_last_hour=store.delivered_since(now - timedelta(hours=1)),
        now=now,
    )
    sent = []
    for notice in notices:
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
    return sent


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
