"""The short soak (tests/soak.py): the agent killed 5 times while 120 commands run beside it.

bench/soak.py is the long form (500 commands, 20 kills by default)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.conftest import Machine
from tests.desktop import Desktop
from tests.netns import Netns
from tests.soak import soak


def test_the_agent_keeps_its_store_through_commands_and_kills(
    machine: Machine, desktop: Desktop, netns: Netns, ssh_keygen: str, tmp_path: Path
) -> None:
    netns.gateway()
    machine.keep_only("ssh_keys", "credentials", "vpn")
    seed = int.from_bytes(os.urandom(4))
    logs = tmp_path / "logs"
    logs.mkdir()
    report = soak(
        env={**machine.env(), **desktop.env},
        state=machine.state,
        home=machine.home,
        user_policies=machine.user_policies,
        prefix=["ip", "netns", "exec", netns.name],
        keygen=ssh_keygen,
        commands=120,
        kills=5,
        rng=random.Random(seed),  # noqa: S311 - timings, not secrets; the seed is in failures
        logs=logs,
    )
    summary = "\n".join([f"seed {seed}", *report.lines()])
    print(summary)  # shown with -s: the counts this run held
    assert report.unexpected == [], summary
    assert report.kills == 5 and report.starts == 6, summary
    # Findings came and went, and notices were told: the soak exercised what it checks.
    assert report.lines_checked["appeared"] >= 5, summary
    assert report.lines_checked["resolved"] >= 3, summary
    assert report.lines_checked["told"] >= 3, summary
    assert report.missing == [], summary
    assert report.integrity == "ok", summary
    assert report.fd_looks > 100, summary
    assert report.deleted == [], summary
    assert report.io_errors == [], summary
    assert report.store_errors == [], summary
    assert report.python_opened == [], summary
    # One connection per start: a read-only look at the file, then the one that stays.
    assert max(report.agent_connections) <= 2, summary
