"""The install key is written whole or not at all, and a damaged one is replaced once.

Killing `hygiene check` right after install.key appeared once left an empty file, and from
then on every command died with a RecursionError. Here real processes are killed with
SIGKILL at moments chosen around the key's creation, real processes race to create it,
and a key of the wrong size is left for the real command to find.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.fingerprint import KEY_BYTES, KEY_FILE, Fingerprinter
from tests.conftest import Machine, Outcome

# A process that makes (or reads) the key, after waiting for a "go" file when given one,
# and prints the id it gives a fixed finding.
MAKE_KEY = """
import os, sys, time
from pathlib import Path
from agent.fingerprint import Fingerprinter
state, go = Path(sys.argv[1]), sys.argv[2]
while go != "-" and not os.path.exists(go):
    time.sleep(0.0002)
made = Fingerprinter.for_state_dir(state)
print(made("ssh_keys", "~/.ssh/id_rsa"), made.persistent)
"""
TRIES = 80


def start(state: Path, go: str = "-") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", MAKE_KEY, str(state), go],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def key_of(state: Path) -> bytes | None:
    try:
        return (state / KEY_FILE).read_bytes()
    except FileNotFoundError:
        return None


def test_sigkill_around_key_creation_never_leaves_a_partial_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The kill comes a moment after the state folder appears (the key is made just after):
    # the moment is moved toward the edge after each try, so that kills land before, while
    # and after the key is published.
    delay = 0.002
    before = after = 0
    for attempt in range(TRIES):
        state = tmp_path / f"state-{attempt}"
        child = start(state)
        deadline = time.monotonic() + 10
        while not state.exists() and child.poll() is None and time.monotonic() < deadline:
            pass
        time.sleep(random.uniform(0, delay))  # noqa: S311 - a moment, not a secret
        child.send_signal(signal.SIGKILL)
        child.communicate()
        key = key_of(state)
        assert key is None or len(key) == KEY_BYTES, f"try {attempt}: {len(key)} bytes"
        if key is None:
            before += 1
            delay *= 1.5
        else:
            after += 1
            delay /= 1.5
    print(f"{TRIES} kills: {before} before the key was published, {after} after")
    assert before and after, "the kills never landed on both sides of the key's creation"

    caplog.set_level("WARNING")
    states = sorted(tmp_path.glob("state-*"))
    for state in states:
        kept = key_of(state)
        made = Fingerprinter.for_state_dir(state)
        assert made.persistent
        assert kept is None or key_of(state) == kept  # a whole key is used as it is
        assert len(key_of(state) or b"") == KEY_BYTES
    assert caplog.records == []  # no key was damaged, so none was replaced


def test_the_command_works_after_being_killed_during_key_creation(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    state = machine.state / "hygiene-agent"
    for _ in range(10):
        child = start(state)
        while not state.exists() and child.poll() is None:
            pass
        child.send_signal(signal.SIGKILL)
        child.communicate()
        if key_of(state) is None:
            break
    machine.keep_only("ssh_keys")
    outcome = hygiene_process("check")
    assert outcome.code in (0, 1), outcome.err
    assert outcome.err == ""
    assert len(key_of(state) or b"") == KEY_BYTES


@pytest.mark.parametrize("damaged", [b"", b"short", b"x" * (KEY_BYTES + 1), b"y" * 4096])
def test_a_key_of_the_wrong_size_is_replaced_with_one_warning(
    machine: Machine, hygiene_process: Callable[..., Outcome], damaged: bytes
) -> None:
    state = machine.state / "hygiene-agent"
    state.mkdir(parents=True, mode=0o700)
    (state / KEY_FILE).write_bytes(damaged)
    machine.keep_only("ssh_keys")
    first = hygiene_process("check")
    assert first.code in (0, 1), first.err
    warnings = first.err.strip().splitlines()
    assert len(warnings) == 1, first.err
    assert "finding ids will change" in warnings[0]
    assert "Traceback" not in first.err
    key = key_of(state)
    assert key is not None and len(key) == KEY_BYTES
    assert (state / KEY_FILE).stat().st_mode & 0o777 == 0o600
    again = hygiene_process("check")
    assert again.err == ""  # said once: the new key is whole
    assert key_of(state) == key


def test_processes_racing_to_create_the_key_agree_on_one(tmp_path: Path) -> None:
    for round_ in range(10):
        state = tmp_path / f"state-{round_}"
        go = tmp_path / f"go-{round_}"
        children = [start(state, str(go)) for _ in range(6)]
        time.sleep(0.3)  # all started and waiting
        go.touch()
        said = [child.communicate(timeout=60) for child in children]
        ids = {out.strip() for out, _ in said}
        assert len(ids) == 1, (ids, [err for _, err in said])
        (only,) = ids
        assert only.endswith(" True")
        assert len(key_of(state) or b"") == KEY_BYTES
        assert not list(state.glob(f".{KEY_FILE}.*")), "a temporary was left behind"
        assert [p.name for p in state.iterdir()] == [KEY_FILE]
