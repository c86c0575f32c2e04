"""Running a macOS command in the C locale and reading what it printed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["Answer", "Runner", "ask", "decode", "run_command"]

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[bytes]]


@dataclass(frozen=True)
class Answer:
    code: int
    out: str
    err: str


def run_command(
    argv: Sequence[str], timeout: float, home: str = ""
) -> subprocess.CompletedProcess[bytes]:
    """The command in the C locale with the system's PATH; HOME only when given (defaults
    finds the person's preferences through it)."""
    env = {"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    if home:
        env["HOME"] = home
    return subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False, env=env)


def ask(
    run: Runner, argv: Sequence[str], within: float, *, missing: str = "{} is not installed"
) -> Answer | str:
    """What a command printed, or why it gave no answer in one short clause. `within` is the
    runner's timeout, `missing` the clause for a program that is not there, with {} for its
    name."""
    name = PurePosixPath(argv[0]).name
    try:
        done = run(argv)
    except subprocess.TimeoutExpired:
        return f"{name} did not answer within {within} seconds"
    except FileNotFoundError:
        return missing.format(name)
    except OSError as err:  # refused (PermissionError), not executable
        return f"{name} could not be run ({err.strerror or err})"
    return Answer(done.returncode, decode(done.stdout), decode(done.stderr))


def decode(raw: bytes | str | None) -> str:
    """Output as text, bytes that are not UTF-8 replaced."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    return raw.decode("utf-8", errors="replace")
