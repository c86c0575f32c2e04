"""A store row damaged by hand, by a disk or by a bug (a time that is no time, a severity
that is none) is left out where it is read: every command still answers, and the agent
goes on and writes such a row afresh. Real processes on a real store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Machine, Outcome
from tests.desktop import Desktop

DAMAGE = {
    "held time": "UPDATE held SET goes_at = 'garbage'",
    "held time out of range": "UPDATE held SET since = '0001-01-01T00:00:00+14:00'",
    "notification time": "UPDATE notifications SET at = '2026-13-01T00:00:00+00:00'",
    "notification number": "UPDATE notifications SET server_id = 'abc'",
    "finding severity": "UPDATE findings SET severity = 'bogus'",
    "finding time": "UPDATE findings SET first_seen = 'garbage'",
    # Where a day added overflows the calendar.
    "finding at the calendar's end": (
        "UPDATE findings SET first_seen = '9999-12-31T23:59:59.999999+00:00'"
    ),
    "notification at the calendar's end": (
        "UPDATE notifications SET at = '9999-12-31T23:59:59.999999+00:00'"
    ),
    "check status": "UPDATE checks SET last_status = 'maybe'",
    "snooze time": "UPDATE snoozes SET until = 'soon'",
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_row_is_left_out_and_every_command_answers(
    machine: Machine,
    make_key: Callable[..., Path],
    hygiene_process: Callable[..., Outcome],
    desktop: Desktop,
    damage: str,
) -> None:
    env = {**machine.env(), **desktop.env}  # delivered notices count against the hour
    machine.keep_only("ssh_keys")
    # One notice an hour: the second key's notice is held, so the held table has a row.
    (machine.user_policies / "50-notify.yaml").write_text("schema: 1\nnotify: {max_per_hour: 1}\n")
    make_key(machine.ssh / "id_first")
    assert hygiene_process("run", "--once", env=env).code == 0
    make_key(machine.ssh / "id_second")
    assert hygiene_process("run", "--once", env=env).code == 0
    assert hygiene_process("snooze", "ssh_keys", "1h").code == 0
    store = machine.state / "hygiene-agent" / "store.db"
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM held").fetchone() == (1,)
        assert conn.execute(damage).rowcount >= 1

    for argv in (
        ["status"],
        ["status", "--json"],
        ["notifications"],
        ["notifications", "--json"],
        ["page", "--print-path"],
        ["run", "--once"],
        ["status"],
    ):
        done = hygiene_process(*argv, env=env)
        assert "Traceback" not in done.err, (argv, done.err)
        assert done.code in (0, 1), (argv, done.code, done.err)
        if "--json" in argv:
            json.loads(done.out)
