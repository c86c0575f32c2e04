"""Step 2 end to end: `hygiene run --once` audits, remembers, decides and notifies through a
real dunst on a private session bus; what arrived is read from dunst, not from our code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Machine, Outcome
from tests.desktop import Desktop

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def agent(machine: Machine, at_desktop: Callable[..., Outcome]) -> Callable[..., Outcome]:
    """`hygiene ARGS` in this process, on the test's desktop, at T0 unless told otherwise.

    Only ssh_keys runs: who is signed in to the machine running the tests is not theirs.
    """
    machine.keep_only("ssh_keys")

    def run(*argv: str, at: datetime = T0) -> Outcome:
        return at_desktop(*argv, at=at)

    return run


def history(agent: Callable[..., Outcome], at: datetime = T0) -> list[dict[str, Any]]:
    outcome = agent("notifications", "--json", at=at)
    assert outcome.code == 0, outcome.err
    records: list[dict[str, Any]] = json.loads(outcome.out)
    return records


def test_a_failing_key_makes_one_notification_then_reminds_on_time(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],
) -> None:
    make_key(machine.ssh / "id_ed25519")
    first = agent("run", "--once")
    assert first.code == 0, first.err
    (got,) = desktop.received(at_least=1)
    assert got.summary == "An SSH key has no passphrase"
    assert got.body_text == (
        "~/.ssh/id_ed25519 has no passphrase. Add one: ssh-keygen -p -f ~/.ssh/id_ed25519"
    )
    assert (got.urgency, got.appname) == ("normal", "hygiene-agent")  # ssh_keys is high

    agent("run", "--once", at=T0 + timedelta(hours=3, minutes=59))
    assert desktop.received() == [got], "a reminder came inside the 4h interval"

    agent("run", "--once", at=T0 + timedelta(hours=4))
    reminder = desktop.received(at_least=2)[1]
    assert reminder.summary == got.summary
    assert reminder.replaces_id == got.id  # updated in place, not stacked

    records = history(agent)
    assert [(r["kind"], r["delivered"], r["backend"]) for r in records] == [
        ("reminder", True, "bus"),
        ("new", True, "bus"),
    ]


def test_a_check_turned_off_is_not_reminded_about(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],
) -> None:
    make_key(machine.ssh / "id_ed25519")
    agent("run", "--once")
    assert len(desktop.received(at_least=1)) == 1
    (machine.user_policies / "off.yaml").write_text(
        "schema: 1\nchecks:\n  ssh_keys: {enabled: false}\n"
    )
    agent("run", "--once", at=T0 + timedelta(days=2))
    assert len(desktop.received()) == 1, "reminded about a check the policy turned off"
    assert [r["kind"] for r in history(agent)] == ["new"]


def test_findings_of_one_check_are_one_notification(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],
) -> None:
    for name in ("a", "b", "c"):
        make_key(machine.ssh / f"id_{name}")
    agent("run", "--once")
    (got,) = desktop.received(at_least=1)
    assert got.summary == "3 SSH keys have no passphrase"
    assert got.body_text == (
        "3 problems: ~/.ssh/id_a, ~/.ssh/id_b and ~/.ssh/id_c. For what to do: hygiene status"
    )


def test_snooze_silences_until_it_ends_and_a_fix_is_thanked(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],
    ssh_keygen: str,
) -> None:
    key = make_key(machine.ssh / "id_ed25519")
    agent("run", "--once")
    assert len(desktop.received(at_least=1)) == 1

    snoozed = agent("snooze", "ssh_keys", "1d", at=T0 + timedelta(minutes=1))
    assert snoozed.code == 0, snoozed.err
    assert snoozed.out.startswith("ssh_keys is snoozed until ")
    agent("run", "--once", at=T0 + timedelta(hours=5))
    assert len(desktop.received()) == 1, "a snoozed check was notified"
    status = json.loads(agent("status", "--json", at=T0 + timedelta(hours=5)).out)
    assert status["failing"][0]["snoozed_until"] is not None

    agent("run", "--once", at=T0 + timedelta(days=1, minutes=2))
    assert len(desktop.received(at_least=2)) == 2, "the snooze did not end"

    subprocess.run(
        [ssh_keygen, "-q", "-p", "-N", "correct horse", "-P", "", "-f", str(key)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    agent("run", "--once", at=T0 + timedelta(days=1, minutes=3))
    thanks = desktop.received(at_least=3)[2]
    assert (thanks.summary, thanks.body_text) == ("Fixed, thank you", "~/.ssh/id_ed25519 is fixed.")
    assert thanks.actions == ()
    status = agent("status", at=T0 + timedelta(days=1, minutes=4))
    assert status.code == 0
    assert status.out.startswith("Nothing is failing.\nResults last recorded 1 minute ago")
    assert "no agent is running, so they may be out of date" in " ".join(status.out.split())


def test_snooze_longer_than_the_policy_allows_is_refused(
    machine: Machine, agent: Callable[..., Outcome]
) -> None:
    outcome = agent("snooze", "ssh_keys", "30d")
    assert outcome.code == 2
    assert outcome.err == (
        "hygiene: a snooze may last at most 7d (the policy's notify.max_snooze)\n"
    )
    assert agent("snooze", "no_such_thing", "1d").code == 2
    assert agent("snooze", "ssh_keys", "soon").code == 2


def test_undelivered_without_a_server_then_delivered_when_it_is_back(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],
) -> None:
    make_key(machine.ssh / "id_ed25519")
    desktop.stop_server()
    outcome = agent("run", "--once")
    assert outcome.code == 0
    assert outcome.err.count("\n") == 1
    assert outcome.err.startswith(
        "hygiene: warning: notification not shown (No notification server is running"
    )
    (record,) = history(agent)
    assert record["delivered"] is False
    assert record["reason"] == "No notification server is running on the session bus."
    assert "NOT delivered" in agent("notifications").out

    desktop.start_server()
    agent("run", "--once", at=T0 + timedelta(minutes=1))
    (got,) = desktop.received(at_least=1)
    assert got.summary == "An SSH key has no passphrase"
    assert [r["delivered"] for r in history(agent)] == [True, False]


def test_a_hostile_file_name_arrives_as_written(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],
) -> None:
    name = '-rf "quoted" <b>bold<i> & é 日本 🔑'
    make_key(machine.ssh / name)
    agent("run", "--once")
    (got,) = desktop.received(at_least=1)
    assert got.body_text.startswith(f"~/.ssh/{name} has no passphrase")


def test_status_lists_what_fails_with_advice_and_id(
    machine: Machine, make_key: Callable[..., Path], agent: Callable[..., Outcome]
) -> None:
    never = agent("status")
    assert never.code == 1  # not audited yet is not a clean bill of health
    assert never.out.startswith("The agent has not audited this computer yet: `hygiene run`")
    make_key(machine.ssh / "id_rsa", "rsa", bits=1024)
    agent("run", "--once")
    outcome = agent("status", at=T0 + timedelta(hours=2))
    assert outcome.code == 1
    assert "HIGH     ssh_keys  ~/.ssh/id_rsa  (failing for 2 hours)" in outcome.out
    failing = json.loads(agent("status", "--json").out)["failing"]
    assert {f["evidence"] if "evidence" in f else f["subject"] for f in failing} == {
        "~/.ssh/id_rsa"
    }
    ids = [f["id"] for f in failing]
    assert agent("snooze", ids[0], "2h").code == 0
    assert agent("unsnooze", ids[0]).out == f"{ids[0]} is no longer snoozed.\n"


def test_run_once_as_a_process_delivers(
    machine: Machine, make_key: Callable[..., Path], desktop: Desktop
) -> None:
    make_key(machine.ssh / "id_ed25519")
    machine.keep_only("ssh_keys")  # who is signed in here is not this test's business
    env = {**machine.env(), **desktop.env}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("hygiene")), "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("Audited 13 checks: 1 failing (1 finding). Sent 1 of 1 notifications.\n")
    assert desktop.received(at_least=1)[0].summary == "An SSH key has no passphrase"


def test_canary_never_reaches_the_store_the_notifications_or_output(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.test_privacy import PASSPHRASE, kept_on_disk, secret_fragments

    caplog.set_level("DEBUG")
    keys = [
        make_key(machine.ssh / "id_canary", "rsa", bits=1024, passphrase=PASSPHRASE),
        make_key(machine.ssh / "id_plain_canary"),
    ]
    outputs = []
    for step, argv in enumerate(
        (
            ("run", "--once"),
            ("status",),
            ("status", "--json"),
            ("notifications", "--json"),
            ("-v", "run", "--once"),
        )
    ):
        outcome = agent(*argv, at=T0 + timedelta(hours=5 * step))
        outputs += [outcome.out, outcome.err]
    shown = desktop.received(at_least=2)
    outputs += [f"{n.summary}\n{n.body}\n{n.text}" for n in shown]
    outputs.append(caplog.text)
    outputs += kept_on_disk(machine.state)
    everything = "\n".join(outputs)
    assert "id_canary" in everything  # audited and told about
    assert PASSPHRASE not in everything
    for key in keys:
        for fragment in secret_fragments(key):
            assert fragment not in everything, f"a piece of {key.name} leaked"
