"""A broken policy file never stops the agent (issue 15, item 5).

Real `hygiene run` processes on a person's folders: the last good copy of each file is kept
in the state folder and survives restarts; a file that never was good is left out; the
refusal is said in the log, `hygiene status`, one notification and the fleet reports, while
`hygiene check` still exits 2 on it (it is the command that shows the error).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import stat
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import Machine, Outcome
from tests.desktop import wait_for
from tests.test_agent_run import RunningAgent, agents

GOOD = "schema: 1\nchecks:\n  ssh_keys: {every: 1s}\n"
BROKEN_USER = "schema: 1\nchecks:\n  ssh_keys: {every: often}\n"
BROKEN_ADMIN = "schema: 1\nname: !!binary aGk=\nreport: {details: true}\n"


@pytest.fixture
def start(machine: Machine, tmp_path: Path) -> Iterator[Callable[[], RunningAgent]]:
    env = {
        k: v for k, v in machine.env().items() if k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    }
    with agents(tmp_path) as launch:
        yield lambda: launch(env)


def policy_lines(hygiene_process: Callable[..., Outcome]) -> list[str]:
    status = json.loads(hygiene_process("status", "--json").out)
    return list(status["policy_rejected"])


def test_broken_user_and_admin_files_at_start_keep_the_agent_auditing(
    machine: Machine,
    start: Callable[[], RunningAgent],
    hygiene_process: Callable[..., Outcome],
    make_key: Callable[..., Path],
) -> None:
    machine.keep_only("ssh_keys")
    user = machine.user_policies / "fast.yaml"
    user.write_text(GOOD)
    first = start()
    first.said("ssh_keys: pass")
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(10) == 0
    kept = machine.state / "hygiene-agent" / "policy" / "accepted" / "user_fast.yaml.yaml"
    assert kept.read_text() == GOOD
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    # Both broken before the next start: it used to exit 2 at every start, for good.
    user.write_text(BROKEN_USER)
    admin = machine.admin_policies / "acme.yaml"
    admin.write_text(BROKEN_ADMIN)
    agent = start()
    line = agent.said(f"{user}, line 3")
    assert "its last good copy stays in force" in line
    assert "uses the YAML tag !!binary" in agent.said(f"{admin}, line 2: name")
    make_key(machine.ssh / "id_while_broken")
    agent.said("ssh_keys: appeared")  # still audited every second: the last good copy
    assert agent.process.poll() is None

    said = policy_lines(hygiene_process)
    assert any(s.startswith(f"{user}, line 3: checks.ssh_keys.every") for s in said), said
    assert any(s.startswith(f"{admin}, line 2: name") and "left out" in s for s in said), said
    text = " ".join(hygiene_process("status").out.split())
    assert f"POLICY {user}, line 3: checks.ssh_keys.every" in text
    notices = json.loads(hygiene_process("notifications", "--json").out)
    refused = [n for n in notices if n["check"] == "policy"]
    assert len(refused) == 1
    # One short notice for both; their sentences are in status (above) and the log.
    assert refused[0]["title"] == "2 policy files were not applied"
    assert refused[0]["body"] == "Each was refused as written. Details: hygiene status"
    check = hygiene_process("check")
    assert check.code == 2
    assert check.err.startswith(f"hygiene: {user}, line 3: checks.ssh_keys.every")

    # The fleet reports say it: a failing "policy" row (counts only without details).
    database = machine.state / "hygiene-agent" / "report" / "hygiene.db"
    row = wait_for(
        "the policy row in the osquery report",
        lambda: _policy_row(database),
        10,
    )
    assert row == ("fail", 2)

    # A restart (SIGKILL, as a crash would) starts on the same copies, told once only.
    agent.process.kill()
    agent.process.wait(10)
    again = start()
    again.said("ssh_keys: fail")
    notices = json.loads(hygiene_process("notifications", "--json").out)
    assert len([n for n in notices if n["check"] == "policy"]) == 1

    # Mended: applied within the five-second poll, and the refusals are gone.
    user.write_text("schema: 1\nchecks:\n  ssh_keys: {every: 2s}\n")
    admin.write_text("schema: 1\nname: acme\n")
    again.said("policy loaded: acme")
    assert wait_for("the refusals to go", lambda: policy_lines(hygiene_process) == [] or None, 10)
    assert "POLICY" not in hygiene_process("status").out
    assert hygiene_process("check").code in (0, 1)
    again.process.send_signal(signal.SIGTERM)
    assert again.process.wait(10) == 0


def _policy_row(database: Path) -> tuple[str, int] | None:
    if not database.exists():
        return None
    conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT status, findings FROM hygiene WHERE check_id = 'policy'"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return (str(row[0]), int(row[1])) if row else None


def test_a_file_that_never_was_good_is_left_out_and_run_once_audits(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    machine.keep_only("ssh_keys")
    broken = machine.user_policies / "zz.yaml"
    broken.write_text("schema: 1\nchecks: {ssh_keys: {enabled: maybe}}\n")
    outcome = hygiene_process("run", "--once")
    assert outcome.code == 0, outcome.err
    assert f"hygiene: warning: {broken}, line 2: checks.ssh_keys.enabled" in outcome.err
    assert "left out until it is mended" in outcome.err
    assert "Traceback" not in outcome.err
    assert not (
        machine.state / "hygiene-agent" / "policy" / "accepted" / "user_zz.yaml.yaml"
    ).exists()
    assert hygiene_process("check").code == 2


def test_a_damaged_policy_state_is_moved_aside_with_one_warning(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    folder = machine.state / "hygiene-agent" / "policy"
    folder.mkdir(parents=True, mode=0o700)
    for damaged in ('{"names": [1], "sources": 5}', "{not json", '"a text"'):
        (folder / "state.json").write_text(damaged)
        outcome = hygiene_process("policy", "show")
        assert outcome.code == 0, outcome.err
        assert "Traceback" not in outcome.err
        warnings = [line for line in outcome.err.splitlines() if "state.json" in line]
        assert len(warnings) == 1, outcome.err
        assert "could not be used" in warnings[0] and "moved to" in warnings[0]
        assert not (folder / "state.json").exists()
        again = hygiene_process("policy", "show")
        assert "state.json" not in again.err
    assert len(list(folder.glob("state.json.damaged-*"))) == 3  # none overwritten


def test_a_running_agent_survives_any_admin_file_on_reload(
    machine: Machine, start: Callable[[], RunningAgent], hygiene_process: Callable[..., Outcome]
) -> None:
    """`sources: {urls: [!!binary ...]}` used to pass validation and kill the agent on its
    next reload; now each hostile file is one log line and the agent goes on."""
    machine.keep_only("ssh_keys")
    (machine.user_policies / "fast.yaml").write_text(GOOD)
    agent = start()
    admin = machine.admin_policies / "acme.yaml"
    hostile = {
        "binary url": "schema: 1\nsources: {urls: [!!binary aHR0cHM6Ly9leGFtcGxlLm9yZy8=]}\n",
        "python tag": "schema: 1\nname: !!python/object/apply:os.system ['true']\n",
        "alias bomb": "schema: 1\na: &a [x, x]\nb: [*a, *a]\n",
        "not text": "schema: 1\n\x00\x01\x02",
        "too many": "schema: 1\nlocked: [" + "vpn, " * 12_000 + "vpn]\n",
    }

    def refused(times: int) -> bool | None:
        return agent.log().count(f"not applied as written: {admin}") == times or None

    for n, (case, text) in enumerate(hostile.items()):
        admin.write_bytes(text.encode())
        agent.process.send_signal(signal.SIGHUP)
        wait_for(f"the refusal of the {case}", partial(refused, n + 1), 10, agent.log_path)
        assert agent.process.poll() is None, case
        admin.write_text("schema: 1\n")  # mended between cases, so each is a new refusal
        agent.process.send_signal(signal.SIGHUP)
        wait_for("the refusal to go", lambda: policy_lines(hygiene_process) == [] or None, 10)
    assert hygiene_process("status").code in (0, 1)


def test_files_valid_alone_but_not_together_leave_the_higher_one_out(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    machine.keep_only("privacy_settings")
    setting = (
        "{title: t, why: w, advice: a, read: [{gsettings: org.gnome.desktop.privacy, "
        "key: remember-recent-files, equals: false}]}"
    )
    (machine.user_policies / "10-mine.yaml").write_text(
        f"schema: 1\nchecks:\n  privacy_settings:\n    settings: {{mine: {setting}}}\n"
        "    ignore: [mine]\n"
    )
    later = machine.user_policies / "20-later.yaml"
    later.write_text("schema: 1\nchecks:\n  privacy_settings:\n    settings: {}\n")
    assert hygiene_process("check").code == 2  # each is valid, together they are not
    outcome = hygiene_process("run", "--once")
    assert outcome.code == 0, outcome.err
    (line,) = [x for x in outcome.err.splitlines() if "ignore names mine" in x]
    assert "left out until it is mended" in line
    said = policy_lines(hygiene_process)
    assert len(said) == 1 and "ignore names mine" in said[0]


def test_editors_lock_and_swap_files_in_policies_d_are_not_policies(
    machine: Machine,
    start: Callable[[], RunningAgent],
    hygiene_process: Callable[..., Outcome],
) -> None:
    machine.keep_only("ssh_keys")
    machine.admin_policies.mkdir(parents=True, exist_ok=True)
    (machine.user_policies / "fast.yaml").write_text(GOOD)
    agent = start()
    agent.said("ssh_keys: pass")
    # What Emacs leaves while a file is edited (a dangling symlink), and a hidden draft.
    for folder in (machine.user_policies, machine.admin_policies):
        (folder / ".#fast.yaml").symlink_to("root@host.1234:1700000000")
        (folder / ".draft.yaml").write_text(BROKEN_USER)
    agent.process.send_signal(signal.SIGHUP)
    agent.said("policy loaded: default")
    check = hygiene_process("check")
    assert check.code in (0, 1), check.err
    assert "does not exist" not in check.err
    assert policy_lines(hygiene_process) == []
    notices = json.loads(hygiene_process("notifications", "--json").out)
    assert [n for n in notices if n["check"] == "policy"] == []
    assert "not applied" not in agent.log()


def test_a_policy_file_with_the_longest_legal_name_gets_a_last_good_copy(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    machine.keep_only("ssh_keys")
    name = "é" * 60 + "x" * (250 - 120) + ".yaml"  # 255 bytes, the most a name holds
    assert len(name.encode()) == 255
    user = machine.user_policies / name
    user.write_text(GOOD)
    first = hygiene_process("run", "--once")
    assert first.code in (0, 1), first.err
    assert "could not be kept" not in first.err
    user.write_text(BROKEN_USER)
    again = hygiene_process("run", "--once")
    assert "could not be kept" not in again.err
    assert f"{user}, line 3: checks.ssh_keys.every" in again.err
    assert "its last good copy stays in force" in again.err


def test_a_deleted_policy_file_written_again_broken_does_not_bring_back_its_old_content(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    machine.keep_only("ssh_keys")
    machine.admin_policies.mkdir(parents=True, exist_ok=True)
    user = machine.user_policies / "fast.yaml"
    admin = machine.admin_policies / "acme.yaml"
    user.write_text(GOOD)
    admin.write_text("schema: 1\nname: acme\nlocked: [ssh_keys]\n")
    assert hygiene_process("run", "--once").code in (0, 1)
    assert "locked" in hygiene_process("policy", "show").out
    user.unlink()
    admin.unlink()
    assert hygiene_process("run", "--once").code in (0, 1)
    accepted = machine.state / "hygiene-agent" / "policy" / "accepted"
    assert [p.name for p in accepted.iterdir() if "fast" in p.name or "acme" in p.name] == []

    user.write_text(BROKEN_USER)
    admin.write_text(BROKEN_ADMIN)
    again = hygiene_process("run", "--once")
    for path in (user, admin):
        (line,) = [line for line in again.err.splitlines() if f"{path}, line" in line]
        assert "left out until it is mended (no earlier copy of it was good)" in line
    shown = json.loads(hygiene_process("policy", "show", "--json").out)
    assert shown["locked"] == {}  # the old lock is not revived


def test_policy_show_and_checks_show_the_policy_in_force_and_name_the_refusal(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    machine.admin_policies.mkdir(parents=True, exist_ok=True)
    user = machine.user_policies / "fast.yaml"
    admin = machine.admin_policies / "acme.yaml"
    user.write_text(GOOD)
    admin.write_text("schema: 1\nname: acme\nlocked: [vpn]\n")
    assert hygiene_process("policy", "show").code == 0  # read as the agent: copies kept
    user.write_text(BROKEN_USER)
    admin.write_text(BROKEN_ADMIN)

    text = hygiene_process("policy", "show")
    assert text.code == 1
    assert "name: acme" in text.out  # the admin file's last good copy, locks and all
    rejected = [line for line in text.out.splitlines() if line.startswith("rejected: ")]
    assert len(rejected) == 2
    assert any(f"{user}, line 3" in r and "last good copy stays in force" in r for r in rejected)
    assert any(f"{admin}, line 2: name" in r for r in rejected)
    data = json.loads(hygiene_process("policy", "show", "--json").out)
    assert data["locked"] == {"vpn": f"{admin} (the last good copy)"}
    assert data["checks"]["ssh_keys"]["settings"]["every"] == "1s"
    assert len(data["admin"]["rejected"]) == 2

    checks = hygiene_process("checks")
    assert checks.code == 0
    assert "ssh_keys" in checks.out
    assert f"hygiene: warning: {user}, line 3: checks.ssh_keys.every" in checks.err
    # The commands that exist to show the error still stop on it.
    assert hygiene_process("check").code == 2
    assert hygiene_process("policy", "validate", str(user)).code == 2
