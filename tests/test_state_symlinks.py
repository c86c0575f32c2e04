"""A symbolic link put where the agent keeps a state file it writes is refused, never followed:
following it would truncate or append to whatever it points at (a file of the person's,
or, for an agent started by an admin, any file at all)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Machine, Outcome

PRECIOUS = b"the person's own words\n"


def test_a_symlink_at_the_lock_file_is_refused(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    machine.keep_only("ssh_keys")
    precious = tmp_path / "precious"
    precious.write_bytes(PRECIOUS)
    state = machine.state / "hygiene-agent"
    state.mkdir(parents=True, mode=0o700)
    (state / "agent.lock").symlink_to(precious)
    for argv in (("run", "--once"), ("run",)):
        said = hygiene_process(*argv)
        assert said.code == 2
        assert said.out == ""
        assert said.err == (
            f"hygiene: The lock file {state / 'agent.lock'} is a symbolic link; remove it "
            "and the agent makes its own.\n"
        )
    assert precious.read_bytes() == PRECIOUS
    assert (state / "agent.lock").is_symlink()
    # status reads who holds the lock: a link is nobody, and nothing is written through it.
    assert hygiene_process("status").code == 1
    assert precious.read_bytes() == PRECIOUS


def test_a_symlink_at_the_event_log_is_refused(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    machine.keep_only("ssh_keys")
    precious = tmp_path / "precious"
    precious.write_bytes(PRECIOUS)
    report = machine.state / "hygiene-agent" / "report"
    report.mkdir(parents=True, mode=0o700)
    (report / "events.jsonl").symlink_to(precious)
    said = hygiene_process("run", "--once")
    assert said.code == 0  # the audit ran; the one output that could not be written is named
    assert said.err == (
        f"hygiene: Cannot append to the event log {report / 'events.jsonl'}: it is a symbolic "
        "link, not a file.\n"
    )
    assert precious.read_bytes() == PRECIOUS
    assert (report / "hygiene.db").is_file()  # the other outputs were written
