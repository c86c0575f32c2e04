"""Running a Windows console program and reading what it printed in the OEM code page."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PureWindowsPath

__all__ = ["CONSOLE_ENCODING", "Answer", "Runner", "ask", "decode", "run_command"]

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[bytes]]

# The code page console programs write to a pipe in. "oem" exists only on Windows, where
# Python maps it to the console's OEM code page (cp437, cp850, cp866, 65001, ...).
CONSOLE_ENCODING = "oem" if sys.platform == "win32" else "cp437"


@dataclass(frozen=True)
class Answer:
    code: int
    out: str


def run_command(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    """The command, with no shell and no console window."""
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    return subprocess.run(
        list(argv),
        capture_output=True,
        timeout=timeout,
        check=False,
        creationflags=flags,
    )


def ask(
    run: Runner,
    argv: Sequence[str],
    encoding: str,
    within: float,
    *,
    missing: str = "{} was not found",
    with_stderr: bool = False,
) -> Answer | str:
    """What a command printed (stdout, then stderr when `with_stderr`), or why it gave no
    answer in one short clause. `within` is the runner's timeout, `missing` the clause for a
    program that is not there, with {} for its name."""
    name = PureWindowsPath(argv[0]).name
    try:
        done = run(argv)
    except subprocess.TimeoutExpired:
        return f"{name} did not answer within {within} seconds"
    except FileNotFoundError:
        return missing.format(name)
    except OSError as err:  # refused, blocked by an application control policy
        return f"{name} could not be run ({err.strerror or err})"
    out = decode(done.stdout, encoding)
    if with_stderr:
        out += decode(done.stderr, encoding)
    return Answer(done.returncode, out)


def decode(raw: bytes | str | None, encoding: str) -> str:
    """Output as text, bytes no code page holds replaced."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode(encoding, errors="replace")
    except LookupError:  # "oem" asked for where it does not exist
        return raw.decode("cp437", errors="replace")
