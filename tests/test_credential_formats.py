"""Each config format, on hand-written samples: what it flags and what it does not.

The cases live in tests/data/credentials/<family>/cases.yaml (README.md there says how to
write one). Files written by the real tools are in test_credentials_tools.py.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.credentials import FORMATS, families
from agent.credentials.families import FAMILIES
from agent.credentials.scan import scan

DATA = Path(__file__).parent / "data" / "credentials"


def _cases() -> list[Any]:
    found = []
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        for case in yaml.safe_load((folder / "cases.yaml").read_text()):
            found.append(pytest.param(folder, case, id=f"{folder.name}: {case['name']}"))
    return found


def scan_case(home: Path, family: str, file: Path, place: str) -> dict[str, Any]:
    """Put `file` at `place` in a fresh home (a system path goes under the home and is given
    as an extra file) and scan that home as the child does."""
    home.mkdir(exist_ok=True)
    request = scan_request(home, put(home, family, place, file.read_bytes()))
    env = {"XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share")}
    return scan(request, FAMILIES, env)


def scan_request(home: Path, extra: list[list[str]]) -> dict[str, Any]:
    """The scanner's request for `home` alone, with the samples placed outside it as `extra`
    files and the guessed pass on (every other family's sample is then not read twice)."""
    return {
        "home": str(home),
        "settings": {
            "include_system": False,
            "extra_files": extra,
            "project_roots": ["~"],
            "guess_formats": True,
        },
    }


def placed(home: Path, place: str) -> Path:
    """Where a file the samples place at `place` goes in a test's home."""
    return home / place[2:] if place.startswith("~/") else home / "system" / place.lstrip("/")


def put(home: Path, family: str, place: str, data: bytes) -> list[list[str]]:
    """Write `data` at `place` in `home`; a system path goes under the home and comes back
    as the extra file to give the scanner."""
    target = placed(home, place)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return [] if place.startswith("~/") else [[str(target), family]]


def said(answer: dict[str, Any]) -> str:
    """Everything the scanner answered but the stat signatures: those are os.stat integers,
    in which a short secret (a 4-digit PIN) can appear by chance."""
    files = {
        path: {k: v for k, v in record.items() if k != "stat"}
        for path, record in answer["files"].items()
    }
    return json.dumps({**answer, "files": files, "watch": sorted(answer["watch"])})


@pytest.mark.parametrize(("folder", "case"), _cases())
def test_format_case(tmp_path: Path, folder: Path, case: dict[str, Any]) -> None:
    answer = scan_case(tmp_path / "home", folder.name, folder / case["file"], case["place"])
    records = [r for r in answer["files"].values() if r["family"] == folder.name]
    assert records, f"{case['place']} was not found as {folder.name}: {answer}"
    # Read once, by its own family: not again with its format guessed from its name.
    assert len(records) == len(answer["files"]), answer["files"]
    assert all(r["note"] is None for r in records), records
    facts = [f for r in records for f in r["facts"]]
    want = case.get("flags") or []
    got = [{k: f[k] for k in w} for f, w in zip(facts, want, strict=False)]
    assert len(facts) == len(want), json.dumps(facts, indent=1)
    assert got == want
    for secret in case.get("secrets", []):
        assert secret not in said(answer), "a secret value left the scanner"


def test_every_family_has_cases() -> None:
    have = {p.name for p in DATA.iterdir() if p.is_dir()}
    assert {f.id for f in FAMILIES} <= have


def test_every_family_module_is_in_the_registry() -> None:
    folder = Path(inspect.getfile(families))
    modules = {p.stem for p in folder.parent.glob("*.py") if not p.stem.startswith("_")}
    assert modules == {f.id for f in FAMILIES}
    assert len({f.id for f in FAMILIES}) == len(FAMILIES)
    for entry in FAMILIES:  # each names its parser, in the module named like its id
        assert entry.load().__module__ == f"{families.__name__}.{entry.id}"


def test_the_policy_knows_every_format() -> None:
    assert set(FORMATS) == {f.id for f in FAMILIES}
