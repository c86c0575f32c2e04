"""An admin policy's `exceptions:`: a finding the person is not told about until a date, with
the admin's reason. Real keys made by ssh-keygen, the real agent beside a real notification
server (dunst), the real sqlite3 shell reading the osquery report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from agent.cli import main
from tests.conftest import Machine, Outcome
from tests.desktop import Desktop, wait_for
from tests.test_agent_run import RunningAgent, arrived, start_agent, text_of
from tests.test_fleet import sql

__all__ = ["start_agent"]  # the running agent's fixture, shared with tests/test_agent_run.py

REASON = "the build robot's key, ticket IT-4411"


def exception(until: date, *, subject: str = "~/.ssh/ci_*", reason: str = REASON) -> str:
    return (
        "schema: 1\nname: acme\nrevision: 1\nexceptions:\n"
        f"  - {{check: ssh_keys, subject: '{subject}', until: {until.isoformat()}, "
        f'reason: "{reason}"}}\n'
    )


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        (
            f"{{check: ssh_keys, until: {(date.today() + timedelta(days=91)).isoformat()}, "
            "reason: r}",
            "an exception ends at most 90 days ahead",
        ),
        ("{check: ssh_keys, until: 2026-01-01}", "reason"),
        ("{check: ssh_keys, reason: r}", "until"),
        ("{check: nothing_like_it, until: 2026-01-01, reason: r}", "no check is called"),
        (
            "{check: ssh_keys, finding: 0123456789abcdef, subject: '~/x', until: 2026-01-01, "
            "reason: r}",
            "a finding or a subject pattern, not both",
        ),
        ("{check: ssh_keys, until: 2026-01-01, reason: ''}", "reason"),
        ("{check: ssh_keys, until: 2026-01-01, reason: '   '}", "not only spaces"),
        ("{check: ssh_keys, finding: nothex, until: 2026-01-01, reason: r}", "finding"),
    ],
)
def test_an_exception_needs_an_end_within_90_days_and_a_reason(
    machine: Machine, hygiene: Callable[..., Outcome], entry: str, said: str
) -> None:
    path = machine.admin_policies / "10-acme.yaml"
    path.write_text(f"schema: 1\nexceptions:\n  - {entry}\n")
    checked = hygiene("check", "--only", "ssh_keys")
    assert checked.code == 2
    assert str(path) in checked.err and said in checked.err, checked.err
    assert "Traceback" not in checked.err and len(checked.err.strip().splitlines()) == 1


def test_a_person_cannot_grant_themselves_an_exception(
    machine: Machine, hygiene: Callable[..., Outcome], make_key: Callable[..., Path]
) -> None:
    make_key(machine.ssh / "ci_robot")
    mine = machine.user_policies / "50-mine.yaml"
    mine.write_text(exception(date.today() + timedelta(days=10)))
    checked = hygiene("check", "--only", "ssh_keys", "--json")
    assert checked.code == 1
    (result,) = json.loads(checked.out)["results"]
    assert result["status"] == "fail" and result["excepted"] == []
    shown = hygiene("policy", "show")
    warned = f"{mine}: exceptions are only honoured in admin policy files; ignored here."
    assert warned in shown.err


def test_an_excepted_finding_is_shown_reported_and_never_notified(
    machine: Machine,
    desktop: Desktop,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
    hygiene_process: Callable[..., Outcome],
) -> None:
    until = date.today() + timedelta(days=30)
    (machine.admin_policies / "10-acme.yaml").write_text(exception(until))
    make_key(machine.ssh / "ci_robot")  # excepted
    agent = start_agent()
    agent.said("ssh_keys: skip")  # its one finding is excepted: nothing to tell
    make_key(machine.ssh / "id_ed25519")  # not excepted: told within seconds
    notice = arrived(desktop, "An SSH key has no passphrase")
    assert "~/.ssh/id_ed25519" in notice.text
    time.sleep(2)  # turns enough for a notice of ci_robot, if one were going to go
    assert not any("ci_robot" in n.text for n in desktop.received(timeout=0))

    words = f"excepted until {until.isoformat()} by your administrator: {REASON}"
    status = hygiene_process("status")
    assert status.code == 1  # id_ed25519 is failing
    assert "EXCEPTED ssh_keys  ~/.ssh/ci_robot" in status.out
    assert words in " ".join(status.out.split())
    data = json.loads(hygiene_process("status", "--json").out)
    assert [f["subject"] for f in data["failing"]] == ["~/.ssh/id_ed25519"]
    (excepted,) = data["excepted"]
    assert (excepted["subject"], excepted["until"], excepted["reason"]) == (
        "~/.ssh/ci_robot",
        until.isoformat(),
        REASON,
    )
    page = machine.state / "hygiene-agent" / "page.html"
    wait_for("the exception on the page", lambda: "excepted until" in text_of(page) or None, 5)

    db = machine.state / "hygiene-agent" / "report" / "hygiene.db"
    row = (
        "SELECT status, findings, excepted, excepted_until FROM hygiene WHERE check_id = 'ssh_keys'"
    )
    assert sql(db, row) == [
        {"status": "fail", "findings": 1, "excepted": 1, "excepted_until": until.isoformat()}
    ]
    (machine.ssh / "id_ed25519").unlink()  # fixed: only the excepted one is left
    wait_for(
        "the check skipped as excepted",
        lambda: (
            sql(db, "SELECT skip_reason FROM hygiene WHERE check_id = 'ssh_keys'")
            == [{"skip_reason": "excepted"}]
            or None
        ),
        10,
    )
    assert hygiene_process("status").code == 0  # nothing failing but what is excepted
    assert agent.stop()[0] == 0


def test_an_exception_lapses_by_itself(
    machine: Machine,
    make_key: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    today = datetime.now(UTC)
    (machine.admin_policies / "10-acme.yaml").write_text(exception(today.date()))
    machine.keep_only("ssh_keys")
    make_key(machine.ssh / "ci_robot")

    def hygiene(*argv: str, at: datetime) -> Outcome:
        capsys.readouterr()
        code = main(list(argv), clock=lambda: at)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    assert hygiene("run", "--once", at=today).code == 0
    quiet = hygiene("status", "--json", at=today)
    assert quiet.code == 0
    assert [f["subject"] for f in json.loads(quiet.out)["excepted"]] == ["~/.ssh/ci_robot"]

    two_days_on = today + timedelta(days=2)  # the exception ended yesterday
    ran = hygiene("run", "--once", at=two_days_on)
    assert "1 failing" in ran.out, ran.out
    told = hygiene("status", "--json", at=two_days_on)
    assert told.code == 1
    data = json.loads(told.out)
    assert data["excepted"] == []
    assert [f["subject"] for f in data["failing"]] == ["~/.ssh/ci_robot"]
    # Held or sent, it is a notice now: the log fallback or the grace period says which.
    history = json.loads(hygiene("notifications", "--json", at=two_days_on).out)
    assert any("ci_robot" in json.dumps(entry) for entry in history), history


def test_exceptions_for_other_checks_do_not_stop_check_only(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    # `hygiene check --only vpn` loads vpn alone; the policy still names ssh_keys.
    (machine.admin_policies / "10-acme.yaml").write_text(exception(date.today()))
    checked = hygiene("check", "--only", "vpn", "--json")
    assert checked.code in (0, 1), checked.err
    assert [r["check"] for r in json.loads(checked.out)["results"]] == ["vpn"]


def test_policy_show_lists_the_exceptions_in_force(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    until = date.today() + timedelta(days=3)
    (machine.admin_policies / "10-acme.yaml").write_text(exception(until))
    shown = hygiene("policy", "show")
    assert f"  - ssh_keys ~/.ssh/ci_* until {until.isoformat()}: {REASON}" in shown.out
    data = json.loads(hygiene("policy", "show", "--json").out)
    assert data["admin"]["exceptions"] == [
        {
            "check": "ssh_keys",
            "finding": None,
            "subject": "~/.ssh/ci_*",
            "until": until.isoformat(),
            "reason": REASON,
        }
    ]


def test_the_page_lists_an_excepted_finding_apart_and_offers_no_snooze(
    machine: Machine, hygiene: Callable[..., Outcome], make_key: Callable[..., Path]
) -> None:
    hostile = "build robot \u202ekey"
    (machine.admin_policies / "10-acme.yaml").write_text(
        exception(date.today() + timedelta(days=3), reason=hostile)
    )
    machine.keep_only("ssh_keys")
    make_key(machine.ssh / "ci_robot")
    assert hygiene("run", "--once").code == 0
    path = hygiene("page", "--print-path").out.strip()
    page = Path(path).read_text()
    assert "Problems (0)" in page
    start = page.index('id="excepted"')
    excepted = page[start : page.index("</section>", start)]
    assert "~/.ssh/ci_robot" in excepted
    assert "by your administrator: build robot \\u202ekey" in excepted
    assert "\u202e" not in page
    assert "Snooze" not in excepted and "End the snooze" not in excepted
