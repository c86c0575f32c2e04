"""Recorded command outputs standing in for subprocess in the platform probes' tests."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

Answer = tuple[int, bytes, bytes] | OSError | subprocess.TimeoutExpired


def recorded(folder: Path, name: str) -> bytes:
    return (folder / name).read_bytes()


@dataclass
class Recorder:
    """Stands in for subprocess: answers each command line with a recorded output.

    A command it has no answer for fails the test: every command a probe runs is listed.
    """

    answers: dict[tuple[str, ...], Answer]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        key = tuple(argv)
        self.calls.append(key)
        if key not in self.answers:
            raise AssertionError(f"unexpected command: {key}")
        answer = self.answers[key]
        if isinstance(answer, BaseException):
            raise answer
        code, out, err = answer
        return subprocess.CompletedProcess(list(argv), code, out, err)
