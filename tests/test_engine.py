"""The engine: one check's crash or hang is that check's error; the rest still report."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.checks import ALL_CHECKS
from agent.checks.base import Check, CheckContext, CheckParams, Timeout
from agent.checks.ssh_keys import SshKeysCheck
from agent.engine import run_checks
from agent.errors import CheckSkipped
from agent.fingerprint import Fingerprinter
from agent.models import Finding, Severity, Status
from agent.paths import Paths
from agent.policy import BUILTIN, PolicyLayer, builtin_policy_path, combine, load_file
from agent.policy_settings import Level
from agent.settings import settings
from tests.conftest import Machine

CANARY = "canary-5f1e9c-never-print-me"
RELEASE = threading.Event()


class _Fake(Check[CheckParams]):
    title = "a test check"
    severity = Severity.low
    rationale = "tests the engine"
    advice = "nothing"
    reads = ()
    keeps = "nothing"
    alert = "test"
    alert_many = "{n} tests"


class Crashes(_Fake):
    id = "crashes"

    def run(self, ctx: CheckContext) -> list[Finding]:
        int(CANARY)  # a ValueError whose text quotes what was being read
        return []


class BrokenFile(_Fake):
    id = "broken_file"

    def run(self, ctx: CheckContext) -> list[Finding]:
        (ctx.paths.home / "no-such-file").read_text()
        return []


@settings
class QuickParams(CheckParams):
    timeout: Timeout = timedelta(seconds=1)


class Hangs(_Fake):
    id = "hangs"
    Params: ClassVar[type[CheckParams]] = QuickParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        RELEASE.wait(60)
        return []


class NotHere(_Fake):
    id = "not_here"

    def run(self, ctx: CheckContext) -> list[Finding]:
        raise CheckSkipped("there is no such thing on this computer")


CHECKS: list[type[Check[Any]]] = [Crashes, Hangs, BrokenFile, NotHere, SshKeysCheck]


@pytest.fixture(autouse=True)
def release_hung_threads() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()


def test_crash_and_hang_leave_the_other_results_intact(machine: Machine) -> None:
    key = machine.ssh / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n")
    layers = [load_file(builtin_policy_path(), ALL_CHECKS, Level.default, source=BUILTIN)]
    layers.append(PolicyLayer("test", Level.user, None, None, {}, ()))
    policy = combine(layers, CHECKS)
    paths = Paths.from_environment()
    ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state))

    started = time.monotonic()
    results = {r.check: r for r in run_checks(policy, CHECKS, ctx)}
    elapsed = time.monotonic() - started

    assert list(results) == [c.id for c in CHECKS]
    assert elapsed < 5, "the hung check held up the run past its 1s timeout"

    crashed = results["crashes"]
    assert crashed.status is Status.error
    assert crashed.error is not None
    assert crashed.error.startswith(
        "crashes stopped with an internal error (ValueError at test_engine.py:"
    )
    assert CANARY not in json.dumps(crashed.as_json())

    assert results["hangs"].status is Status.error
    assert results["hangs"].error == "did not finish within 1s"

    broken = results["broken_file"]
    assert broken.status is Status.error
    assert broken.error == f"no such file or directory ({machine.home / 'no-such-file'})"

    assert results["not_here"].status is Status.skip
    assert results["not_here"].notes == ["there is no such thing on this computer"]

    ssh = results["ssh_keys"]
    assert ssh.status is Status.passed
    assert ssh.notes == [
        "~/.ssh/id_ed25519 could not be checked: it looks like a private key but its "
        "contents are damaged."
    ]


def test_only_selects_checks(machine: Machine, tmp_path: Path) -> None:
    layers = [load_file(builtin_policy_path(), ALL_CHECKS, Level.default, source=BUILTIN)]
    policy = combine(layers, CHECKS)
    paths = Paths.from_environment()
    ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state))
    results = run_checks(policy, CHECKS, ctx, only=["not_here", "ssh_keys"])
    assert [r.check for r in results] == ["not_here", "ssh_keys"]


def test_unwritable_state_still_audits_with_a_warning(
    machine: Machine, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = machine.state / "hygiene-agent"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the state folder should be\n")
    fingerprint = Fingerprinter.for_state_dir(blocker)
    assert not fingerprint.persistent
    assert len(fingerprint("ssh_keys", "~/.ssh/id_rsa", "no passphrase")) == 32
    assert "cannot keep the install key" in caplog.text
    assert "finding ids will differ between runs" in caplog.text
