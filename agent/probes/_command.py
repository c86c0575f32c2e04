"""Running a system tool with its time and its output bounded: the updates probes ask package
managers, which can hang on a lock or print without end."""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

__all__ = ["Answer", "ask"]


@dataclass(frozen=True)
class Answer:
    code: int
    out: str


def ask(argv: Sequence[str], env: Mapping[str, str], *, timeout: float, limit: int) -> Answer | str:
    """What `argv` printed on its standard output (decoded as UTF-8, bad bytes replaced) and
    its exit status; or why there is no answer, as one short clause. The program is stopped
    once it has run `timeout` seconds or printed more than `limit` bytes. Its standard error
    is not read: a tool's messages may quote what it read."""
    name = PurePath(argv[0]).name
    try:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(env),
        )
    except FileNotFoundError:
        return f"{name} is not installed"
    except OSError as err:
        return f"{name} could not be started ({(err.strerror or str(err)).lower()})"
    stdout = child.stdout
    if stdout is None:  # stdout=PIPE always gives one; for mypy
        child.kill()
        return f"{name} gave no output to read"
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + timeout
    problem = None
    with child, selectors.DefaultSelector() as waiting:
        waiting.register(stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f"{name} did not answer within {timeout:g} seconds"
                break
            if not waiting.select(left):
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                problem = f"{name} printed more than {limit // 1024} KiB"
                break
            chunks.append(chunk)
        if problem is not None:
            child.kill()
        try:
            code = child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            problem = problem or f"{name} did not answer within {timeout:g} seconds"
            code = -1
    if problem is not None:
        return problem
    return Answer(code, b"".join(chunks).decode("utf-8", errors="replace"))
