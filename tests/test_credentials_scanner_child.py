"""The scanning child (python -I -m agent.credentials) holds secrets in memory while it reads:
it must never outlive what started it. Real processes throughout: `hygiene check` and
`hygiene run` as child processes, stopped or killed mid-scan, and the engine's cancel."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from agent.checks import ALL_CHECKS
from agent.checks.base import CheckContext
from agent.checks.credentials import CredentialsCheck
from agent.credentials import PARENT_ENV
from agent.engine import run_checks
from agent.fingerprint import Fingerprinter
from agent.paths import Paths
from agent.policy import load_policy
from tests.conftest import Machine
from tests.desktop import Desktop, wait_for

# Enough to grade for the scan to take about 3.7 s of the child's CPU here (one weak
# password per file took 0.7 s once the scanner got quicker, too close to the one second
# each test waits for); each test stops it a second into its reading.
FILES = 4000
LINES = 10
GONE = 3.0  # well under the scan's own length: the child was stopped, it did not finish


@pytest.fixture
def slow_home(machine: Machine) -> Machine:
    machine.keep_only("credentials")
    (machine.user_policies / "10-credentials.yaml").write_text(
        "schema: 1\nchecks:\n  credentials: "
        + json.dumps({"include_system": False, "project_roots": ["~/projects"]})
        + "\n"
    )
    for n in range(FILES):
        project = machine.home / "projects" / f"p{n}"
        project.mkdir(parents=True)
        lines = (f"DB_PASSWORD_{i}=hunter{n}x{i}\n" for i in range(LINES))
        (project / ".env").write_text("".join(lines))
    return machine


def scanners(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if "agent.credentials" in " ".join(_cmdline(c))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def running_scanner(pid: int, log: Path | None = None) -> psutil.Process:
    """The scanning child once it is reading files: a second of work done. (One stopped
    while it still reads its request ends anyway, at the end of its input.)"""

    def reading() -> psutil.Process | None:
        for child in scanners(pid):
            with contextlib.suppress(psutil.Error):
                if sum(child.cpu_times()[:2]) >= 1.0:
                    return child
        return None

    return wait_for("the scanning child to be a second into its reading", reading, 30, log)


def assert_gone(child: psutil.Process) -> None:
    def gone() -> bool | None:
        try:
            return child.status() == psutil.STATUS_ZOMBIE or None  # dead, not yet reaped
        except psutil.NoSuchProcess:
            return True

    wait_for(f"the scanning child {child.pid} to end", gone, GONE)


@pytest.fixture
def hygiene_command() -> list[str]:
    script = Path(sys.executable).with_name("hygiene")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent"]


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_the_child_dies_with_hygiene_check(
    slow_home: Machine,
    hygiene_command: list[str],
    started: list[subprocess.Popen[bytes]],
    signum: signal.Signals,
) -> None:
    check = subprocess.Popen(
        [*hygiene_command, "check", "--only", "credentials"],
        env=slow_home.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started.append(check)
    child = running_scanner(check.pid)
    check.send_signal(signum)
    check.wait(10)
    assert_gone(child)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_the_child_dies_with_the_agent(
    slow_home: Machine,
    desktop: Desktop,
    hygiene_command: list[str],
    started: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    with (tmp_path / "agent.log").open("wb") as log:
        agent = subprocess.Popen(
            [*hygiene_command, "run"], env={**slow_home.env(), **desktop.env}, stderr=log
        )
    started.append(agent)
    child = running_scanner(agent.pid, tmp_path / "agent.log")
    agent.send_signal(signum)
    code = agent.wait(10)
    assert_gone(child)
    if signum == signal.SIGTERM:
        assert code == 0
        assert "Traceback" not in (tmp_path / "agent.log").read_text(errors="replace")


def test_a_cancelled_check_kills_its_child_while_the_parent_lives(slow_home: Machine) -> None:
    # This process stays: the child ends because the check killed it, not with its parent.
    paths = Paths.from_environment()
    policy = load_policy(paths, ALL_CHECKS)
    ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state))
    cancel = threading.Event()
    results: list[object] = []
    runner = threading.Thread(
        target=lambda: results.extend(run_checks(policy, [CredentialsCheck], ctx, cancel=cancel))
    )
    runner.start()
    child = running_scanner(os.getpid())
    cancel.set()
    runner.join(10)
    assert_gone(child)
    (result,) = results
    assert getattr(result, "error", None) == "stopped before it finished"


def test_a_child_whose_parent_is_gone_reads_nothing(tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text("machine a.example login ann password hunter2\n")
    request = {"home": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-I", "-m", "agent.credentials"],
        input=json.dumps(request).encode(),
        capture_output=True,
        env={**os.environ, "HOME": str(tmp_path), PARENT_ENV: "1"},  # not its parent
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stdout) == (1, b"")
    # With its real parent named, it reads as before.
    done = subprocess.run(
        [sys.executable, "-I", "-m", "agent.credentials"],
        input=json.dumps(request).encode(),
        capture_output=True,
        env={**os.environ, "HOME": str(tmp_path), PARENT_ENV: str(os.getpid())},
        timeout=30,
        check=False,
    )
    assert done.returncode == 0
    assert str(tmp_path / ".netrc") in json.loads(done.stdout)["files"]
