"""When to tell the person. Pure decisions: findings, history and a clock in, notices out.

One notice per check, covering all its findings that are past their grace period, so that
three weak keys make one "3 problems with your SSH keys", not three pop-ups. When more
checks are due than the hourly cap leaves room for (a first run, a return from a week
away), one summary names them all instead of the first few. A notice that is due but held
(the cap, quiet hours, a grace period) is part of the plan, with its reason and the time it
goes: the caller records it, so that nothing is held back without a trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal

from agent import wording
from agent.models import Severity, Urgency
from agent.policy_settings import NotifySettings
from agent.store import FindingState

Kind = Literal["new", "reminder", "fixed", "summary"]
HoldReason = Literal["hourly cap", "quiet hours", "grace"]
SUMMARY = "summary"  # the check a summary notice is filed under: it covers several

URGENCY: dict[Severity, Urgency] = {
    Severity.critical: "critical",
    Severity.high: "normal",
    Severity.medium: "normal",
    Severity.low: "low",
    Severity.info: "low",
}
_RAISED: dict[Urgency, Urgency] = {"low": "normal", "normal": "critical", "critical": "critical"}
_KIND_ORDER: dict[Kind, int] = {"new": 0, "reminder": 1, "fixed": 2, "summary": 0}
TOPICS_SHOWN = 4
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class CheckWords:
    """What a notice about a check says: its alert titles, and what a summary calls it.
    (What to do is each finding's own notice, agent.wording.)"""

    alert: str
    alert_many: str
    thanks: bool = True  # False: no "Fixed, thank you" for this check
    topic: str = ""  # what a summary calls it ("screen lock"); the check id when empty
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


@dataclass(frozen=True)
class Hold:
    """A notice that is due (or will be, after its grace period) but not sent now."""

    notice: Notice
    reason: HoldReason
    goes_at: datetime


@dataclass(frozen=True)
class Plan:
    send: list[Notice]
    held: list[Hold]
    dropped: list[Notice]  # thank-yous with no room left: they are not worth waiting for


def plan(
    *,
    settings: NotifySettings,
    words: Mapping[str, CheckWords],
    current: Sequence[FindingState],
    resolved: Sequence[FindingState],
    delivered: Sequence[datetime],
    now: datetime,
) -> Plan:
    """What to send now, most serious first, within quiet hours and the hourly cap, and what
    is held and until when. `delivered`: when notices were delivered in the last hour."""
    warnings = _warnings(settings, words, current, now)
    thanks = _thanks(settings, words, resolved)
    held = _in_grace(settings, words, current, now)
    if settings.quiet_hours and _within(now, settings.quiet_hours):
        ends = _quiet_end(now, settings.quiet_hours)
        breaks = [
            n
            for n in warnings
            if settings.critical_breaks_quiet and n.severity is Severity.critical
        ]
        held += [Hold(n, "quiet hours", ends) for n in warnings if n not in breaks]
        warnings, dropped = breaks, thanks
        thanks = []
    else:
        dropped = []
    warnings.sort(key=_order)
    # A time after now (the clock was ahead, then set right) counts as now: never as a
    # notice that keeps the hour full until that time comes.
    delivered = [min(at, now) for at in delivered]
    budget = max(0, settings.max_per_hour - sum(1 for at in delivered if now - at < HOUR))
    if len(warnings) > budget:
        if budget >= 1 and len(warnings) > 1:
            warnings = [_summary(words, warnings)]
        else:
            frees = _slot_frees(settings, delivered, now)
            held += [Hold(n, "hourly cap", frees) for n in warnings]
            warnings = []
    room = max(0, budget - len(warnings))
    thanks.sort(key=_order)
    return Plan(
        send=[*warnings, *thanks[:room]],
        held=sorted(held, key=lambda h: (h.goes_at, _order(h.notice))),
        dropped=[*dropped, *thanks[room:]],
    )


def _order(notice: Notice) -> tuple[int, int, str]:
    return (-notice.severity.rank, _KIND_ORDER[notice.kind], notice.check)


def _summary(words: Mapping[str, CheckWords], notices: Sequence[Notice]) -> Notice:
    """One notice for several checks' notices, naming each by its topic."""
    topics = [words[n.check].topic or n.check for n in notices]
    shown = topics[:TOPICS_SHOWN]
    if len(topics) > TOPICS_SHOWN:
        named = f"{', '.join(shown)} and {len(topics) - TOPICS_SHOWN} more"
    else:
        named = f"{', '.join(shown[:-1])} and {shown[-1]}"
    severity = max((n.severity for n in notices), key=lambda s: s.rank)
    urgencies = ["low", "normal", "critical"]
    return Notice(
        check=SUMMARY,
        kind="summary",
        title=f"{len(notices)} things need your attention",
        body=wording.sentence(
            f"{named}. Details shows what to do about each, as does hygiene status."
        ),
        urgency=max((n.urgency for n in notices), key=urgencies.index),
        severity=severity,
        finding_ids=tuple(fid for n in notices for fid in n.finding_ids),
    )


def _slot_frees(settings: NotifySettings, delivered: Sequence[datetime], now: datetime) -> datetime:
    """When the next notice fits under the hourly cap: an hour after the delivery that
    leaves the cap with room once it ages out."""
    recent = sorted(at for at in delivered if now - at < HOUR)
    over = len(recent) - settings.max_per_hour
    return recent[over] + HOUR if 0 <= over < len(recent) else now


def _in_grace(
    settings: NotifySettings,
    words: Mapping[str, CheckWords],
    current: Sequence[FindingState],
    now: datetime,
) -> list[Hold]:
    """Per check, the new findings still in their grace period: a notice that will go."""
    by_check: dict[str, list[FindingState]] = {}
    for finding in current:
        if not _may_tell(finding, words, now) or finding.times_notified:
            continue
        grace = settings.grace.of(finding.severity.value)
        if grace is not None and timedelta(0) <= now - finding.first_seen < grace:
            by_check.setdefault(finding.check, []).append(finding)
    holds = []
    for check, findings in sorted(by_check.items()):
        goes_at = min(
            f.first_seen + (settings.grace.of(f.severity.value) or HOUR) for f in findings
        )
        findings.sort(key=lambda f: (f.first_seen, f.subject))
        severity = max((f.severity for f in findings), key=lambda s: s.rank)
        notice = Notice(
            check=check,
            kind="new",
            title=_title(words[check], findings),
            body=_body(words[check], findings),
            urgency=URGENCY[severity],
            severity=severity,
            finding_ids=tuple(f.id for f in findings),
        )
        holds.append(Hold(notice, "grace", goes_at))
    return holds


def _may_tell(finding: FindingState, words: Mapping[str, CheckWords], now: datetime) -> bool:
    if finding.severity is Severity.info or finding.check not in words:
        return False
    return finding.snoozed_until is None or finding.snoozed_until <= now


def _warnings(
    settings: NotifySettings,
    words: Mapping[str, CheckWords],
    current: Sequence[FindingState],
    now: datetime,
) -> list[Notice]:
    by_check: dict[str, list[FindingState]] = {}
    for finding in current:
        if _may_tell(finding, words, now):
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
    # First seen after now (the clock was ahead, then set right): its grace is not waited
    # for again from a time that may be months away.
    return grace is not None and (finding.first_seen > now or now - finding.first_seen >= grace)


def _reminder_due(settings: NotifySettings, finding: FindingState, now: datetime) -> bool:
    every = settings.remind.of(finding.severity.value)
    last = finding.last_notified
    return every is not None and last is not None and now - last >= every


def _title(words: CheckWords, findings: Sequence[FindingState]) -> str:
    return wording.title(words.alert, words.alert_many, words.alerts, findings)


def _body(words: CheckWords, findings: Sequence[FindingState]) -> str:
    return wording.body(findings)


def _quiet_end(now: datetime, hours: tuple[time, time]) -> datetime:
    """The next local time quiet hours end, after `now` (within them)."""
    local = now.astimezone()
    end = local.replace(hour=hours[1].hour, minute=hours[1].minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end


def _within(now: datetime, hours: tuple[time, time]) -> bool:
    start, end = hours
    local = now.astimezone().time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end
