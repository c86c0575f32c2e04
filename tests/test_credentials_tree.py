"""A tree too big to read in one run: the credentials check reads it a part per run, says
how far it got, never reads as clean while files are left, and keeps what it read.

The check runs with its real scanning child on real files; `OneFilePerRun` gives the child
no reading time, so that it reads exactly one file per run (it always reads one) and the
runs are the same on any machine. bench/credentials_tree.py shows the same on 20,000 files
with the check's own time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.checks.base import CheckContext
from agent.checks.credentials import CredentialsCheck, CredentialsParams
from agent.credentials import locate
from agent.credentials.families import FAMILIES
from agent.credentials.model import Family, Secret, Source
from agent.credentials.scan import scan
from agent.errors import AgentError
from agent.fingerprint import Fingerprinter
from agent.models import Finding
from agent.paths import Paths
from agent.store import Store
from tests.conftest import Machine
from tests.test_credentials import format_of

WEAK = "hunter2"


class OneFilePerRun(CredentialsCheck):
    def reading_time(self) -> float:
        return 0.0


def run_once(*, remember: bool = True) -> tuple[list[Finding] | str, list[str]]:
    """One run of the check as the agent makes it: its findings, or its error; its notes."""
    paths = Paths.from_environment()
    check = OneFilePerRun(CredentialsParams(include_system=False, project_roots=["~/src"]))
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(Store.open(paths.state)) if remember else None
        ctx = CheckContext(
            paths=paths,
            fingerprint=Fingerprinter.for_state_dir(paths.state),
            env={},
            store=store,
        )
        try:
            return check.run(ctx), check.notes
        except AgentError as err:
            return str(err), check.notes


def tree(home: Path, texts: dict[str, str]) -> dict[str, Path]:
    files = {}
    for name, text in texts.items():
        path = home / "src" / "app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files[name] = path
    return files


def test_a_tree_without_secrets_is_an_error_until_every_file_is_read(machine: Machine) -> None:
    tree(machine.home, {f".env.part{n}": f"APP_ENV=prod{n}\n" for n in range(4)})
    outcomes = [run_once() for _ in range(5)]
    assert outcomes == [
        ("scanned 1 of 4 files so far; the rest on the next runs", []),
        ("scanned 2 of 4 files so far; the rest on the next runs", []),
        ("scanned 3 of 4 files so far; the rest on the next runs", []),
        ([], []),  # every file read: now, and only now, a pass
        ([], []),  # nothing changed: the cache answers
    ]


def test_findings_of_the_files_read_are_reported_while_the_rest_wait(machine: Machine) -> None:
    tree(
        machine.home,
        {
            ".env.a": f"DB_PASSWORD={WEAK}\n",
            ".env.b": "APP_ENV=prod\n",
            ".env.c": "API_TOKEN=ghp_Tree0123456789abcdefghijklmnopqrstuv\n",
        },
    )
    first, first_notes = run_once()
    assert isinstance(first, list)
    assert [f.subject for f in first] == ["~/src/app/.env.a"]  # a fail, not an error
    assert "scanned 1 of 3 files so far; the rest on the next runs" in first_notes
    second, second_notes = run_once()
    assert second == first
    assert "scanned 2 of 3 files so far; the rest on the next runs" in second_notes
    third, third_notes = run_once()
    assert isinstance(third, list)
    assert sorted(f.subject for f in third) == ["~/src/app/.env.a", "~/src/app/.env.c"]
    assert third_notes == []


def test_a_changed_file_is_read_again_and_nothing_else(machine: Machine) -> None:
    files = tree(machine.home, {f".env.part{n}": f"APP_ENV=prod{n}\n" for n in range(3)})
    while run_once() != ([], []):
        pass
    files[".env.part1"].write_text(f"APP_ENV=prod1\nDB_PASSWORD={WEAK}\n")
    found, notes = run_once()  # one file per run: this run reads the changed one
    assert isinstance(found, list)
    assert [(f.subject, f.evidence["line"]) for f in found] == [("~/src/app/.env.part1", 2)]
    assert notes == []
    files[".env.part1"].write_text("APP_ENV=prod1\n")
    assert run_once() == ([], [])


def test_without_a_store_it_says_the_rest_were_not_read(machine: Machine) -> None:
    tree(machine.home, {f".env.part{n}": f"APP_ENV=prod{n}\n" for n in range(3)})
    assert run_once(remember=False)[0] == (
        "scanned 1 of 3 files in the check's time; the other 2 were not read (the background "
        "agent reads them over its next runs)"
    )
    assert run_once(remember=False)[0] == run_once(remember=False)[0]  # nothing was kept


# The scanning child's side, in this process.


def scan_tree(home: Path, cache: dict[str, Any] | None = None, **request: Any) -> dict[str, Any]:
    return scan(
        {
            "home": str(home),
            "settings": {"include_system": False, "project_roots": ["~/src"]},
            "cache": cache or {},
            **request,
        },
        FAMILIES,
        {},
    )


def test_a_changed_file_not_read_yet_keeps_what_it_held(machine: Machine) -> None:
    files = tree(
        machine.home,
        {".env.a": f"DB_PASSWORD={WEAK}\n", ".env.b": f"API_PASSWORD={WEAK}x\n"},
    )
    while run_once()[1]:
        pass
    for path in files.values():
        path.write_text(path.read_text() + "APP_ENV=prod\n")
    found, notes = run_once()  # reads .env.a again; .env.b waits for the next run
    assert "scanned 1 of 2 files so far; the rest on the next runs" in notes
    # Left for the next run, .env.b's old finding stands until then.
    assert isinstance(found, list)
    assert sorted((f.subject, f.evidence["field"]) for f in found) == [
        ("~/src/app/.env.a", "DB_PASSWORD"),
        ("~/src/app/.env.b", "API_PASSWORD"),
    ]


def test_the_walk_stops_at_its_bound_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path, {f".env.part{n:02d}": "APP_ENV=prod\n" for n in range(30)})
    monkeypatch.setattr(locate, "MAX_ENTRIES", 12)
    answer = scan_tree(tmp_path)
    assert len(answer["files"]) < 12
    (said,) = answer["unsearched"].values()
    assert said.startswith("~/src holds more than 12 entries within project_depth;")
    monkeypatch.setattr(locate, "MAX_ENTRIES", 1000)
    assert scan_tree(tmp_path)["unsearched"] == {}


class _Endless(Family):
    title = "a format that never ends"
    advice = "none"

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        while True:  # a parser stuck on what a file holds
            pass
        yield  # pragma: no cover


def test_a_file_that_takes_too_long_is_stopped_and_the_answer_comes(tmp_path: Path) -> None:
    (tmp_path / ".endless").write_text("x")
    (tmp_path / ".netrc").write_text(f"machine a.example login ann password {WEAK}\n")
    answer = scan(
        {"home": str(tmp_path), "budget": 0.2},
        [format_of(_Endless, "endless", "~/.endless"), *FAMILIES],
        {},
    )
    records = {r["shown"]: r for r in answer["files"].values()}
    assert records["~/.endless"]["note"] == (
        "took too long to read as a format that never ends; it was not read"
    )
    # Read next time only if it changes: its record has its signature.
    assert records["~/.endless"]["stat"] == list(locate.stat_key((tmp_path / ".endless").stat()))
    assert WEAK not in json.dumps(answer)
