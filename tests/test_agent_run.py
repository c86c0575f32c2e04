"""`hygiene run` as a person's session runs it: a child process on a real session bus with
dunst, a policy whose check runs every second, signals from outside."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.fleet import prom_file
from tests.conftest import Machine, Outcome, require_tool
from tests.desktop import Desktop, Received, wait_for
from tests.test_privacy import PASSPHRASE, kept_on_disk, secret_fragments

FAST = "schema: 1\nchecks:\n  ssh_keys: {every: 1s}\n"


@dataclass
class RunningAgent:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def said(self, text: str, timeout: float = 10.0) -> str:
        return wait_for(
            f"the agent's log to say {text!r}",
            lambda: next((line for line in self.log().splitlines() if text in line), None),
            timeout,
        )

    def stop(self) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(10)
        return code, time.monotonic() - started


@contextlib.contextmanager
def agents(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], RunningAgent]]:
    """Start `hygiene run` (the installed script) with an environment, its log in tmp_path,
    as often as a test likes; each is killed at the end, and none may have printed a
    traceback."""
    script = Path(sys.executable).with_name("hygiene")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "agent"]
    started: list[RunningAgent] = []

    def launch(env: dict[str, str]) -> RunningAgent:
        log_path = tmp_path / f"agent-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([*command, "run"], env=env, stderr=log)
        agent = RunningAgent(process, log_path)
        started.append(agent)
        agent.said("started (process")
        return agent

    yield launch
    for agent in started:
        if agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait(10)
        assert "Traceback" not in agent.log()


@pytest.fixture
def start_agent(
    machine: Machine, desktop: Desktop, tmp_path: Path
) -> Iterator[Callable[..., RunningAgent]]:
    with agents(tmp_path) as launch:

        def start(policy: str = FAST, extra_env: dict[str, str] | None = None) -> RunningAgent:
            machine.keep_only("ssh_keys")  # who is signed in here is not these tests' business
            (machine.user_policies / "fast.yaml").write_text(policy)
            return launch({**machine.env(), **desktop.env, **(extra_env or {})})

        yield start


def text_of(path: Path) -> str:
    """A file's text, or nothing while it is not there yet."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def arrived(desktop: Desktop, title: str, timeout: float = 5.0) -> Received:
    def find() -> Received | None:
        return next((n for n in desktop.received(timeout=0) if n.summary == title), None)

    return wait_for(f"a notification titled {title!r}", find, timeout)


def test_a_planted_key_is_told_within_seconds_and_its_fix_is_thanked(
    machine: Machine,
    desktop: Desktop,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
) -> None:
    agent = start_agent()
    agent.said("ssh_keys: pass")
    planted = time.monotonic()
    key = make_key(machine.ssh / "id_planted")
    notice = arrived(desktop, "An SSH key has no passphrase")
    assert time.monotonic() - planted < 5
    assert "~/.ssh/id_planted has no passphrase" in notice.text
    assert [label for _, label in notice.actions] == ["Snooze 1 day", "Details"]

    key.unlink()
    thanks = arrived(desktop, "Fixed, thank you", timeout=5)
    assert thanks.body_text == "~/.ssh/id_planted is fixed."
    assert thanks.actions == ()
    code, took = agent.stop()
    assert code == 0
    assert took < 2
    assert agent.log().rstrip().endswith("hygiene: info: stopped")


def test_the_agent_rewrites_the_page_when_something_changes(
    machine: Machine,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
) -> None:
    page = machine.state / "hygiene-agent" / "page.html"
    agent = start_agent()
    agent.said("ssh_keys: pass")
    wait_for("the page", lambda: page.exists() or None, 5)
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert "id_changed" not in page.read_text()
    first = page.stat().st_mtime_ns
    time.sleep(2)  # several turns with nothing new: the page is left as it is
    assert page.stat().st_mtime_ns == first
    make_key(machine.ssh / "id_changed")
    wait_for("the new key on the page", lambda: "~/.ssh/id_changed" in text_of(page) or None, 5)


