"""The policy child (agent.policy_child): the resident agent's policy, read in a process of
its own and handed back as plain data, never as anything that runs."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from agent.checks import ALL_CHECKS, CHECKS
from agent.errors import AgentError
from agent.paths import Paths
from agent.policy import load_policy
from agent.policy_child import _PolicyData, load_apart
from tests.conftest import Machine


def test_the_child_reads_the_policy_the_agent_would(machine: Machine) -> None:
    (machine.user_policies / "a.yaml").write_text(
        "schema: 1\nnotify: {max_per_hour: 9}\nchecks:\n  idle_sessions: {max_idle: 20m}\n"
    )
    paths = Paths.from_environment()
    apart = load_apart(paths, list(CHECKS), os.environ)
    here = load_policy(paths, ALL_CHECKS, keep_going=True)
    assert apart == here
    assert apart.settings["idle_sessions"].max_idle == timedelta(minutes=20)  # type: ignore[attr-defined]
    assert apart.notify.max_per_hour == 9


def test_a_refused_file_comes_back_as_its_refusal(machine: Machine) -> None:
    (machine.user_policies / "a.yaml").write_text("schema: 1\nchecks:\n  vpn: {require: 3}\n")
    policy = load_apart(Paths.from_environment(), list(CHECKS), os.environ)
    assert policy.settings["vpn"].require == "untrusted"  # type: ignore[attr-defined]
    [refusal] = policy.refused
    assert "checks.vpn.require" in refusal.sentence and "left out" in refusal.sentence


class _Runs:
    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.system, ("touch ran",))


@pytest.mark.parametrize(
    "payload",
    [
        ("policy", _Runs()),  # a function of the standard library, called with arguments
        ("policy", subprocess.Popen),  # a class, but not one of the agent's
    ],
)
def test_the_agent_builds_nothing_but_policy_data(
    payload: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a child gone wrong could write back: refused before anything is built.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="is not policy data"):
        _PolicyData(io.BytesIO(pickle.dumps(payload))).load()
    assert not (tmp_path / "ran").exists()


def test_a_child_that_fails_is_one_sentence(machine: Machine, tmp_path: Path) -> None:
    paths = Paths.from_environment()
    with pytest.raises(AgentError, match=r"^reading the policy took longer than 0s$"):
        load_apart(paths, list(CHECKS), os.environ, deadline=0.001)
    # A fault in the child (here: a check it does not know) is said without its traceback.
    with pytest.raises(AgentError) as raised:
        load_apart(paths, ["no_such_check"], os.environ)
    assert str(raised.value) == "the policy reader failed (KeyError, a fault in hygiene-agent)"
