"""Step 12: a burst of problems is one notice, and nothing is held back without a trace.
`hygiene run --once` and the resident agent's loop in this process, at moments the test
chooses, on a real dunst; what arrived is read from dunst, what is held from the commands
a person types."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.notify import BusSession
from agent.paths import Paths
from agent.policy import load_policy
from agent.scheduler import Agent
from agent.store import Store
from tests.conftest import Machine, Outcome
from tests.desktop import Desktop, wait_for
from tests.test_scheduler import CHECKS

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NETRC = "machine mail.example login ann password hunter2\n"


pytestmark = pytest.mark.usefixtures("local_utc")


@pytest.fixture
def hygiene(at_desktop: Callable[..., Outcome]) -> Callable[..., Outcome]:
    def run(*argv: str, at: datetime = T0) -> Outcome:
        return at_desktop(*argv, at=at)

    return run


def policy(machine: Machine, notify: dict[str, Any]) -> None:
    machine.keep_only("ssh_keys", "credentials")
    (machine.user_policies / "50-notify.yaml").write_text(
        "schema: 1\nnotify: " + json.dumps(notify) + "\n"
        "checks:\n  credentials: {include_system: false}\n"
    )


def two_problems(machine: Machine, make_key: Callable[..., Path]) -> None:
    make_key(machine.ssh / "id_ed25519")
    (machine.home / ".netrc").write_text(NETRC)
    (machine.home / ".netrc").chmod(0o600)


def held_json(hygiene: Callable[..., Outcome], at: datetime) -> list[dict[str, Any]]:
    out = hygiene("notifications", "--json", at=at)
    assert out.code == 0, out.err
    return [entry for entry in json.loads(out.out) if entry["held"]]


def test_a_first_run_is_one_summary_and_a_full_hour_holds_the_next_until_it_has_room(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    hygiene: Callable[..., Outcome],
) -> None:
    policy(machine, {"max_per_hour": 1})
    two_problems(machine, make_key)

    first = hygiene("run", "--once")
    assert first.code == 0, first.err
    (summary,) = desktop.received(at_least=1)
    assert summary.summary == "2 things need your attention"
    assert summary.body_text.startswith("Passwords in plain text and SSH keys.")
    assert len(summary.body_text) <= 200
    assert [label for _, label in summary.actions] == ["Snooze 1 day", "Details"]
    # Both problems count as told: neither comes again on its own within its reminder time.
    status = json.loads(hygiene("status", "--json").out)
    assert sorted(f["times_notified"] for f in status["failing"]) == [1, 1]

    # A second key, ten minutes later: the hour's one notice is spent, so it is held.
    make_key(machine.ssh / "id_second")
    later = T0 + timedelta(minutes=10)
    second = hygiene("run", "--once", at=later)
    assert (
        "Held: 1 notice this hour (the hourly limit of notices is reached); it goes at 13:00."
        in (second.out)
    )
    assert "Nothing to notify now" not in second.out
    assert desktop.received(timeout=1) == [summary]
    assert "Held: 1 notice this hour" in hygiene("status", at=later).out
    listed = hygiene("notifications", at=later).out
    assert listed.splitlines()[:2] == [
        "Held: 1 notice this hour (the hourly limit of notices is reached); it goes at 13:00.",
        "  goes at 13:00  ssh_keys  new  2 SSH keys have no passphrase",
    ]
    (held,) = held_json(hygiene, later)
    assert (held["check"], held["held"]) == (
        "ssh_keys",
        {"reason": "hourly cap", "goes_at": "2026-11-20T13:00:00+00:00"},
    )

    # At 13:00 the hour has room again: it goes, and nothing is held any more.
    hygiene("run", "--once", at=T0 + timedelta(hours=1))
    sent = desktop.received(at_least=2)[1]
    assert sent.summary == "2 SSH keys have no passphrase"
    assert held_json(hygiene, T0 + timedelta(hours=1)) == []
    assert "Held" not in hygiene("status", at=T0 + timedelta(hours=1)).out


def test_quiet_hours_hold_a_notice_until_they_end(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    hygiene: Callable[..., Outcome],
) -> None:
    policy(machine, {"quiet_hours": "22:00-08:00"})
    make_key(machine.ssh / "id_ed25519")
    night = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)

    out = hygiene("run", "--once", at=night)
    assert "Held: 1 notice for quiet hours; it goes at 2026-11-21 08:00." in out.out
    assert desktop.received(timeout=1) == []
    (held,) = held_json(hygiene, night)
    assert held["held"] == {"reason": "quiet hours", "goes_at": "2026-11-21T08:00:00+00:00"}

    hygiene("run", "--once", at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    (got,) = desktop.received(at_least=1)
    assert got.summary == "An SSH key has no passphrase"


def test_the_running_agent_sends_a_held_notice_when_its_time_comes(
    machine: Machine,
    desktop: Desktop,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No check is due at 08:00 (each runs hourly on the wall clock): the hold alone wakes it.
    machine.keep_only()
    (machine.user_policies / "test.yaml").write_text(
        "schema: 1\nnotify: {quiet_hours: '22:00-08:00'}\nchecks:\n  counting: {every: 1h}\n"
    )
    (machine.home / "flag").write_text("")
    for key, value in desktop.env.items():
        monkeypatch.setenv(key, value)
    now = [datetime(2026, 11, 20, 23, 0, tzinfo=UTC)]
    paths = Paths.from_environment()
    bus = BusSession(desktop.env)
    with Store.open(paths.state) as store:
        agent = Agent(
            paths=paths,
            checks=CHECKS,
            policy=load_policy(paths, CHECKS),
            load=lambda: load_policy(paths, CHECKS, keep_going=True),
            store=store,
            backends=[bus],
            clock=lambda: now[0],
        )
        try:
            with caplog.at_level("INFO", logger="agent.scheduler"):
                agent.tick()
                assert [h.reason for h in store.held()] == ["quiet hours"]
                for job in agent.scheduler.jobs:
                    job.next_run = datetime.now()  # the check runs again: the hold is the same
                agent.tick()
            assert desktop.received(timeout=1) == []
            said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("held:")]
            assert said == ["held: The flag is there (counting, quiet hours); it goes at 08:00"]
            now[0] = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
            agent.tick()
            (got,) = wait_for("the held notice", lambda: desktop.received(timeout=0) or None, 5)
            assert got.summary == "The flag is there"
            assert store.held() == []
        finally:
            bus.close()
