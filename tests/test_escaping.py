"""Text from outside never reaches a terminal, a log, a notification or a report raw.

One hostile string, with an OSC that sets the window title, a "clear screen", a carriage
return, a right-to-left override, an isolate and a one-byte C1 CSI, is planted everywhere
outside text enters: a policy's name and advice, an unknown key in a policy, a pulled
source's content (so its rejection quotes it), a network label and a file name that
becomes a finding's subject. Then the real commands run as a person and an admin would,
in a network namespace with a real gateway (so that `network trust` has a network) and a
real notification server, and everything they wrote is searched for the raw characters:
stdout and stderr (the log), what dunst received, and the three fleet files.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.fleet import prom_file
from agent.text import printable
from tests.conftest import Machine
from tests.desktop import Desktop
from tests.netns import Netns

HYGIENE = str(Path(sys.executable).with_name("hygiene"))
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\u202e\u2066\x9bX"
RAW = ("\x1b", "\x07", "\r", "\u202e", "\u2066", "\x9b")
# Policy names may not hold C0 controls (the model refuses them), so the name carries the rest.
NAME = "admin\u202eyenom\u2066\x9b"


def no_raw(where: str, text: str) -> None:
    found = [repr(c) for c in RAW if c in text]
    assert not found, f"{where} carries {', '.join(found)} raw: {text[:400]!r}"


@pytest.fixture
def planted(machine: Machine, make_key: Callable[..., Path], tmp_path: Path) -> Iterator[Path]:
    """The hostile string in every place outside text comes from; the Prometheus folder."""
    prometheus = tmp_path / "textfile"
    prometheus.mkdir()
    pulled = tmp_path / "share" / "fleet.yaml"
    pulled.parent.mkdir()
    pulled.write_text(
        json.dumps({"schema": 1, "name": "pulled", "checks": {"ssh_keys": {HOSTILE: 1}}})
    )
    admin = {
        "schema": 1,
        "name": NAME,
        "sources": {"urls": [pulled.as_uri()], "every": "1s"},
        "report": {"details": True, "prometheus_dir": str(prometheus)},
    }
    (machine.admin_policies / "00-admin.yaml").write_text(json.dumps(admin))
    machine.keep_only("ssh_keys")
    user = {"schema": 1, "checks": {"ssh_keys": {"advice": HOSTILE, "severity": "high"}}}
    (machine.user_policies / "10-hostile.yaml").write_text(json.dumps(user))
    make_key(machine.ssh / f"id_{HOSTILE}")  # no passphrase: a finding named by the file
    (machine.home / "unknown-key.yaml").write_text(json.dumps({"schema": 1, HOSTILE: 1}))
    yield prometheus


def test_a_hostile_string_is_shown_escaped_everywhere(
    machine: Machine, desktop: Desktop, netns: Netns, planted: Path
) -> None:
    netns.gateway()  # a network to trust
    env = {**machine.env(), **desktop.env}
    said: dict[str, str] = {}

    def run(*argv: str, codes: tuple[int, ...] = (0,)) -> str:
        done = netns.run(HYGIENE, *argv, env=env)
        name = " ".join(argv)
        assert done.returncode in codes, (name, done.stderr)
        assert "Traceback" not in done.stderr, (name, done.stderr)
        said[f"{name} (stdout)"] = done.stdout
        said[f"{name} (stderr)"] = done.stderr
        return done.stdout

    run("network", "trust", "--label", HOSTILE)
    run("-v", "run", "--once")  # pulls the source first, notifies, writes the fleet files
    run("check", codes=(1,))
    for argv in (
        ("network", "list"),
        ("status",),
        ("notifications",),
        ("checks",),
        ("policy", "show"),
    ):
        run(*argv, codes=(0, 1))
        json.loads(run(*argv, "--json", codes=(0, 1)))  # still valid JSON
    json.loads(run("check", "--json", codes=(1,)))
    json.loads(run("notifications", "--json"))
    run("policy", "validate", str(machine.home / "unknown-key.yaml"), codes=(2,))
    run("check", "--policy", str(machine.home / "unknown-key.yaml"), codes=(2,))
    run("snooze", HOSTILE, "1d", codes=(2,))

    for where, text in said.items():
        no_raw(where, text)
    # Each path was taken, and shows the string escaped.
    escaped = printable(HOSTILE)
    everything = "\n".join(said.values())
    assert escaped in said["network list (stdout)"]
    assert escaped in said["check (stdout)"]  # the advice
    assert f"id_{escaped}" in said["check (stdout)"]  # the file name
    assert printable(NAME) in said["check (stdout)"]  # the policy's name
    assert escaped in said["policy show (stdout)"]  # the pulled source's rejection
    assert escaped in said[f"policy validate {machine.home / 'unknown-key.yaml'} (stderr)"]
    assert escaped in everything

    notices = desktop.received(at_least=1)
    assert any("SSH key" in n.summary for n in notices), notices
    for notice in notices:
        no_raw(f"the notification {notice.summary!r}", notice.summary + notice.body + notice.text)

    report = machine.state / "hygiene-agent" / "report"
    no_raw("events.jsonl", (report / "events.jsonl").read_text())
    no_raw("the Prometheus file", (planted / prom_file(os.getuid())).read_text())
    with sqlite3.connect(f"file:{report / 'hygiene.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT subject, message FROM hygiene_findings").fetchall()
        said_problems = db.execute("SELECT sentence FROM hygiene_problems").fetchall()
        layers = db.execute("SELECT source, name FROM hygiene_policy").fetchall()
    # The pulled source's rejection and the admin policy's name reach the agent's tables,
    # escaped.
    assert any(escaped in str(sentence) for (sentence,) in said_problems), said_problems
    assert any(name == printable(NAME) for _, name in layers), layers
    no_raw("hygiene.db problems", json.dumps([*said_problems, *layers], ensure_ascii=False))
    assert any(escaped in subject for subject, _ in rows), rows
    no_raw("hygiene.db", json.dumps(rows, ensure_ascii=False))
