"""The background agent's loop, turn by turn, in this process: cadence, clock jumps, hung
checks, policy reloads. The agent as a whole, with signals and a real notification server,
is in test_agent_run.py."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.checks import ALL_CHECKS
from agent.checks.base import Check, CheckContext, CheckParams
from agent.errors import AgentError
from agent.models import Finding, Severity
from agent.paths import Paths
from agent.policy import load_policy
from agent.scheduler import Agent, ClockWatch
from agent.store import Store
from tests.conftest import Machine, Outcome


class CountingParams(CheckParams):
    pass


class Counting(Check[CountingParams]):
    """Counts its runs; fails while `tests/flag` exists in the home, like a planted problem."""

    id = "counting"
    title = "Counting check"
    severity = Severity.high
    rationale = "a test check"
    advice = "Remove the flag."
    reads = ("one flag file",)
    keeps = "nothing"
    alert = "The flag is there"
    alert_many = "{n} flags"
    Params = CountingParams
    runs: ClassVar[list[float]] = []
    gate: ClassVar[threading.Event | None] = None
    broken: ClassVar[bool] = False

    def run(self, ctx: CheckContext) -> list[Finding]:
        type(self).runs.append(1)
        gate = type(self).gate
        if gate is not None:
            gate.wait(30)
        if type(self).broken:
            raise PermissionError(13, "Permission denied", str(ctx.paths.home / "flag"))
        flag = ctx.paths.home / "flag"
        if not flag.exists():
            return []
        return [
            self.finding(
                ctx,
                "~/flag",
                "present",
                "the flag is there",
                "Remove the flag.",
                notice="~/flag is there. Remove it: rm ~/flag",
            )
        ]


CHECKS: list[type[Check[Any]]] = [*ALL_CHECKS, Counting]


@pytest.fixture(autouse=True)
def fresh_counter() -> Iterator[None]:
    Counting.runs = []
    Counting.gate = None
    Counting.broken = False
    yield
    if Counting.gate is not None:
        Counting.gate.set()


def write_policy(machine: Machine, text: str, name: str = "test.yaml") -> Path:
    """A user policy, with the built-in checks off so that only the counting check runs."""
    machine.keep_only()
    path = machine.user_policies / name
    path.write_text("schema: 1\n" + text)
    return path


@pytest.fixture
def make_agent(machine: Machine) -> Iterator[Callable[..., Agent]]:
    stores: list[Store] = []

    def make(policy_text: str = "checks:\n  counting: {every: 1h}\n") -> Agent:
        write_policy(machine, policy_text)
        paths = Paths.from_environment()
        store = Store.open(paths.state)
        stores.append(store)
        return Agent(
            paths=paths,
            checks=CHECKS,
            policy=load_policy(paths, CHECKS),
            # Its checks are this file's, which the agent's policy child does not know.
            load=lambda: load_policy(paths, CHECKS, keep_going=True),
            store=store,
            backends=[],  # no desktop here: notices are logged and kept as not delivered
            poll_seconds=0,
        )

    yield make
    for store in stores:
        store.close()


def test_every_check_runs_once_at_start_then_at_its_own_pace(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent()
    agent.tick()
    agent.tick()
    assert len(Counting.runs) == 1
    (job,) = agent.scheduler.jobs
    assert job.interval == 3600
    idle = agent.scheduler.idle_seconds
    assert idle is not None and 3590 < idle <= 3600  # it sleeps until then, no polling


def test_a_job_overdue_by_many_intervals_runs_once(make_agent: Callable[..., Agent]) -> None:
    # What a suspend of ten hours, or the clock set ten hours ahead, looks like to schedule.
    agent = make_agent()
    agent.tick()
    (job,) = agent.scheduler.jobs
    assert job.next_run is not None
    job.next_run -= dt.timedelta(hours=10)
    agent.tick()
    agent.tick()
    assert len(Counting.runs) == 2
    assert job.next_run > dt.datetime.now() + dt.timedelta(minutes=59)


def test_a_clock_set_back_does_not_postpone_a_job_beyond_its_interval(
    make_agent: Callable[..., Agent],
) -> None:
    agent = make_agent()
    agent.tick()
    (job,) = agent.scheduler.jobs
    assert job.next_run is not None
    # The clock went back 10 hours: the next run now looks 11 hours away.
    job.next_run += dt.timedelta(hours=10)
    wall = [1_000_000.0]
    agent._clock_watch = ClockWatch(wall=lambda: wall[0], monotonic=lambda: 50.0)
    wall[0] -= 36_000
    agent.tick()
    agent.tick()
    assert len(Counting.runs) == 2
    assert job.next_run < dt.datetime.now() + dt.timedelta(hours=1, seconds=1)


def test_clock_watch_tells_a_jump_from_time_passing() -> None:
    wall, mono = [1000.0], [5.0]
    watch = ClockWatch(wall=lambda: wall[0], monotonic=lambda: mono[0], tolerance=30)
    wall[0] += 600
    mono[0] += 600
    assert watch.jump() is None  # ten minutes passed on both clocks
    wall[0] += 7200
    mono[0] += 1
    moved = watch.jump()
    assert moved is not None and 7198 < moved < 7200
    wall[0] -= 3600
    assert watch.jump() == -3600
    assert watch.jump() is None


def test_a_check_that_hangs_is_not_started_again_while_it_still_runs(
    make_agent: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    Counting.gate = threading.Event()
    agent = make_agent("checks:\n  counting: {every: 1s, timeout: 1s}\n")
    agent.tick()
    (job,) = agent.scheduler.jobs
    job.next_run = dt.datetime.now()
    agent.tick()
    assert len(Counting.runs) == 1
    said = [r.getMessage() for r in caplog.records if r.name == "agent.scheduler"]
    # The checks turned off are said once at the start (as skipped), then never run.
    said = [line for line in said if not line.endswith(": skip")]
    assert said == [
        "counting: error: did not finish within 1s",
        "counting: error: its previous run is still going after its timeout; not started again",
    ]
    Counting.gate.set()
    agent._abandoned["counting"].join(5)
    job.next_run = dt.datetime.now()
    agent.tick()
    assert len(Counting.runs) == 2


def test_a_changed_policy_is_applied_and_a_broken_one_refused_once(
    machine: Machine, make_agent: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent()
    agent.tick()
    write_policy(machine, "checks:\n  counting: {every: 2h}\n")
    agent.tick()
    (job,) = agent.scheduler.jobs
    assert job.interval == 7200
    assert len(Counting.runs) == 2  # its settings changed, so it ran again at once

    write_policy(machine, "checks:\n  counting: {every: soon}\n")
    caplog.clear()
    agent.tick()
    agent.tick()
    (job,) = agent.scheduler.jobs
    assert job.interval == 7200  # the last good policy is still in force
    refused = [
        r.getMessage()
        for r in caplog.records
        if r.name == "agent.scheduler" and "not applied" in r.getMessage()
    ]
    assert len(refused) == 1
    assert "test.yaml, line 3: checks.counting.every" in refused[0]
    assert refused[0].endswith("; its last good copy stays in force")
    said = [
        r.getMessage()
        for r in caplog.records
        if r.name == "agent.scheduler" and "checks.counting.every" in r.getMessage()
    ]
    assert said == refused  # said once, in one way (the notice aside)
    (notice,) = [n for n in agent.store.notifications() if n.check == "policy"]
    assert notice.title == "A policy file was not applied"
    assert "test.yaml, line 3: checks.counting.every" in notice.body
    assert notice.body.endswith(". Details: hygiene status") and len(notice.body) <= 200
    assert not notice.delivered  # no desktop here; it is in the history all the same

    write_policy(machine, "checks:\n  counting: {every: 3h}\n")
    agent.tick()
    (job,) = agent.scheduler.jobs
    assert job.interval == 10800


def test_results_and_notices_go_through_the_store(
    machine: Machine, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    agent.tick()
    (machine.home / "flag").touch()
    (job,) = agent.scheduler.jobs
    job.next_run = dt.datetime.now()
    agent.tick()
    (finding,) = agent.store.current(dt.datetime.now(dt.UTC))
    assert finding.subject == "~/flag"
    (notice,) = agent.store.notifications()
    assert notice.title == "The flag is there" and notice.backend == "log"
    assert not notice.delivered


def test_a_store_that_cannot_be_written_is_one_line_and_the_agent_goes_on(
    machine: Machine,
    make_agent: Callable[..., Agent],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = make_agent()

    def full(*args: object, **kwargs: object) -> None:
        raise AgentError("The store is full: no space left on the device.")

    monkeypatch.setattr(agent.store, "record_results", full)
    agent.tick()
    (line,) = [r.getMessage() for r in caplog.records if "store is full" in r.getMessage()]
    assert line == (
        "The store is full: no space left on the device; the results are checked again next time"
    )
    monkeypatch.undo()
    (job,) = agent.scheduler.jobs
    job.next_run = dt.datetime.now()
    (machine.home / "flag").touch()
    agent.tick()
    assert len(agent.store.current(dt.datetime.now(dt.UTC))) == 1


def test_an_unchanged_outcome_is_not_written_again(
    machine: Machine, make_agent: Callable[..., Agent]
) -> None:
    # A cheap check runs every few seconds; the disk should not hear of it each time.
    agent = make_agent("checks:\n  counting: {every: 1s}\n")
    agent.tick()
    folder = machine.state / "hygiene-agent"

    def written() -> dict[str, int]:
        return {
            p.name: p.stat().st_mtime_ns for p in folder.glob("store.db*") if "shm" not in p.name
        }

    before = written()
    (job,) = agent.scheduler.jobs
    job.next_run = dt.datetime.now()
    agent.tick()
    assert len(Counting.runs) == 2
    assert written() == before

    (machine.home / "flag").touch()
    job.next_run = dt.datetime.now()
    agent.tick()
    assert written() != before
    assert [f.subject for f in agent.store.current(dt.datetime.now(dt.UTC))] == ["~/flag"]


def test_status_says_when_a_check_could_not_run(
    machine: Machine, make_agent: Callable[..., Agent], hygiene: Callable[..., Outcome]
) -> None:
    Counting.broken = True
    agent = make_agent()
    agent.tick()
    shown = hygiene("status")
    assert shown.code == 1
    lines = shown.out.splitlines()
    assert lines[0].startswith("ERROR    counting  could not run at ")
    end = lines.index("")  # the blank line before the summary
    assert " ".join(line.strip() for line in lines[1:end]) == (
        f"permission denied ({machine.home / 'flag'})"
    )
    assert lines[end + 1] == (
        "Nothing else is failing, but 1 check could not run: the audit is incomplete."
    )
    data = json.loads(hygiene("status", "--json").out)
    assert data["audited"] is True
    assert [c["check"] for c in data["could_not_run"]] == ["counting"]


def test_an_unusable_state_folder_is_one_sentence_naming_it(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = machine.home / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    refused = hygiene("run")
    assert refused.code == 2
    assert refused.err == (
        f"hygiene: The state folder {blocker / 'hygiene-agent'} cannot be created or used: "
        "not a directory.\n"
    )


def test_a_page_that_cannot_be_written_is_said_once_and_the_agent_goes_on(
    machine: Machine, make_agent: Callable[..., Agent], caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent()
    page = agent.paths.state / "page.html"
    page.mkdir(parents=True)  # a folder where the page goes: no one can replace it
    (machine.home / "flag").touch()
    with caplog.at_level("INFO", logger="agent.scheduler"):
        for _ in range(5):
            agent.tick()
            for job in agent.scheduler.jobs:
                job.next_run = dt.datetime.now()  # the check runs each turn: findings come
    said = [r.getMessage() for r in caplog.records if "cannot write the page" in r.message]
    assert said == [f"cannot write the page {page}: is a directory; it is tried again each minute"]
    assert [f.subject for f in agent.store.current(dt.datetime.now(dt.UTC))] == ["~/flag"]
    page.rmdir()
    agent._page_retry = 0.0  # a minute later
    agent.tick()
    assert page.is_file()
    assert any("the page is written again" in r.getMessage() for r in caplog.records)
