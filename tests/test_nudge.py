"""The nudge's decisions, on a clock the test sets: grace, reminders, grouping, quiet hours,
the hourly cap and the summary for a burst, what is held and until when, snoozes, thanks
and escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.models import Severity
from agent.nudge import CheckWords, Notice, Plan, plan
from agent.policy import validated
from agent.policy_settings import NotifySettings
from agent.store import FindingState

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WORDS = {
    "ssh_keys": CheckWords("An SSH key is not protected", "{n} problems with your SSH keys"),
    "other": CheckWords("Other problem", "{n} other problems"),
    "screen_lock": CheckWords("No screen lock", "{n} lock problems", topic="screen lock"),
    "vpn": CheckWords("No VPN", "{n} VPN problems", topic="the VPN"),
}


pytestmark = pytest.mark.usefixtures("local_utc")


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


def decided(
    current: list[FindingState],
    now: datetime,
    *,
    resolved: list[FindingState] | None = None,
    delivered_last_hour: int = 0,
    delivered: list[datetime] | None = None,
    **settings: Any,
) -> Plan:
    if delivered is None:  # that many, a minute before now
        delivered = [now - timedelta(minutes=1)] * delivered_last_hour
    return plan(
        settings=validated(NotifySettings, settings),
        words=WORDS,
        current=current,
        resolved=resolved or [],
        delivered=delivered,
        now=now,
    )


def decide(current: list[FindingState], now: datetime, **kwargs: Any) -> list[Notice]:
    """What is sent now."""
    return decided(current, now, **kwargs).send


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


def test_more_due_than_the_cap_leaves_room_for_is_one_summary() -> None:
    findings = [
        state("l", Severity.low, check="other", first_seen=T0 - timedelta(days=2)),
        state("c", Severity.critical),
        state("s", Severity.medium, check="screen_lock", first_seen=T0 - timedelta(hours=2)),
        state("v", check="vpn"),
    ]
    (summary,) = decide(findings, T0, max_per_hour=2, delivered_last_hour=1)
    assert (summary.kind, summary.check) == ("summary", "summary")
    assert summary.title == "4 things need your attention"
    # Most serious first, each check by its topic (or its id when it has none).
    assert summary.body.startswith("Ssh_keys, the VPN, screen lock and other. Details")
    assert summary.urgency == "critical" and summary.severity is Severity.critical
    assert sorted(summary.finding_ids) == ["c", "l", "s", "v"]
    # With room for all four, each check has its own notice.
    assert len(decide(findings, T0, max_per_hour=4)) == 4


def test_a_summary_names_at_most_four_topics() -> None:
    findings = [state(f"k{i}", check=f"check{i}") for i in range(6)]
    words = {f"check{i}": CheckWords("A", "{n} A", topic=f"topic {i}") for i in range(6)}
    (summary,) = plan(
        settings=validated(NotifySettings, {"max_per_hour": 1}),
        words=words,
        current=findings,
        resolved=[],
        delivered=[],
        now=T0,
    ).send
    assert summary.body.startswith("Topic 0, topic 1, topic 2, topic 3 and 2 more.")
    assert len(summary.body) <= 200


def test_a_full_hour_holds_everything_until_a_slot_frees() -> None:
    findings = [state("c", Severity.critical), state("v", check="vpn")]
    sent_at = [T0 - timedelta(minutes=50), T0 - timedelta(minutes=20)]
    result = decided(findings, T0, max_per_hour=2, delivered=sent_at)
    assert result.send == []
    assert [(h.notice.check, h.reason, h.goes_at) for h in result.held] == [
        ("ssh_keys", "hourly cap", T0 + timedelta(minutes=10)),
        ("vpn", "hourly cap", T0 + timedelta(minutes=10)),
    ]
    # When that time comes there is room for one: the two go as one summary.
    (summary,) = decide(findings, T0 + timedelta(minutes=10), max_per_hour=2, delivered=sent_at)
    assert summary.kind == "summary"


def test_times_after_now_from_a_clock_set_back_count_as_now() -> None:
    # Notices delivered while the clock was months ahead fill this hour, not the next months.
    ahead = T0 + timedelta(days=180)
    result = decided(
        [state("c"), state("v", check="vpn")], T0, max_per_hour=2, delivered=[ahead] * 2
    )
    assert {h.goes_at for h in result.held} == {T0 + timedelta(hours=1)}
    # A finding first seen "in the future" does not wait for its grace until then.
    later = state("m", Severity.medium, check="screen_lock", first_seen=ahead)
    result = decided([later], T0)
    assert result.held == [] and [n.finding_ids for n in result.send] == [("m",)]


def test_quiet_hours_hold_until_they_end() -> None:
    night = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    result = decided([state("h")], night, quiet_hours="22:00-08:00")
    assert result.send == []
    ((notice, reason, goes_at),) = [(h.notice, h.reason, h.goes_at) for h in result.held]
    assert (notice.check, reason) == ("ssh_keys", "quiet hours")
    assert goes_at == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    early = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert decided([state("h")], early, quiet_hours="22:00-08:00").held[0].goes_at == goes_at


def test_a_new_finding_in_grace_is_held_until_its_grace_ends() -> None:
    fresh = state("m", Severity.medium, check="screen_lock", first_seen=T0)
    result = decided([fresh], T0 + timedelta(minutes=15))
    assert result.send == []
    ((hold),) = result.held
    assert (hold.notice.check, hold.reason, hold.goes_at) == (
        "screen_lock",
        "grace",
        T0 + timedelta(hours=1),
    )
    assert hold.notice.finding_ids == ("m",)
    # A snoozed or info finding is not held: it is not going to be told.
    snoozed = fresh._replace(snoozed_until=T0 + timedelta(days=1))
    assert decided([snoozed], T0 + timedelta(minutes=15)).held == []
    assert decided([state("i", Severity.info)], T0).held == []


def test_thanks_with_no_room_are_dropped_not_held() -> None:
    fixed = [state("a", times_notified=1, last_notified=T0)]
    result = decided([], T0, resolved=fixed, max_per_hour=1, delivered_last_hour=1)
    assert (result.send, result.held) == ([], [])
    assert [n.kind for n in result.dropped] == ["fixed"]


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
    words = {**WORDS, "quiet": CheckWords("Idle", "{n} idle", thanks=False)}
    notices = plan(
        settings=NotifySettings(),
        words=words,
        current=[],
        resolved=[told],
        delivered=[],
        now=T0,
    ).send
    assert notices == []


def test_urgency_rises_for_old_findings() -> None:
    old = state("k", Severity.high, first_seen=T0 - timedelta(days=8))
    assert decide([old], T0)[0].urgency == "critical"
    assert decide([old], T0, escalate_after="30d")[0].urgency == "normal"
    assert decide([old], T0, escalate_after=None)[0].urgency == "normal"