def test_a_snooze_from_a_page_link_shows_on_the_page_the_agent_writes_next(
    machine: Machine,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
    hygiene_process: Callable[..., Outcome],
    desktop: Desktop,
) -> None:
    page = machine.state / "hygiene-agent" / "page.html"
    make_key(machine.ssh / "id_linked")
    agent = start_agent()
    wait_for("the key on the page", lambda: "~/.ssh/id_linked" in text_of(page) or None, 10)
    link = next(re.finditer(r'href="(hygiene:snooze\?target=\w+&amp;for=1d&amp;[^"]+)"',
                            page.read_text()))[1].replace("&amp;", "&")  # fmt: skip
    done = hygiene_process("open-url", link, env={**machine.env(), **desktop.env})
    assert done.code == 0, done.err

    def snoozed() -> list[Received] | None:
        return [n for n in desktop.received(timeout=0) if "Snoozed" in n.summary] or None

    told = wait_for("the link's notice", snoozed, 5)
    assert told[0].body_text.endswith("Reload the page to see it.")
    wait_for("the snooze on the page", lambda: "no notices until" in page.read_text() or None, 10)
    # The page was written again with a new token: the link it held acts no more.
    again = hygiene_process("open-url", link, env={**machine.env(), **desktop.env})
    assert again.code == 2 and "token" in again.err
    agent.stop()


def test_a_second_agent_is_refused_naming_the_first(
    start_agent: Callable[..., RunningAgent], hygiene_process: Callable[..., Outcome]
) -> None:
    agent = start_agent()
    second = hygiene_process("run")
    assert second.code == 2
    assert second.err == (
        f"hygiene: an agent is already running for this user (process {agent.process.pid}, "
        f"holding {Path(os.environ['XDG_STATE_HOME']) / 'hygiene-agent' / 'agent.lock'}); "
        "stop it first, or use `hygiene status` to read what it found\n"
    )
    assert agent.process.poll() is None  # the first one runs on


def test_a_killed_agent_leaves_no_lock_behind(
    start_agent: Callable[..., RunningAgent],
) -> None:
    first = start_agent()
    first.process.kill()
    first.process.wait(10)
    second = start_agent()
    assert second.process.poll() is None


def test_a_broken_policy_is_refused_and_the_last_good_one_keeps_working(
    machine: Machine,
    desktop: Desktop,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
) -> None:
    agent = start_agent()
    broken = machine.user_policies / "zz-broken.yaml"
    broken.write_text("schema: 1\nchecks:\n  ssh_keys: {every: often}\n")
    line = agent.said("was not applied", timeout=10)
    assert line == (
        f"hygiene: error: the changed policy was not applied as written: {broken}, line 3: "
        'checks.ssh_keys.every: expected a duration such as "30s", "15m", "4h" or "7d", '
        "got 'often'; it is left out until it is mended (no earlier copy of it was good)"
    )
    assert [text for text in agent.log().splitlines() if str(broken) in text] == [line]
    notice = arrived(desktop, "A policy file was not applied")
    assert notice.body_text.startswith(
        "~/.config/hygiene-agent/policies.d/zz-broken.yaml, line 3: checks.ssh_keys.every: "
    )
    assert notice.body_text.endswith(". Details: hygiene status")
    assert len(notice.body_text) <= 200

    make_key(machine.ssh / "id_later")
    arrived(desktop, "An SSH key has no passphrase", timeout=5)  # still checked every second


def test_sighup_reloads_at_once(machine: Machine, start_agent: Callable[..., RunningAgent]) -> None:
    agent = start_agent()
    (machine.user_policies / "fast.yaml").write_text(
        "schema: 1\nchecks:\n  ssh_keys: {every: 2s}\n"
    )
    sent = time.monotonic()
    agent.process.send_signal(signal.SIGHUP)
    agent.said("policy loaded: default, revision 1 (ssh_keys changed)", timeout=3)
    assert time.monotonic() - sent < 2  # before the five-second poll would have seen it


def test_snooze_1_day_from_the_notification_snoozes_the_finding(
    machine: Machine,
    desktop: Desktop,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
    hygiene_process: Callable[..., Outcome],
) -> None:
    agent = start_agent()
    make_key(machine.ssh / "id_snooze")
    wait_for("the notice on screen", lambda: desktop.showing() or None, 5)
    menu = desktop.choose_action("Snooze 1 day")
    assert any("Snooze 1 day" in line for line in menu)
    agent.said("snoozed for 1d", timeout=5)

    status = json.loads(hygiene_process("status", "--json").out)
    (finding,) = status["failing"]
    assert finding["subject"] == "~/.ssh/id_snooze"
    until = datetime.fromisoformat(finding["snoozed_until"])
    assert timedelta(hours=23, minutes=58) < until - datetime.now(UTC) <= timedelta(days=1)
    history = json.loads(hygiene_process("notifications", "--json").out)
    assert history[0]["response"] == "snoozed it for 1d"
    text = hygiene_process("notifications").out
    assert "you snoozed it for 1d at" in text


