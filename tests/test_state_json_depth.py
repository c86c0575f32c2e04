"""A state file nested deeper than Python's JSON parser goes (a `[` repeated thousands of
times, from a damaged disk or a hostile hand) is damage like any other: every command says
at most one sentence and goes on, the agent starts, and nothing prints a traceback."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Machine, Outcome

DEEP = "[" * 5000

STATE_FILES = ["policy/state.json", "policy/pull-errors.json", "policy/rejected.json"]


@pytest.mark.parametrize("name", [*STATE_FILES, "snooze-limits.json"])
def test_a_state_file_nested_too_deeply_is_damage_not_a_traceback(
    machine: Machine, hygiene_process: Callable[..., Outcome], name: str
) -> None:
    machine.keep_only("ssh_keys")
    first = hygiene_process("run", "--once")
    assert first.code == 0, first.err
    state = machine.state / "hygiene-agent"
    (state / name).parent.mkdir(parents=True, exist_ok=True)
    (state / name).write_text(DEEP)
    for argv, codes in (
        (["status"], {0, 1}),
        (["policy", "show"], {0}),
        (["check"], {0, 1}),
        (["snooze", "ssh_keys", "1h"], {0}),
        (["run", "--once"], {0}),
    ):
        done = hygiene_process(*argv)
        shown = f"hygiene {' '.join(argv)} with a deep {name}"
        assert "Traceback" not in done.err, shown
        assert done.code in codes, f"{shown}: exit {done.code}: {done.err[-300:]}"
        assert len(done.err.splitlines()) <= 2, f"{shown}: {done.err[-300:]}"


def test_a_damaged_notification_row_is_still_listed(
    machine: Machine, hygiene_process: Callable[..., Outcome], make_key: Callable[..., Path]
) -> None:
    machine.keep_only("ssh_keys")
    make_key(machine.ssh / "id_ed25519")
    assert hygiene_process("run", "--once").code == 0
    store = machine.state / "hygiene-agent" / "store.db"
    with contextlib.closing(sqlite3.connect(store)) as db, db:
        assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] >= 1
        db.execute("UPDATE notifications SET finding_ids = ?", (DEEP,))
    for argv in (["notifications"], ["notifications", "--json"]):
        done = hygiene_process(*argv)
        assert (done.code, done.err) == (0, ""), done.err[-300:]
        assert "ssh_keys" in done.out
