"""A policy's list of settings is bounded, and reading it never starts more than a few
programs at once.

A policy that listed 2,000 GSettings keys once started 472 `gsettings` at the same moment
and failed with "Too many open files". Here the real gsettings runs behind a wrapper on
PATH that records how many of it were running whenever one started.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.checks.privacy_settings import MAX_SETTINGS
from agent.probes._linux_screen import PARALLEL_READS
from tests.conftest import Machine, Outcome, require_tool


def settings_policy(machine: Machine, keys: list[tuple[str, str]]) -> Path:
    settings = {
        f"s{i}": {
            "title": f"setting {i}",
            "why": "a test",
            "advice": "nothing",
            "read": [{"gsettings": schema, "key": key, "equals": "not-this-value"}],
        }
        for i, (schema, key) in enumerate(keys)
    }
    check = {"builtin": False, "timeout": "120s", "settings": settings}
    path = machine.home / "many.yaml"
    path.write_text(json.dumps({"schema": 1, "checks": {"privacy_settings": check}}))
    return path


def real_keys(gsettings: str, count: int) -> list[tuple[str, str]]:
    """`count` keys of the schemas installed here, as a long policy would name them."""
    schemas = subprocess.run(
        [gsettings, "list-schemas"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    keys: list[tuple[str, str]] = []
    for schema in sorted(schemas):
        listed = subprocess.run(
            [gsettings, "list-keys", schema],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.split()
        keys += [(schema, key) for key in listed]
        if len(keys) >= count:
            return keys[:count]
    pytest.fail(f"only {len(keys)} GSettings keys are installed; the test needs {count}")


@pytest.mark.parametrize("count", [MAX_SETTINGS + 1, 2000])
def test_a_policy_listing_too_many_settings_is_refused_in_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], count: int
) -> None:
    keys = [("org.gnome.desktop.privacy", f"key-{i}") for i in range(count)]
    path = settings_policy(machine, keys)
    for argv in (("policy", "validate", str(path)), ("check", "--policy", str(path))):
        outcome = hygiene(*argv)
        assert outcome.code == 2, outcome
        said = outcome.err.strip()
        assert len(said.splitlines()) == 1, said
        assert "Traceback" not in said
        if count == MAX_SETTINGS + 1:
            assert "privacy_settings.settings" in said
            assert f"at most {MAX_SETTINGS} settings, got {count}" in said
        else:
            # So long a file meets the bound on a whole policy first; either cap is one
            # sentence that says what is allowed.
            assert "at most" in said


def test_one_setting_read_from_too_many_places_is_refused(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    places = [
        {"gsettings": "org.gnome.desktop.privacy", "key": f"k{i}", "equals": 1} for i in range(50)
    ]
    setting: dict[str, Any] = {"title": "t", "why": "w", "advice": "a", "read": places}
    check = {"settings": {"many": setting}}
    path = machine.home / "places.yaml"
    path.write_text(json.dumps({"schema": 1, "checks": {"privacy_settings": check}}))
    outcome = hygiene("policy", "validate", str(path))
    assert outcome.code == 2
    assert "privacy_settings.settings.many.read" in outcome.err
    assert "got 50" in outcome.err


def test_200_settings_are_read_with_a_few_gsettings_at_a_time(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    real = require_tool("gsettings")
    wrapped = tmp_path / "bin"
    wrapped.mkdir()
    running = tmp_path / "running"
    running.mkdir()
    counts = tmp_path / "counts"
    wrapper = wrapped / "gsettings"
    # Each start notes itself, then how many are noted (itself and those still running).
    wrapper.write_text(
        "#!/bin/sh\n"
        f'touch "{running}/$$"\n'
        f'ls "{running}" | wc -l >> "{counts}"\n'
        f'"{real}" "$@"; code=$?\n'
        f'rm -f "{running}/$$"\n'
        'exit "$code"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapped}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GSETTINGS_BACKEND", "keyfile")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    keys = real_keys(real, 200)
    path = settings_policy(machine, keys)

    outcome = hygiene("check", "--json", "--only", "privacy_settings", "--policy", str(path))
    assert outcome.code == 1, outcome.err
    (result,) = json.loads(outcome.out)["results"]
    assert result["notes"] == []  # every one was read
    assert len(result["findings"]) == 200
    seen = [int(line) for line in counts.read_text().split()]
    assert len(seen) == 200
    assert max(seen) <= PARALLEL_READS
    assert max(seen) > 1  # they did run side by side
