"""The scanning child's imports: only the parsers of the formats it finds, and nothing of the
resident agent's (pydantic, the policy, the checks). The real child, started by the real check
on a home with a few credential files, under `python -X importtime`: the interpreter itself
writes every import it makes to stderr, so the child needs no test-only way to report them
(and never prints anything but its JSON answer: the check reads that)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from agent.credentials import families
from tests.conftest import Machine
from tests.test_credentials import STRONG, TOKEN, WEAK, private, run_check

PRESENT = {"netrc", "pgpass", "git_credentials"}  # the ids of the formats in the home
# The resident agent's side, and what the child's start-up must not pay for (each costs it
# milliseconds: bench/scanner_start.py).
NEVER = ("pydantic", "pydantic_core", "agent.policy", "agent.checks", "agent.models")
# hashlib and hmac: the scanner computes nothing from a value (issue 16), so it needs neither.
NOT_ON_START_UP = ("dataclasses", "typing", "inspect", "tempfile", "logging", "hashlib", "hmac")


def imported(log: Path) -> list[str]:
    """The modules a `-X importtime` log names, in the order they were imported."""
    names = []
    for line in log.read_text().splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            names.append(line.rsplit("|", 1)[1].strip())
    return names


def test_the_scanner_imports_only_the_parsers_of_the_files_found(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private(machine.home / ".netrc", f"machine a.example login ann password {STRONG}\n")
    private(machine.home / ".pgpass", f"db.example:5432:*:ann:{WEAK}\n")
    private(machine.home / ".git-credentials", f"https://ann:{TOKEN}@github.com\n")
    log = tmp_path / "imports.log"
    # What the check starts as sys.executable: the same interpreter, timing its imports.
    wrapper = tmp_path / "python-importtime"
    wrapper.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -X importtime "$@" '
        f"2>{shlex.quote(str(log))}\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))

    findings, notes = run_check(machine)

    # The child read the three files and answered in JSON alone.
    assert {f.subject for f in findings} == {"~/.netrc", "~/.pgpass", "~/.git-credentials"}
    assert not notes
    modules = imported(log)
    assert "agent.credentials.scan" in modules  # the log is the scanner's
    parsers = {m.rsplit(".", 1)[1] for m in modules if m.startswith(f"{families.__name__}.")}
    assert parsers == PRESENT, "parsers of formats that are not in this home were imported"
    resident = [m for m in modules if m.startswith(NEVER)]
    assert not resident, f"the scanner imported the resident agent's {resident}"
    slow = [m for m in modules if m in NOT_ON_START_UP]
    assert not slow, f"the scanner imported {slow}, which cost its start-up milliseconds"