def test_details_opens_the_page_at_the_finding_with_the_default_handler(
    machine: Machine,
    desktop: Desktop,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
    tmp_path: Path,
    hygiene_process: Callable[..., Outcome],
) -> None:
    # xdg-open hands a URL to the desktop's handler; here a stand-in records what it got.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened"
    opener = bin_dir / "xdg-open"
    part = f"{opened}.part"  # renamed into place whole: never read half written
    opener.write_text(f'#!/bin/sh\nprintf %s "$1" > "{part}" && mv "{part}" "{opened}"\n')
    opener.chmod(0o755)
    agent = start_agent(extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    make_key(machine.ssh / "id_details")
    wait_for("the notice on screen", lambda: desktop.showing() or None, 5)
    desktop.choose_action("Details")
    agent.said("opened the details", timeout=5)
    url = wait_for("the handler to receive the page", lambda: opened.exists() or None, 5)
    assert url
    (finding,) = json.loads(hygiene_process("status", "--json").out)["failing"]
    page = machine.state / "hygiene-agent" / "page.html"
    assert opened.read_text() == f"{page.as_uri()}#f-{finding['id']}"
    text = page.read_text()
    assert f'id="f-{finding["id"]}"' in text
    assert "~/.ssh/id_details" in text
    history = json.loads(hygiene_process("notifications", "--json").out)
    assert history[0]["response"] == "opened the details"


def test_canary_secrets_stay_out_of_the_log_the_details_and_the_store(
    machine: Machine,
    desktop: Desktop,
    make_key: Callable[..., Path],
    start_agent: Callable[..., RunningAgent],
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text("#!/bin/sh\nexit 0\n")
    opener.chmod(0o755)
    keys = [
        make_key(machine.ssh / "id_canary", "rsa", bits=1024, passphrase=PASSPHRASE),
        make_key(machine.ssh / "id_plain_canary"),
    ]
    agent = start_agent(
        "schema: 1\nlog_level: debug\nchecks:\n  ssh_keys: {every: 1s}\n",
        extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    wait_for("the notice on screen", lambda: desktop.showing() or None, 5)
    desktop.choose_action("Details")
    agent.said("opened the details", timeout=5)
    shown = desktop.received(at_least=1)
    code, _ = agent.stop()
    assert code == 0

    outputs = [agent.log(), *(f"{n.summary}\n{n.body}\n{n.text}" for n in shown)]
    outputs += kept_on_disk(machine.state)
    everything = "\n".join(outputs)
    assert "id_canary" in everything  # audited, logged and told about
    assert PASSPHRASE not in everything
    for key in keys:
        for fragment in secret_fragments(key):
            assert fragment not in everything, f"a piece of {key.name} leaked"


def test_fleet_reports_from_the_running_agent(
    machine: Machine,
    start_agent: Callable[..., RunningAgent],
    make_key: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The agent itself writes the osquery database, the JSON lines and the Prometheus file;
    osquery's query runs with the real sqlite3 while the agent keeps writing (WAL). With
    details off, no subject (here a file name) leaves; an admin's details:true adds it."""
    sqlite3_tool = require_tool("sqlite3")
    make_key(machine.ssh / "id_canary_subject")
    textfiles = tmp_path / "node-exporter"
    textfiles.mkdir()
    prom_path = textfiles / prom_file(os.getuid())
    (machine.admin_policies / "report.yaml").write_text(
        f"schema: 1\nreport: {{prometheus_dir: '{textfiles}'}}\n"
    )
    agent = start_agent()
    report = machine.state / "hygiene-agent" / "report"
    database = report / "hygiene.db"
    query = "SELECT check_id, status, severity, findings FROM hygiene WHERE check_id='ssh_keys';"

    def row() -> str | None:
        done = subprocess.run(
            [sqlite3_tool, "-readonly", str(database), query],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() or None if done.returncode == 0 else None

    assert wait_for("the agent's osquery report", row, 10) == "ssh_keys|fail|high|1"
    for _ in range(5):  # read while the agent keeps writing every second
        assert row() == "ssh_keys|fail|high|1"
        time.sleep(0.5)
    prom = prom_path.read_text()
    assert f'hygiene_check_failing{{check="ssh_keys",uid="{os.getuid()}"}} 1' in prom
    events = [json.loads(line) for line in (report / "events.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "agent"
    (keys,) = [e for e in events if e.get("check") == "ssh_keys"]
    assert {"status": "fail", "findings": 1}.items() <= keys.items()
    outputs = [database, report / "events.jsonl", prom_path]
    for path in [*outputs, *report.glob("hygiene.db-*")]:
        assert b"canary_subject" not in path.read_bytes(), path
    assert agent.stop()[0] == 0

    (machine.admin_policies / "report.yaml").write_text(
        f"schema: 1\nreport: {{prometheus_dir: '{textfiles}', details: true}}\n"
    )
    make_key(machine.ssh / "id_canary_subject2")  # a second finding: a change, an event
    agent = start_agent()
    wait_for(
        "the subject in the JSON lines",
        lambda: "canary_subject2" in (report / "events.jsonl").read_text() or None,
        10,
    )
    assert "canary_subject2" not in prom_path.read_text()
    assert agent.stop()[0] == 0


def served_source(machine: Machine, tmp_path: Path, every: str) -> Path:
    """An admin policy naming one file:// source, pulled each `every`; that source's file,
    revision 1 of policy "fleet"."""
    served = tmp_path / "served" / "fleet.yaml"
    served.parent.mkdir()
    served.write_text("schema: 1\nname: fleet\nrevision: 1\n")
    (machine.admin_policies / "10-site.yaml").write_text(
        f"schema: 1\nname: site\nsources: {{urls: ['file://{served}'], every: {every}}}\n"
    )
    return served


def test_policy_pull_says_what_changed_and_the_agent_applies_it_at_once(
    machine: Machine,
    start_agent: Callable[..., RunningAgent],
    hygiene_process: Callable[..., Outcome],
    tmp_path: Path,
) -> None:
    served = served_source(machine, tmp_path, "1h")
    url = f"file://{served}"
    agent = start_agent()
    agent.said("policy loaded: fleet, revision 1", timeout=10)
    served.write_text("schema: 1\nname: fleet\nrevision: 2\n")
    pulled = hygiene_process("policy", "pull")
    assert pulled.code == 0, pulled.err
    assert pulled.out.splitlines() == [
        f"{url}: changed (fleet, revision 1 -> 2)",
        f"The running agent (process {agent.process.pid}) applies it now.",
    ]
    agent.said("policy loaded: fleet, revision 2", timeout=5)  # not in an hour (`every`)
    again = hygiene_process("policy", "pull")
    assert again.out.splitlines()[0] == f"{url}: unchanged (fleet, revision 2)"


def test_sighup_pulls_every_source_at_once(
    machine: Machine, start_agent: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    served = served_source(machine, tmp_path, "1h")
    agent = start_agent()
    agent.said("policy loaded: fleet, revision 1", timeout=10)
    served.write_text("schema: 1\nname: fleet\nrevision: 2\n")
    agent.process.send_signal(signal.SIGHUP)
    agent.said("policy loaded: fleet, revision 2", timeout=3)


def test_a_source_is_pulled_as_often_as_every_says(
    machine: Machine, start_agent: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    # Before, sources were looked at once a minute at most, whatever `every` said.
    served = served_source(machine, tmp_path, "2s")
    agent = start_agent()
    agent.said("policy loaded: fleet, revision 1", timeout=10)
    served.write_text("schema: 1\nname: fleet\nrevision: 2\n")
    agent.said("policy loaded: fleet, revision 2", timeout=8)


def test_a_changed_report_setting_applies_at_the_next_cycle(
    machine: Machine, start_agent: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    # Nothing changes in the results: before, they reached the new output only when each
    # was next rewritten, up to 10 minutes later.
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    agent = start_agent()
    agent.said("ssh_keys: pass")
    (machine.admin_policies / "20-report.yaml").write_text(
        f"schema: 1\nreport: {{prometheus_dir: '{textfiles}'}}\n"
    )
    prom = textfiles / prom_file(os.getuid())
    wait_for(prom.name, lambda: prom.exists() or None, 10)
    assert 'hygiene_check_status{check="ssh_keys"' in prom.read_text()


def test_policy_pull_says_a_refused_copy_and_a_refused_admin_file(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    served = served_source(machine, tmp_path, "1h")
    url = f"file://{served}"
    served.write_text("schema: 1\nname: fleet\nrevision: 3\n")
    assert hygiene_process("policy", "pull").out.splitlines() == [
        f"{url}: changed (fleet, revision 3)"
    ]
    served.write_text("schema: 1\nname: fleet\nrevision: 4\nchecks: {ssh_keys: {every: often}}\n")
    done = hygiene_process("policy", "pull")
    assert done.code == 1
    (line,) = done.out.splitlines()
    assert line.startswith(f"{url}: rejected: ") and "last good copy" in line, line
    assert done.err.count("was rejected") == 1  # said once

    # The admin file naming the sources refused on a device that never had a good copy of
    # it: no claim that there are no sources, and exit 1.
    (machine.admin_policies / "10-site.yaml").write_text("schema: 1\nname: [site\n")
    fresh = {**machine.env(), "XDG_STATE_HOME": str(tmp_path / "fresh-state")}
    done = hygiene_process("policy", "pull", env=fresh)
    assert done.code == 1
    assert done.out == (
        "No policy sources are in force: an admin policy that may name them was refused.\n"
    )
