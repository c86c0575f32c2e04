"""The commands people type to see where things stand answer from the store alone: they
import no check, no policy machinery and no pydantic (agent.cli's COMMANDS decides what
each command loads). Observed in the real console script, by the modules it holds at its exit,
on a store a real `hygiene run --once` filled."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Machine

SCRIPT = Path(sys.executable).with_name("hygiene")
# What the light commands must not load: the validation library, every check (the list
# of checks included), the policy machinery and the pydantic models of results.
# Nor logging: they print what they have to say (agent.cli's Command.logs).
HEAVY = (
    "pydantic",
    "pydantic_core",
    "agent.checks",
    "agent.policy",
    "agent.models",
    "yaml",
    "logging",
)
# The console script as it runs, and at its exit, every module the process holds, written
# to a file of the test's (-X importtime would miss importlib.import_module's imports).
# The command ends with os._exit (agent.cli.console), or by SystemExit (usage, --help).
WATCHED = """import atexit, json, os, runpy, sys
out, sys.argv = sys.argv[1], sys.argv[2:]
def held():
    with open(out, "w") as f:
        f.write(json.dumps(sorted(sys.modules)))
atexit.register(held)
end = os._exit
os._exit = lambda code: (held(), end(code))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def imported(machine: Machine, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the installed `hygiene` with `argv`; its result and every module it imported."""
    modules = machine.home.parent / "modules.json"
    done = subprocess.run(
        # -I: the agent the script was installed with, not the source tree in the working folder.
        [sys.executable, "-I", "-c", WATCHED, str(modules), str(SCRIPT), *argv],
        env=machine.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, set(json.loads(modules.read_text()))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY)))


def hygiene(machine: Machine, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *argv],
        env=machine.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def audited(machine: Machine, make_key: Callable[..., Path]) -> str:
    """A store with findings in it, from a real `hygiene run --once`; a finding's id."""
    make_key(machine.ssh / "id_ed25519")
    machine.keep_only("ssh_keys")
    done = hygiene(machine, "run", "--once")
    assert done.returncode == 0, done.stderr
    status = hygiene(machine, "status", "--json")
    failing = json.loads(status.stdout)["failing"]
    assert failing, status.stdout
    return str(failing[0]["id"])


def test_light_commands_load_no_check_no_policy_no_pydantic(machine: Machine, audited: str) -> None:
    commands: list[tuple[list[str], int, str]] = [
        (["--help"], 0, "status"),
        ([], 2, "COMMAND"),
        (["status"], 1, "id_ed25519"),
        (["status", "--json"], 1, audited),
        (["notifications"], 0, "ssh_keys"),
        (["notifications", "--json", "--limit", "5"], 0, "ssh_keys"),
        (["snooze", audited, "1h"], 0, "snoozed until"),
        (["snooze", "ssh_keys", "2h"], 0, "snoozed until"),
        (["unsnooze", audited], 0, "no longer snoozed"),
        (["unsnooze", "ssh_keys"], 0, "no longer snoozed"),
    ]
    wrong = []
    for argv, code, said in commands:
        done, modules = imported(machine, *argv)
        shown = f"hygiene {' '.join(argv)}"
        if done.returncode != code or said not in done.stdout + done.stderr:
            wrong.append(f"{shown}: exit {done.returncode}, said {done.stdout[:200]!r}")
        if loaded := heavy(modules):
            wrong.append(f"{shown} imported {', '.join(loaded[:8])}")
    assert not wrong, "\n".join(wrong)


def test_a_snooze_after_a_policy_change_keeps_to_the_new_limit(
    machine: Machine, audited: str
) -> None:
    # The limit the last load noted is used only while the policy files are as they were:
    # a new user file that shortens it is read (the long way) and noted anew.
    done, _ = imported(machine, "snooze", audited, "3d")
    assert done.returncode == 0, done.stderr
    (machine.user_policies / "50-short.yaml").write_text("schema: 1\nnotify: {max_snooze: 2h}\n")
    for attempt in ("the long way", "from the note"):
        done, modules = imported(machine, "snooze", audited, "3h")
        assert done.returncode == 2, attempt
        assert "at most 2h" in done.stderr, attempt
    assert heavy(modules) == [], "the second snooze should have used the note"
    (machine.user_policies / "50-short.yaml").unlink()
    done, _ = imported(machine, "snooze", audited, "3h")
    assert done.returncode == 0, done.stderr


def test_a_check_that_has_not_run_yet_can_be_snoozed(machine: Machine) -> None:
    done, _ = imported(machine, "snooze", "vpn", "1h")
    assert done.returncode == 0, done.stderr
    done, _ = imported(machine, "snooze", "no_such_check", "1h")
    assert done.returncode == 2
    assert "neither a check (idle_sessions" in done.stderr


def test_check_only_loads_that_check_alone(machine: Machine, make_key: Callable[..., Path]) -> None:
    make_key(machine.ssh / "id_ed25519")
    done, modules = imported(machine, "check", "--only", "ssh_keys", "--json")
    assert done.returncode == 1, done.stderr
    assert [r["check"] for r in json.loads(done.stdout)["results"]] == ["ssh_keys"]
    checks = {m for m in modules if m.startswith("agent.checks.")} - {"agent.checks.base"}
    assert checks == {"agent.checks.ssh_keys"}


def test_check_only_still_refuses_a_check_no_one_knows(
    machine: Machine, make_key: Callable[..., Path]
) -> None:
    # The other checks' settings wait for the commands that run them; a name that is no
    # check at all is still an error, whatever --only says.
    make_key(machine.ssh / "id_ed25519")
    (machine.user_policies / "typo.yaml").write_text("schema: 1\nchecks:\n  ssh_kyes: {}\n")
    done, _ = imported(machine, "check", "--only", "ssh_keys")
    assert done.returncode == 2
    assert "ssh_kyes" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_command_has_its_module() -> None:
    import argparse
    import importlib

    from agent.cli import COMMANDS, build_parser

    (commands,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == set(COMMANDS)
    for command in COMMANDS.values():
        module = importlib.import_module(f"agent.commands.{command.module}")
        assert callable(getattr(module, command.function))


def test_a_known_command_gets_only_its_own_parser_and_the_same_answers() -> None:
    from agent.cli import build_parser

    every = build_parser()
    for argv in (
        ["status", "--json"],
        ["-v", "notifications", "--limit", "3"],
        ["snooze", "a", "1h"],
    ):
        assert vars(build_parser(argv).parse_args(argv)) == vars(every.parse_args(argv))
    with pytest.raises(SystemExit) as exit:
        build_parser(["notifications", "--limit", "0"]).parse_args(
            ["notifications", "--limit", "0"]
        )
    assert exit.value.code == 2
