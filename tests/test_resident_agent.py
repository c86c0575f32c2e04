"""What the resident agent's process holds: the code that reads and grades secrets stays in
the short-lived scanner, and signature checking stays out while no admin source is pulled.

Read from the running process itself (/proc/PID/maps: the native libraries it has loaded),
after the credentials check has really graded a weak password.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import psutil

from tests.conftest import Machine
from tests.desktop import Desktop, wait_for
from tests.test_agent_run import agents


def mapped_files(pid: int) -> set[str]:
    files = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            files.add(parts[5])
    return files


def test_the_resident_agent_never_loads_the_password_grading_or_signature_code(
    machine: Machine, desktop: Desktop, tmp_path: Path
) -> None:
    netrc = machine.home / ".netrc"
    netrc.write_text("machine mail.example.com login ann password sunshine\n")
    netrc.chmod(0o600)
    machine.keep_only("credentials")
    with agents(tmp_path) as launch:
        agent = launch({**machine.env(), **desktop.env})
        agent.said("credentials: appeared", timeout=30)  # the scanner graded "sunshine"
        loaded = mapped_files(agent.process.pid)
        code, _ = agent.stop()
    assert code == 0
    assert any("python" in Path(f).name for f in loaded)  # the map was read, not empty
    assert not [f for f in loaded if "zxcvbn" in f]  # the grading library: scanner only
    assert not [f for f in loaded if "cryptography" in f]  # no signed source to check


def test_the_resident_agent_reads_its_policy_apart_and_keeps_no_validator(
    machine: Machine, desktop: Desktop, tmp_path: Path
) -> None:
    machine.keep_only("vpn")
    changed = machine.user_policies / "10-vpn.yaml"
    with agents(tmp_path) as launch:
        agent = launch({**machine.env(), **desktop.env})
        agent.said("vpn:", timeout=30)
        # A change it applies, then one it refuses: both read and judged by its child.
        changed.write_text("schema: 1\nchecks:\n  vpn: {require: never}\n")
        agent.process.send_signal(signal.SIGHUP)
        agent.said("policy loaded: default, revision 1 (vpn changed)", timeout=30)
        changed.write_text("schema: 1\nchecks:\n  vpn: {require: sometimes}\n")
        agent.process.send_signal(signal.SIGHUP)
        refused = agent.said("was not applied as written", timeout=30)
        loaded = mapped_files(agent.process.pid)
        code, _ = agent.stop()
    assert code == 0
    assert "checks.vpn.require" in refused and "last good copy stays in force" in refused
    assert any("python" in Path(f).name for f in loaded)
    # pydantic's core and the YAML reader: only ever in the short-lived policy reader.
    assert not [f for f in loaded if "pydantic_core" in f or "/yaml/" in f]


def policy_readers(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "agent.policy_child" in child.cmdline():
                found.append(child)
    return found


def test_a_hung_policy_reader_does_not_hold_up_a_stop(
    machine: Machine, desktop: Desktop, tmp_path: Path
) -> None:
    # A reader stopped in its tracks (SIGSTOP: as a reader stuck on a huge folder would
    # be) must not keep the agent from stopping, nor outlive it.
    machine.keep_only("vpn")
    with agents(tmp_path) as launch:
        agent = launch({**machine.env(), **desktop.env})
        agent.said("vpn:", timeout=30)
        (machine.user_policies / "10-vpn.yaml").write_text(
            "schema: 1\nchecks:\n  vpn: {require: never}\n"
        )
        agent.process.send_signal(signal.SIGHUP)
        pid = agent.process.pid
        reader = wait_for("the policy reader", lambda: next(iter(policy_readers(pid)), None), 10)
        reader.suspend()
        code, took = agent.stop()
        said = agent.log()
    assert code == 0
    assert took < 3, f"the agent took {took:.1f} s to stop"
    assert not reader.is_running() or reader.status() == psutil.STATUS_ZOMBIE
    # Stopped while reading is no refusal: nothing said of the policy, no notice of it.
    assert "not applied" not in said, said
