"""The nudge's decisions, on a clock the test sets: grace, reminders, grouping, quiet hours,
the hourly cap, snoozes, thanks and escalation."""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.models import Severity
from agent.nudge import CheckWords, Notice, plan
from agent.policy import validated
from agent.policy_settings import NotifySettings
from agent.store import FindingState

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WORDS = {
    "ssh_keys": CheckWords(
        "An SSH key is not protected", "{n} problems with your SSH keys", "Protect every key."
    ),
    "other": CheckWords("Other problem", "{n} other problems", "Fix the others."),
}


@pytest.fixture(autouse=True)
def utc_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    clock.tzset()
    yield
    monkeypatch.undo()
    clock.tzset()


def state(
    fid: str,
    severity: Severity = Severity.high,
    *,
    check: str = "ssh_keys",
    first_seen: datetime = T0,
    times_notified: int = 0,
    last_notified: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> FindingState:
    return FindingState(
        id=fid,
        check=check,
        subject=f"~/.ssh/{fid}",
        severity=severity,
        message=f"~/.ssh/{fid} has no passphrase.",
        advice=f"ssh-keygen -p -f ~/.ssh/{fid}",
        first_seen=first_seen,
        last_seen=first_seen,
        resolved_at=None,
        snoozed_until=snoozed_until,
        times_notified=times_notified,
        last_notified=last_notified,
        reason="no passphrase",
        notice=f"~/.ssh/{fid} has no passphrase. Add one: ssh-keygen -p -f ~/.ssh/{fid}",
    )


def decide(
    current: list[FindingState],
    now: datetime,
    *,
    resolved: list[FindingState] | None = None,
    delivered_last_hour: int = 0,
    **settings: Any,
) -> list[Notice]:
    return plan(
        settings=validated(NotifySettings, settings),
        words=WORDS,
        current=current,
        resolved=resolved or [],
        delivered_last_hour=delivered_last_hour,
        now=now,
    )


def test_high_is_told_at_once_with_its_message_and_advice() -> None:
    (notice,) = decide([state("id_rsa")], T0)
    assert (notice.kind, notice.title, notice.urgency) == (
        "new",
        "An SSH key is not protected",
        "normal",
    )
    assert notice.body == "~/.ssh/id_rsa has no passphrase. Add one: ssh-keygen -p -f ~/.ssh/id_rsa"
    assert notice.finding_ids == ("id_rsa",)


@pytest.mark.parametrize(
    ("severity", "grace", "urgency"),
    [
        (Severity.critical, timedelta(0), "critical"),
        (Severity.high, timedelta(0), "normal"),
        (Severity.medium, timedelta(hours=1), "normal"),
        (Severity.low, timedelta(days=1), "low"),
    ],
)
def test_grace_period_per_severity(severity: Severity, grace: timedelta, urgency: str) -> None:
    finding = state("k", severity)
    if grace:
        assert decide([finding], T0 + grace - timedelta(seconds=1)) == []
    (notice,) = decide([finding], T0 + grace)
    assert notice.urgency == urgency


def test_info_is_never_told() -> None:
    assert decide([state("k", Severity.info)], T0 + timedelta(days=365)) == []


def test_grace_null_means_never() -> None:
    assert decide([state("k", Severity.low)], T0 + timedelta(days=30), grace={"low": None}) == []


@pytest.mark.parametrize(
    ("severity", "every"),
    [
        (Severity.critical, timedelta(hours=1)),
        (Severity.high, timedelta(hours=4)),
        (Severity.medium, timedelta(days=1)),
        (Severity.low, timedelta(days=7)),
    ],
)
def test_reminders_per_severity(severity: Severity, every: timedelta) -> None:
    told = T0 + timedelta(days=2)
    finding = state("k", severity, times_notified=1, last_notified=told)
    assert decide([finding], told + every - timedelta(seconds=1)) == []
    (notice,) = decide([finding], told + every)
    assert notice.kind == "reminder"


def test_findings_of_one_check_make_one_notice() -> None:
    findings = [state(f"key{i}") for i in range(5)] + [state("x", check="other")]
    notices = decide(findings, T0)
    assert [n.check for n in notices] == ["other", "ssh_keys"]
    ssh = notices[1]
    assert ssh.title == "5 problems with your SSH keys"
    assert ssh.body == (
        "5 problems: ~/.ssh/key0, ~/.ssh/key1, ~/.ssh/key2, ~/.ssh/key3 and ~/.ssh/key4. "
        "For what to do: hygiene status"
    )
    assert ssh.finding_ids == tuple(f"key{i}" for i in range(5))


def test_a_new_finding_joins_an_already_told_check() -> None:
    old = state("old", times_notified=1, last_notified=T0)
    new = state("new", first_seen=T0 + timedelta(minutes=5))
    (notice,) = decide([old, new], T0 + timedelta(minutes=5))
    assert notice.kind == "new"
    assert notice.finding_ids == ("old", "new")


def test_a_finding_in_grace_is_not_mentioned_yet() -> None:
    told = state("told", Severity.medium, times_notified=1, last_notified=T0)
    fresh = state("fresh", Severity.medium, first_seen=T0 + timedelta(days=1))
    (notice,) = decide([told, fresh], T0 + timedelta(days=1))
    assert notice.finding_ids == ("told",)


def test_snoozed_until_the_snooze_ends() -> None:
    finding = state("k", snoozed_until=T0 + timedelta(days=1))
    assert decide([finding], T0) == []
    assert len(decide([finding], T0 + timedelta(days=1, seconds=1))) == 1


def test_quiet_hours_hold_all_but_critical() -> None:
    night = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    findings = [state("h"), state("c", Severity.critical, check="other")]
    assert [n.check for n in decide(findings, night, quiet_hours="22:00-08:00")] == ["other"]
    assert decide(findings, night, quiet_hours="22:00-08:00", critical_breaks_quiet=False) == []
    morning = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert len(decide(findings, morning, quiet_hours="22:00-08:00")) == 2
    assert len(decide(findings, night, quiet_hours="09:00-17:00")) == 2


def test_hourly_cap_keeps_the_most_serious() -> None:
    findings = [
        state("l", Severity.low, check="other", first_seen=T0 - timedelta(days=2)),
        state("c", Severity.critical),
    ]
    notices = decide(findings, T0, max_per_hour=2, delivered_last_hour=1)
    assert [n.severity for n in notices] == [Severity.critical]
    assert decide(findings, T0, max_per_hour=2, delivered_last_hour=2) == []


def test_thanks_for_fixed_high_findings_the_person_was_told_about() -> None:
    fixed = [
        state("a", times_notified=1, last_notified=T0),
        state("b", Severity.critical, times_notified=2, last_notified=T0),
        state("never_told"),
        state("low", Severity.low, check="other", times_notified=1, last_notified=T0),
    ]
    (notice,) = decide([], T0, resolved=fixed)
    assert (notice.kind, notice.title, notice.urgency) == ("fixed", "Fixed, thank you", "low")
    assert notice.body == "~/.ssh/a and ~/.ssh/b are fixed."
    assert decide([], T0, resolved=fixed, thank_you=False) == []


def test_a_check_that_asks_for_no_thanks_gets_none() -> None:
    # idle_sessions: typing into a terminal again is not a fix to thank anyone for.
    told = state("idle", check="quiet", times_notified=1, last_notified=T0)
    words = {**WORDS, "quiet": CheckWords("Idle", "{n} idle", "Sign out.", thanks=False)}
    notices = plan(
        settings=NotifySettings(),
        words=words,
        current=[],
        resolved=[told],
        delivered_last_hour=0,
        now=T0,
    )
    assert notices == []


def test_urgency_rises_for_old_findings() -> None:
    old = state("k", Severity.high, first_seen=T0 - timedelta(days=8))
    assert decide([old], T0)[0].urgency == "critical"
    assert decide([old], T0, escalate_after="30d")[0].urgency == "normal"
    assert decide([old], T0, escalate_after=None)[0].urgency == "normal"
