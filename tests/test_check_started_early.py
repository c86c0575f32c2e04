"""`hygiene check` starts the file scanner's process before it reads the policy, so that
its start-up overlaps the policy's (bench/check.py). Whatever the policy then says, the
audit's answer is the same and no scanner is left behind: used when the credentials check
runs, stopped when it is disabled or the policy is refused."""

from __future__ import annotations

import json
from collections.abc import Callable

import psutil

from tests.conftest import Machine, Outcome


def scanners() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "agent.credentials" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def plant_netrc(machine: Machine) -> None:
    netrc = machine.home / ".netrc"
    netrc.write_text("machine git.example.org login ann password hunter2\n")
    netrc.chmod(0o600)


def test_the_early_scanner_does_the_scan(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    plant_netrc(machine)
    machine.keep_only("credentials")
    done = hygiene("check", "--json")
    assert done.code == 1, done.err
    (result,) = [r for r in json.loads(done.out)["results"] if r["check"] == "credentials"]
    assert result["status"] == "fail"
    assert [f["subject"] for f in result["findings"]] == ["~/.netrc"]
    assert scanners() == []


def test_a_disabled_credentials_check_leaves_no_scanner(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    plant_netrc(machine)
    machine.keep_only("ssh_keys")
    done = hygiene("check", "--json")
    statuses = {r["check"]: r["status"] for r in json.loads(done.out)["results"]}
    assert statuses["credentials"] == "skip"
    assert scanners() == []


def test_a_refused_policy_leaves_no_scanner(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    (machine.user_policies / "broken.yaml").write_text("schema: 1\nchecks: [oops\n")
    done = hygiene("check")
    assert done.code == 2
    assert "broken.yaml" in done.err
    assert scanners() == []
