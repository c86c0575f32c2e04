"""When to tell the person. Pure decisions: findings, history and a clock in, notices out.

One notice per check, covering all its findings that are past their grace period, so that
three weak keys make one "3 problems with your SSH keys", not three pop-ups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal

from agent import wording
from agent.models import Severity, Urgency
from agent.policy_settings import NotifySettings
from agent.store import FindingState

Kind = Literal["new", "reminder", "fixed"]

URGENCY: dict[Severity, Urgency] = {
    Severity.critical: "critical",
    Severity.high: "normal",
    Severity.medium: "normal",
    Severity.low: "low",
    Severity.info: "low",
}
_RAISED: dict[Urgency, Urgency] = {"low": "normal", "normal": "critical", "critical": "critical"}
_KIND_ORDER: dict[Kind, int] = {"new": 0, "reminder": 1, "fixed": 2}


@dataclass(frozen=True)
class CheckWords:
    """What a notice about a check says: its alert titles and the policy's advice."""

    alert: str
    alert_many: str
    advice: str
    thanks: bool = True  # False: no "Fixed, thank you" for this check
    # Titles by kind of finding (Check.alerts): for one, and for several ("{n}").
    alerts: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    check: str
    kind: Kind
    title: str
    body: str
    urgency: Urgency
    severity: Severity
    finding_ids: tuple[str, ...]


def plan(
    *,
    settings: NotifySettings,
    words: Mapping[str, CheckWords],
    current: Sequence[FindingState],
    resolved: Sequence[FindingState],
    delivered_last_hour: int,
    now: datetime,
) -> list[Notice]:
    """The notices to send now, most serious first, within the hourly cap and quiet hours."""
    notices = [*_warnings(settings, words, current, now), *_thanks(settings, words, resolved)]
    if settings.quiet_hours and _within(now, settings.quiet_hours):
        notices = [
            n for n in notices if settings.critical_breaks_quiet and n.severity is Severity.critical
        ]
    notices.sort(key=lambda n: (-n.severity.rank, _KIND_ORDER[n.kind], n.check))
    budget = max(0, settings.max_per_hour - delivered_last_hour)
    return notices[:budget]


def _warnings(
    settings: NotifySettings,
    words: Mapping[str, CheckWords],
    current: Sequence[FindingState],
    now: datetime,
) -> list[Notice]:
    by_check: dict[str, list[FindingState]] = {}
    for finding in current:
        if finding.severity is Severity.info or finding.check not in words:
            continue
        if finding.snoozed_until is not None and finding.snoozed_until > now:
            continue
        by_check.setdefault(finding.check, []).append(finding)

    notices = []
    for check, findings in sorted(by_check.items()):
        new = [f for f in findings if f.times_notified == 0 and _past_grace(settings, f, now)]
        due = [f for f in findings if f.times_notified > 0 and _reminder_due(settings, f, now)]
        if not new and not due:
            continue
        # The notice speaks of everything the person has been or is now told about.
        covered = sorted(
            (f for f in findings if f.times_notified > 0 or f in new),
            key=lambda f: (f.first_seen, f.subject),
        )
        severity = max((f.severity for f in covered), key=lambda s: s.rank)
        urgency = URGENCY[severity]
        if settings.escalate_after is not None and any(
            now - f.first_seen >= settings.escalate_after for f in covered
        ):
            urgency = _RAISED[urgency]
        notices.append(
            Notice(
                check=check,
                kind="new" if new else "reminder",
                title=_title(words[check], covered),
                body=_body(words[check], covered),
                urgency=urgency,
                severity=severity,
                finding_ids=tuple(f.id for f in covered),
            )
        )
    return notices


def _thanks(
    settings: NotifySettings, words: Mapping[str, CheckWords], resolved: Sequence[FindingState]
) -> list[Notice]:
    if not settings.thank_you:
        return []
    by_check: dict[str, list[FindingState]] = {}
    for finding in resolved:
        # Thanks only for what the person was told about and that mattered.
        words_of = words.get(finding.check)
        if words_of is not None and not words_of.thanks:
            continue
        if finding.times_notified and finding.severity in (Severity.high, Severity.critical):
            by_check.setdefault(finding.check, []).append(finding)
    return [
        Notice(
            check=check,
            kind="fixed",
            title="Fixed, thank you",
            body=wording.thanks(findings),
            urgency="low",
            severity=max((f.severity for f in findings), key=lambda s: s.rank),
            finding_ids=tuple(f.id for f in findings),
        )
        for check, findings in sorted(by_check.items())
    ]


def _past_grace(settings: NotifySettings, finding: FindingState, now: datetime) -> bool:
    grace = settings.grace.of(finding.severity.value)
    return grace is not None and now - finding.first_seen >= grace


def _reminder_due(settings: NotifySettings, finding: FindingState, now: datetime) -> bool:
    every = settings.remind.of(finding.severity.value)
    last = finding.last_notified
    return every is not None and last is not None and now - last >= every


def _title(words: CheckWords, findings: Sequence[FindingState]) -> str:
    return wording.title(words.alert, words.alert_many, words.alerts, findings)


def _body(words: CheckWords, findings: Sequence[FindingState]) -> str:
    return wording.body(findings)


def _within(now: datetime, hours: tuple[time, time]) -> bool:
    start, end = hours
    local = now.astimezone().time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end
