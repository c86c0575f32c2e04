"""Shared fixtures: an isolated home, state and policy folders, and real tools."""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from agent.cli import main
from tests.tools import LIBRARIES, TOOLS

if TYPE_CHECKING:
    from tests.desktop import Desktop

pytest_plugins = ["tests.desktop", "tests.browsers", "tests.logins", "tests.netns", "tests.notices"]


def missing_component(message: str) -> NoReturn:
    """Skip a test whose real component is missing, or fail it when HYGIENE_REQUIRE_REAL=1
    (CI), so that a missing component cannot hide."""
    if os.environ.get("HYGIENE_REQUIRE_REAL") == "1":
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of a real tool named in tests/tools.py (so tests/run.sh is known to install it)."""
    if name not in TOOLS:
        pytest.fail(f"{name} is not in tests/tools.py; add it with its Debian package")
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path:
        return path
    missing_component(f"{name} is not installed (tests/run.sh installs {TOOLS[name]})")


def require_library(name: str) -> str:
    """The file of a shared library named in tests/tools.py, for ctypes."""
    if name not in LIBRARIES:
        pytest.fail(f"lib{name} is not in tests/tools.py; add it with its Debian package")
    found = ctypes.util.find_library(name)
    if found:
        return found
    missing_component(f"lib{name} is not installed (tests/run.sh installs {LIBRARIES[name]})")


def require_root(why: str) -> None:
    """Go on only as root (CI runs as root)."""
    if os.geteuid() != 0:
        missing_component(f"{why}; CI runs as root")


def as_nobody(attempt: Callable[[], str]) -> str:
    """What `attempt` returns when run by an unprivileged user: root reads anything, so as
    root it runs in a forked child that has become nobody (65534) first."""
    if os.geteuid() != 0:
        return attempt()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, attempt().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    os.waitpid(pid, 0)
    return said


@dataclass
class Machine:
    """A person's machine as the agent sees it, all inside a temporary folder."""

    home: Path
    config: Path
    state: Path
    admin: Path

    @classmethod
    def at(cls, root: Path) -> Machine:
        """A machine whose home, config, state and admin folders are under `root`."""
        machine = cls(
            home=root / "home",
            config=root / "home" / ".config",
            state=root / "home" / ".local" / "state",
            admin=root / "etc" / "hygiene-agent",
        )
        machine.home.mkdir()
        return machine

    @property
    def ssh(self) -> Path:
        path = self.home / ".ssh"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    @property
    def user_policies(self) -> Path:
        path = self.config / "hygiene-agent" / "policies.d"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def admin_policies(self) -> Path:
        path = self.admin / "policies.d"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def keep_only(self, *check_ids: str) -> None:
        """A user policy that turns off every built-in check but these."""
        from agent.checks import ALL_CHECKS

        off = [c.id for c in ALL_CHECKS if c.id not in check_ids]
        lines = "".join(f"  {check_id}: {{enabled: false}}\n" for check_id in off)
        (self.user_policies / "00-tests-keep-only.yaml").write_text(f"schema: 1\nchecks:\n{lines}")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "HYGIENE_"))}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.config),
            XDG_STATE_HOME=str(self.state),
            HYGIENE_ADMIN_DIR=str(self.admin),
        )
        return env


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    m = Machine.at(tmp_path)
    for key in list(os.environ):
        if key.startswith(("XDG_", "HYGIENE_")) and key != "HYGIENE_REQUIRE_REAL":
            monkeypatch.delenv(key)
    for key, value in m.env().items():
        monkeypatch.setenv(key, value)
    return m


def token_page(state: Path) -> str:
    """A page as `hygiene page` writes it, as far as its links go: its token, which no link
    of an earlier page carries."""
    from agent import links

    state.mkdir(parents=True, exist_ok=True)
    token = links.new_token()
    head = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    (state / links.PAGE_FILE).write_text(f"{head}{links.token_meta(token)}\n</head></html>\n")
    return token


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def hygiene(machine: Machine, capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """Run the `hygiene` command in this process, as a user would type it."""

    def run(*argv: str) -> Outcome:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse usage errors and --help
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def run_hygiene(argv: Sequence[str], env: dict[str, str]) -> Outcome:
    """The installed `hygiene` console script, run in a child process with `env`."""
    script = Path(sys.executable).with_name("hygiene")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "agent"]
    done = subprocess.run(
        [*command, *argv], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def at_desktop(
    machine: Machine,
    desktop: Desktop,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Outcome]:
    """`hygiene ARGS` in this process, on the test's desktop (a real dunst), at a moment the
    test chooses: `at_desktop("run", "--once", at=T0)`."""
    for key, value in desktop.env.items():
        monkeypatch.setenv(key, value)

    def run(*argv: str, at: datetime) -> Outcome:
        capsys.readouterr()
        code = main(list(argv), clock=lambda: at)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def local_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC, so that a test can name the times the agent prints."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def hygiene_process(machine: Machine) -> Callable[..., Outcome]:
    """Run the installed `hygiene` console script in a child process."""

    def run(*argv: str, env: dict[str, str] | None = None) -> Outcome:
        return run_hygiene(argv, env or machine.env())

    return run


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as the wheel a person installs, once per test session."""
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = wheels.glob("hygiene_agent-*.whl")
    return built


@pytest.fixture(scope="session")
def ssh_keygen() -> str:
    return require_tool("ssh-keygen")


@pytest.fixture
def make_key(ssh_keygen: str) -> Iterator[Callable[..., Path]]:
    """Make a private key with the real ssh-keygen, as a person would."""

    def make(
        path: Path,
        key_type: str = "ed25519",
        *,
        bits: int | None = None,
        passphrase: str = "",
        fmt: str | None = None,
    ) -> Path:
        argv = [ssh_keygen, "-q", "-t", key_type, "-N", passphrase, "-C", "test", "-f", str(path)]
        if bits:
            argv += ["-b", str(bits)]
        if fmt:
            argv += ["-m", fmt]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
        return path

    yield make
