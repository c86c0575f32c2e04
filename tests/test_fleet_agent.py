"""What the fleet reports say of the agent itself, written by the real `hygiene run` and read
with the real sqlite3 shell (as osquery's ATC reads it): the policy layers in force with
their hash and signing key, what was refused or not pulled, the agent's version and its
heartbeat, why each skipped check is skipped, and the reports that could not be written."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent import __version__
from agent.checks import ALL_CHECKS
from agent.fleet import prom_file
from tests.conftest import Machine, Outcome
from tests.desktop import wait_for
from tests.test_agent_run import RunningAgent, start_agent
from tests.test_fleet import sql

__all__ = ["start_agent"]  # the running agent's fixture, shared with tests/test_agent_run.py

DOCS = Path(__file__).resolve().parents[1] / "docs" / "fleet.md"
CANARY = "canary-user-file-Wq51"


def report_of(machine: Machine) -> Path:
    return machine.state / "hygiene-agent" / "report"


def events_of(machine: Machine) -> list[dict[str, Any]]:
    text = (report_of(machine) / "events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def signed_admin_policy(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path, body: str
) -> tuple[Path, str]:
    """An admin policy signed with a fresh key whose public half is installed; the file and
    the key's id as `hygiene policy keygen` says it."""
    private = tmp_path / "admin-key"
    made = hygiene_process("policy", "keygen", "--out", str(private))
    assert made.code == 0, made.err
    key_id = re.search(r"key id:\s+([0-9a-f]+)", made.out)
    assert key_id is not None, made.out
    keys = machine.admin / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    shutil.copy(private.with_name("admin-key.pub"), keys / "admin.pub")
    path = machine.admin_policies / "10-acme.yaml"
    path.write_text(body)
    assert hygiene_process("policy", "sign", str(path), "--key", str(private)).code == 0
    return path, key_id[1]


def test_the_layers_in_force_with_hash_and_signer_reach_every_output(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    machine.keep_only("ssh_keys")
    body = f"schema: 1\nname: acme\nrevision: 7\nreport: {{prometheus_dir: '{textfiles}'}}\n"
    path, key_id = signed_admin_policy(machine, hygiene_process, tmp_path, body)
    ran = hygiene_process("run", "--once")
    assert ran.code == 0, ran.err

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    db = report_of(machine) / "hygiene.db"
    layers = sql(db, "SELECT level, source, name, revision, sha256, signer FROM hygiene_policy")
    assert [row["level"] for row in layers] == ["default", "user", "admin"]
    admin = layers[2]
    assert (admin["name"], admin["revision"], admin["sha256"], admin["signer"]) == (
        "acme",
        7,
        digest,
        key_id,
    )
    # A person's own file is reported by its hash alone: its path is theirs.
    assert layers[1]["source"] is None
    assert str(machine.home) not in json.dumps(layers)

    # policy show says the same hash and key, so an admin can compare the two.
    shown = json.loads(hygiene_process("policy", "show", "--json").out)
    assert {"sha256": digest, "signer": key_id}.items() <= shown["layers"][2].items()

    (agent_event,) = [e for e in events_of(machine) if e["event"] == "agent"]
    assert agent_event["version"] == __version__
    assert agent_event["uid"] == os.getuid()
    assert agent_event["layout"] == 2
    policy = agent_event["policy"]
    assert isinstance(policy, list)
    assert {"name": "acme", "revision": 7, "sha256": digest, "signer": key_id}.items() <= (
        policy[2].items()
    )

    prom = (textfiles / prom_file(os.getuid())).read_text()
    assert (
        f'hygiene_policy_layer_info{{level="admin",name="acme",revision="7",sha256="{digest}",'
        f'signer="{key_id}",uid="{os.getuid()}"}} 1'
    ) in prom
    assert f'hygiene_agent_info{{version="{__version__}",layout="2",uid="{os.getuid()}"}} 1' in prom
    assert sql(db, "SELECT version, uid, policy_name, policy_revision FROM hygiene_agent") == [
        {"version": __version__, "uid": os.getuid(), "policy_name": "acme", "policy_revision": 7}
    ]


def test_rejections_and_failed_pulls_are_reported_with_their_sentence(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    machine.keep_only("ssh_keys")
    gone = tmp_path / "nowhere" / "fleet.yaml"
    body = (
        f"schema: 1\nname: acme\nrevision: 2\nreport: {{prometheus_dir: '{textfiles}'}}\n"
        f"sources: {{urls: ['{gone.as_uri()}']}}\n"
    )
    path, _ = signed_admin_policy(machine, hygiene_process, tmp_path, body)
    assert hygiene_process("run", "--once").code == 0  # accepted once: its last good copy
    path.write_text(body.replace("revision: 2", "revision: 3"))  # changed, not signed again
    # The person's own file is broken, with a canary in it the admin must never read.
    (machine.user_policies / "20-mine.yaml").write_text(f"schema: 1\n{CANARY}: [\n")
    ran = hygiene_process("run", "--once")
    assert ran.code == 0, ran.err

    db = report_of(machine) / "hygiene.db"
    problems = sql(db, "SELECT kind, sentence FROM hygiene_problems ORDER BY kind")
    kinds = [row["kind"] for row in problems]
    assert kinds == ["pull_failed", "rejected", "user_file_refused"], problems
    pulled, rejected, mine = problems
    assert str(gone) in str(pulled["sentence"])
    assert str(rejected["sentence"]).startswith(f"{path} was rejected: ")
    assert "last good copy stays in force" in str(rejected["sentence"])
    assert mine["sentence"] is None
    assert sql(db, "SELECT problems FROM hygiene_agent") == [{"problems": 3}]

    prom = (textfiles / prom_file(os.getuid())).read_text()
    for kind, n in (("rejected", 1), ("pull_failed", 1), ("user_file_refused", 1)):
        assert f'hygiene_policy_problems{{kind="{kind}",uid="{os.getuid()}"}} {n}' in prom
    last = [e for e in events_of(machine) if e["event"] == "agent"][-1]
    assert [p["kind"] for p in last["problems"]] == [
        "user_file_refused",
        "rejected",
        "pull_failed",
    ]
    for output in (db, report_of(machine) / "events.jsonl", textfiles / prom_file(os.getuid())):
        for written in [output, *output.parent.glob(output.name + "-*")]:
            assert CANARY.encode() not in written.read_bytes(), written
            assert str(machine.home).encode() not in written.read_bytes(), written


def test_the_heartbeat_moves_every_cycle_when_nothing_changes(
    machine: Machine, start_agent: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    (machine.admin_policies / "10-report.yaml").write_text(
        f"schema: 1\nreport: {{prometheus_dir: '{textfiles}'}}\n"
    )
    agent = start_agent()  # ssh_keys every second, nothing else
    agent.said("ssh_keys: pass")
    db = report_of(machine) / "hygiene.db"

    def beat() -> int | None:
        try:
            rows = sql(db, "SELECT heartbeat_at_unix FROM hygiene_agent")
        except AssertionError:  # not written yet
            return None
        return int(str(rows[0]["heartbeat_at_unix"])) if rows else None

    first = wait_for("the first heartbeat", beat, 10)
    # Every check is in the report, a check turned off as skipped and by whom (the tests'
    # user file keeps only ssh_keys on), though the agent never runs it.
    reasons = {
        str(row["check_id"]): row["skip_reason"]
        for row in sql(db, "SELECT check_id, skip_reason FROM hygiene")
    }
    assert reasons["ssh_keys"] is None
    assert reasons["vpn"] == reasons["credentials"] == "disabled_by_user"
    assert len(reasons) == len(ALL_CHECKS) + 1  # and the "policy" pseudo-check
    wait_for("a later heartbeat", lambda: (beat() or 0) >= first + 2 or None, 10)
    prom = (textfiles / prom_file(os.getuid())).read_text()
    stamp = re.search(r"hygiene_agent_heartbeat_timestamp_seconds\{uid=\"\d+\"\} (\d+)", prom)
    assert stamp is not None and int(stamp[1]) >= first + 2
    # Nothing changed, so no event but the agent's first one and the checks' first ones.
    events = events_of(machine)
    assert [e["event"] for e in events].count("agent") == 1
    assert agent.stop()[0] == 0
    stopped = beat()
    time.sleep(2.5)
    assert beat() == stopped  # a stopped agent's heartbeat stands still: "stale" is a query


def test_each_skip_says_why_and_the_docs_queries_count_a_check_the_person_turned_off(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    (machine.admin_policies / "10-acme.yaml").write_text(
        "schema: 1\nchecks: {disk_encryption: {enabled: false}}\n"
    )
    (machine.user_policies / "10-mine.yaml").write_text(
        "schema: 1\nchecks: {credentials: {enabled: false}}\n"
    )
    assert hygiene_process("run", "--once").code == 0
    db = report_of(machine) / "hygiene.db"
    reasons = {
        str(row["check_id"]): row["skip_reason"]
        for row in sql(db, "SELECT check_id, skip_reason FROM hygiene WHERE status = 'skip'")
    }
    assert reasons["credentials"] == "disabled_by_user"
    assert reasons["disk_encryption"] == "disabled_by_admin"
    # No desktop here: no screen to lock.
    assert reasons["screen_lock"] == "not_applicable"
    assert sql(
        db, "SELECT count(*) AS n FROM hygiene WHERE status <> 'skip' AND skip_reason IS NOT NULL"
    ) == [{"n": 0}]

    query = next(
        line
        for line in DOCS.read_text().splitlines()
        if line.startswith("SELECT") and "('credentials')" in line
    )
    assert "disabled_by_user" in query
    assert sql(db, query) == []  # the person turned it off: the device fails the policy
    (machine.user_policies / "10-mine.yaml").unlink()
    assert hygiene_process("run", "--once").code == 0
    status = sql(db, "SELECT status FROM hygiene WHERE check_id = 'credentials'")
    assert sql(db, query) == ([{"1": 1}] if status == [{"status": "pass"}] else [])


def test_a_report_that_cannot_be_written_is_said_and_its_folder_never_made(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    missing = tmp_path / "node-exporter" / "textfile"
    (machine.admin_policies / "10-report.yaml").write_text(
        f"schema: 1\nreport: {{prometheus_dir: '{missing}'}}\n"
    )
    machine.keep_only("ssh_keys")
    ran = hygiene_process("run", "--once")
    assert ran.code == 0
    sentence = (
        f"Cannot write the Prometheus textfile {missing / prom_file(os.getuid())}: its folder "
        "does not exist, and the agent does not create it"
    )
    assert f"hygiene: {sentence}" in ran.err
    assert not missing.parent.exists()

    status = hygiene_process("status")
    assert "REPORT   Cannot write the Prometheus textfile" in status.out
    said = json.loads(hygiene_process("status", "--json").out)["report_errors"]
    assert len(said) == 1 and said[0].startswith(sentence)
    shown = hygiene_process("policy", "show")
    assert f"report not written: {sentence}" in shown.out
    # The outputs that can be written say it: the next cycle's osquery table and JSON lines.
    assert hygiene_process("run", "--once").code == 0
    db = report_of(machine) / "hygiene.db"
    assert sql(db, "SELECT kind FROM hygiene_problems") == [{"kind": "report_failed"}]
    assert any(
        p["kind"] == "report_failed"
        for e in events_of(machine)
        if e["event"] == "agent"
        for p in e["problems"]
    )

    missing.mkdir(parents=True)  # the admin makes it: the next cycle writes, and it is unsaid
    assert hygiene_process("run", "--once").code == 0
    assert (missing / prom_file(os.getuid())).exists()
    assert "REPORT" not in hygiene_process("status").out
    assert json.loads(hygiene_process("status", "--json").out)["report_errors"] == []
