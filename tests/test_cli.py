"""The command line contract of DESIGN.md: output shapes and exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import Machine, Outcome

REPO = Path(__file__).resolve().parent.parent


def test_check_json_matches_the_design_shape(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    make_key(machine.ssh / "id_ed25519")
    outcome = hygiene("check", "--json", "--only", "ssh_keys")
    assert outcome.code == 1
    assert outcome.err == ""
    report = json.loads(outcome.out)
    assert set(report) == {"schema", "generated_at", "policy", "results"}
    assert report["schema"] == 1
    assert datetime.fromisoformat(report["generated_at"]).tzinfo is not None
    assert report["policy"] == {"name": "default", "revision": 1, "sources": ["built-in default"]}
    (result,) = report["results"]
    assert set(result) >= {"check", "status", "severity", "title", "findings", "error"}
    assert (result["check"], result["status"], result["severity"]) == ("ssh_keys", "fail", "high")
    assert result["error"] is None
    (finding,) = result["findings"]
    assert set(finding) == {"id", "subject", "message", "advice", "evidence", "severity"}
    assert finding["subject"] == "~/.ssh/id_ed25519"
    assert finding["evidence"]["reason"] == "no passphrase"
    assert len(finding["id"]) == 32 and int(finding["id"], 16) >= 0


def test_exit_codes(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    machine.keep_only("ssh_keys")  # who is signed in to this machine is not this test's
    assert hygiene("check").code == 0
    make_key(machine.ssh / "id_ed25519")
    assert hygiene("check").code == 1
    assert hygiene("check", "--only", "nope").code == 2
    assert hygiene("frobnicate").code == 2
    assert hygiene("check", "--colour").code == 2


def test_unknown_only_names_the_checks(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    outcome = hygiene("check", "--only", "ssh_key")
    assert outcome.err == (
        "hygiene: unknown check ssh_key; "
        "the checks are app_sessions, browser_passwords, credentials, disk_encryption, "
        "exposed_services, "
        "idle_sessions, privacy_settings, remote_sessions, screen_lock, ssh_authorized_keys, "
        "ssh_keys, updates, vpn\n"
    )


def test_only_may_be_given_more_than_once(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    outcome = hygiene("check", "--json", "--only", "ssh_keys", "--only", "idle_sessions")
    checks = [r["check"] for r in json.loads(outcome.out)["results"]]
    assert checks == ["idle_sessions", "ssh_keys"]


def test_usage_error_is_one_sentence(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    outcome = hygiene("check", "--colour")
    assert outcome.err.splitlines() == [
        "hygiene: unrecognized arguments: --colour (see `hygiene --help`)"
    ]


def test_table_shows_status_check_subject_and_advice(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    make_key(machine.ssh / "id_rsa", "rsa", bits=1024)
    outcome = hygiene("check", "--only", "ssh_keys")
    lines = outcome.out.splitlines()
    assert lines[0].split() == ["STATUS", "CHECK", "SUBJECT", "WHAT", "TO", "DO"]
    rows = [line for line in lines if line.startswith("FAIL")]
    assert len(rows) == 2
    assert all(row.split()[1:3] == ["ssh_keys", "~/.ssh/id_rsa"] for row in rows)
    assert "-> Add a passphrase: ssh-keygen -p -f ~/.ssh/id_rsa" in outcome.out
    assert "1024-bit RSA key" in outcome.out
    assert lines[-1].startswith("1 check: 0 passed, 1 failed (2 findings)")
    assert "\033[" not in outcome.out  # no colour when not on a terminal


def test_passing_table(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    outcome = hygiene("check", "--only", "ssh_keys")
    assert "PASS    ssh_keys  -        SSH private keys are protected" in outcome.out


def test_checks_lists_what_each_check_reads_and_keeps(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    entries = json.loads(hygiene("checks", "--json").out)
    assert [e["id"] for e in entries] == [
        "idle_sessions",
        "remote_sessions",
        "ssh_keys",
        "credentials",
        "vpn",
        "exposed_services",
        "ssh_authorized_keys",
        "screen_lock",
        "privacy_settings",
        "disk_encryption",
        "app_sessions",
        "browser_passwords",
        "updates",
    ]
    (ssh,) = [e for e in entries if e["id"] == "ssh_keys"]
    assert ssh["enabled"] is True and ssh["every"] == "5s"
    assert "never key material" in ssh["keeps"]
    assert any("~/.ssh" in read for read in ssh["reads"])
    assert ssh["settings"]["min_rsa_bits"] == 2048
    text = hygiene("checks").out
    assert text.startswith("idle_sessions  (on, high, every 15s)\n")
    assert "\nssh_keys  (on, high, every 5s)\n" in text
    assert "  keeps: the file name, key type and size" in text
    assert '  settings: enabled=true, severity=null, every="5s", timeout="10s",' in text
    assert "  Your SSH private keys are the keys to every machine that trusts them." in text


def test_committed_schema_is_current(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    outcome = hygiene("policy", "schema")
    committed = (REPO / "policies" / "schema.json").read_text()
    assert json.loads(outcome.out) == json.loads(committed), (
        "policies/schema.json is stale: run `hygiene policy schema > policies/schema.json`"
    )


def test_schema_describes_the_check_settings(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    schema = json.loads(hygiene("policy", "schema").out)
    assert schema["required"] == ["schema"]
    assert schema["additionalProperties"] is False
    ssh = schema["$defs"]["SshKeysParams"]["properties"]
    assert ssh["every"]["pattern"] == r"^\d+[smhd]$"
    assert ssh["min_rsa_bits"]["minimum"] == 1024


def test_every_example_policy_is_valid(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    files = sorted((REPO / "policies").rglob("*.yaml"))
    assert len(files) >= 2
    outcome = hygiene("policy", "validate", *map(str, files))
    assert outcome.code == 0, outcome.err


@pytest.mark.parametrize("entry", ["script", "module"])
def test_entry_points_run_an_audit(
    machine: Machine, make_key: Callable[..., Path], entry: str
) -> None:
    import subprocess

    make_key(machine.ssh / "id_ed25519")
    script = Path(sys.executable).with_name("hygiene")
    argv = [str(script)] if entry == "script" else [sys.executable, "-m", "agent"]
    done = subprocess.run(
        [*argv, "check", "--json", "--only", "ssh_keys"],
        env=machine.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=machine.home,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["results"][0]["findings"][0]["subject"] == "~/.ssh/id_ed25519"


def test_output_to_a_closed_pipe_is_quiet(machine: Machine) -> None:
    import subprocess

    script = Path(sys.executable).with_name("hygiene")
    reader, writer = os.pipe()
    os.close(reader)
    done = subprocess.run(
        [str(script), "checks"],
        env=machine.env(),
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(writer)
    assert "Traceback" not in done.stderr
    assert done.returncode == 0


@pytest.mark.parametrize(
    "limit", ["99999999999999999999", "1000001", "0", "-1", "²", "1e9", "9" * 5000, " "]
)
def test_a_limit_out_of_bounds_is_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], limit: str
) -> None:
    outcome = hygiene("notifications", "--limit", limit)
    assert outcome.code == 2
    assert outcome.out == ""
    (line,) = outcome.err.splitlines()
    assert line.startswith(
        "hygiene: argument --limit: expected a whole number from 1 to 1000000, got "
    )
    assert len(line) < 200


@pytest.mark.parametrize("limit", ["1", "1000000"])
def test_a_limit_within_bounds_lists_the_history(
    machine: Machine, hygiene: Callable[..., Outcome], limit: str
) -> None:
    outcome = hygiene("notifications", "--limit", limit, "--json")
    assert (outcome.code, json.loads(outcome.out)) == (0, [])


@pytest.mark.parametrize(
    ("duration", "said"),
    [
        ("99999999999999d", "a duration can be at most 3650d (ten years)"),
        ("9" * 40 + "s", "a duration can be at most 3650d (ten years)"),
        ("3651d", "a duration can be at most 3650d (ten years)"),
        ("1e400s", 'expected a duration such as "30s", "15m", "4h" or "7d"'),
        ("9" * 5000 + "d", 'expected a duration such as "30s", "15m", "4h" or "7d"'),
        ("0x10s", 'expected a duration such as "30s", "15m", "4h" or "7d"'),
    ],
)
def test_a_snooze_too_long_to_be_a_duration_is_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], duration: str, said: str
) -> None:
    outcome = hygiene("snooze", "ssh_keys", duration)
    assert outcome.code == 2
    (line,) = outcome.err.splitlines()
    assert line.startswith("hygiene: snooze: ") and said in line
    assert len(line) < 300


@pytest.mark.parametrize("duration", ["99999999999999d", "9999999999s", "1e400s"])
def test_a_policy_duration_out_of_bounds_is_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], duration: str
) -> None:
    for setting in (
        f"checks:\n  ssh_keys: {{every: {duration}}}\n",
        f"checks:\n  idle_sessions: {{max_idle: {duration}}}\n",
        f"notify: {{max_snooze: {duration}}}\n",
        f"sources: {{urls: ['https://example.org/p.yaml'], every: {duration}}}\n",
    ):
        policy = machine.home / "p.yaml"
        policy.write_text(f"schema: 1\nname: bounds\n{setting}")
        outcome = hygiene("policy", "validate", str(policy))
        assert outcome.code == 2, setting
        assert "Traceback" not in outcome.err
        assert "duration" in outcome.err, outcome.err


@pytest.mark.parametrize(
    ("duration", "said"),
    [
        ("0s", "a snooze of 0s would end as it starts; give at least 1m, such as 4h"),
        ("0m", "a snooze of 0s would end as it starts; give at least 1m, such as 4h"),
        ("30s", "a snooze lasts at least 1m, got 30s"),
        (
            "-5m",
            "a snooze cannot last a negative time (-5m): it lasts from now, at least 1m; to end "
            "one early, run hygiene unsnooze ssh_keys",
        ),
    ],
)
def test_a_snooze_shorter_than_a_minute_is_refused_with_why(
    machine: Machine, hygiene: Callable[..., Outcome], duration: str, said: str
) -> None:
    outcome = hygiene("snooze", "ssh_keys", duration)
    assert (outcome.code, outcome.out) == (2, "")
    assert outcome.err == f"hygiene: {said}\n"


def test_hygiene_alone_prints_the_short_help(machine: Machine) -> None:
    import subprocess

    done = subprocess.run(
        [str(Path(sys.executable).with_name("hygiene"))],
        env=machine.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")  # a usage error: nothing was done
    assert done.stderr.startswith("usage: hygiene ")
    assert "required" not in done.stderr
    for command in ("check", "status", "snooze", "network", "policy"):
        assert f"\n    {command} " in done.stderr, done.stderr


def test_a_network_label_is_bounded_and_a_missing_one_said_plainly(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    long = hygiene("network", "trust", "--label", "x" * 101)
    assert long.code == 2
    assert long.err == "hygiene: a network's label is 1 to 100 characters, got 101\n"
    missing = hygiene("network", "untrust", "--label", "home")
    assert (missing.code, missing.out) == (2, "")
    assert missing.err == (
        "hygiene: no trusted network is labelled 'home'; `hygiene network list` shows the labels\n"
    )


def test_status_says_when_results_were_recorded_and_whether_an_agent_keeps_them(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    """Results an agent recorded long ago, and that no agent keeps current, must not read as
    today's."""
    from agent.instance import InstanceLock

    machine.keep_only("ssh_keys")
    assert hygiene("run", "--once").code == 0
    alone = hygiene("status")
    assert "Results last recorded " in alone.out
    assert "no agent is running, so they may be out of date" in " ".join(alone.out.split())
    as_json = json.loads(hygiene("status", "--json").out)
    assert as_json["agent_running"] is False and as_json["last_recorded"]
    with InstanceLock(machine.state / "hygiene-agent"):
        kept = hygiene("status")
        said = " ".join(kept.out.split())
        assert f"the agent is running (process {os.getpid()})" in said
        assert json.loads(hygiene("status", "--json").out)["agent_running"] is True


@pytest.mark.parametrize("columns", [44, 60, 100])
def test_tables_never_break_inside_a_command_or_a_path(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    make_key: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    """What a person copies from the table (ssh-keygen, a path) pastes whole: a line may
    overflow, a word is never cut or split at its hyphens."""
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("LINES", "24")
    key = "id-ed25519-for-the-build-server-at-the-office"
    make_key(machine.ssh / key)
    machine.keep_only("ssh_keys")
    shown = f"~/.ssh/{key}"
    must_be_whole = ["ssh-keygen", shown, "ssh-agent"]
    audit = hygiene("check", "--only", "ssh_keys")
    assert audit.code == 1, audit.err
    assert hygiene("run", "--once").code == 0
    status = hygiene("status")
    catalogue = hygiene("checks")
    for outcome, words in (
        (audit, must_be_whole),
        (status, must_be_whole),
        (catalogue, ["ssh-keygen", "~/.ssh/authorized_keys", "wpa_supplicant"]),
    ):
        tokens = outcome.out.split()
        for word in words:
            assert any(word in token for token in tokens), (word, outcome.out)
        # Nothing ends a line with a hyphen it did not have: no word was split there.
        assert not [line for line in outcome.out.splitlines() if line.endswith("-")]
    # A command of several words stays on one line, to be copied whole.
    for outcome in (audit, status):
        lines = outcome.out.splitlines()
        assert any(f"ssh-keygen -p -f {shown}" in line for line in lines), outcome.out


def test_an_80_column_terminal_gets_lines_of_80_columns(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    make_key: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    make_key(machine.ssh / "id_ed25519")
    machine.keep_only("ssh_keys", "ssh_authorized_keys")
    (machine.ssh / "authorized_keys").write_text("")
    (machine.ssh / "authorized_keys").chmod(0o666)
    audit = hygiene("check")
    assert audit.code == 1, audit.err
    assert hygiene("run", "--once").code == 0
    for outcome in (audit, hygiene("status")):
        # Only a word longer than the line (this test's temporary paths) may overflow it.
        lines = outcome.out.splitlines()
        long = [line for line in lines if len(line) > 80 and len(line.split()) > 1]
        assert long == [], outcome.out


@pytest.mark.parametrize("width", [20, 30, 44, 60])
@pytest.mark.parametrize(
    ("text", "command"),
    [
        (
            "If this is a network you trust, mark it once: hygiene network trust --label NAME",
            "hygiene network trust --label NAME",
        ),
        (
            "keep it in your keyring (for git: git config --global credential.helper "
            "libsecret; for curl: pass it with --netrc-file).",
            "git config --global credential.helper libsecret",
        ),
        ("Lock it when idle: xss-lock -- i3lock, in your session start.", "xss-lock -- i3lock"),
        ("Sessions as `w` shows them, or `loginctl list-sessions`.", "`loginctl list-sessions`"),
    ],
)
def test_a_wrapped_line_never_splits_a_command_it_quotes(
    text: str, command: str, width: int
) -> None:
    from agent.text import wrap

    lines = wrap(text, width)
    assert any(command in line for line in lines), lines
    assert " ".join(lines) == text  # nothing lost, nothing added


def test_policy_show_prints_other_languages_as_text_and_escapes_controls(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    machine.user_policies.mkdir(parents=True, exist_ok=True)
    (machine.user_policies / "10-words.yaml").write_text(
        'schema: 1\nname: "Ünïcode café"\nchecks:\n  vpn:\n'
        '    trusted_networks: ["Café Wi-Fi", "evil\\u202egnp.exe"]\n'
        '    advice: "Connectez-vous à votre VPN, même à l\u2019hôtel"\n',
        encoding="utf-8",
    )
    shown = hygiene("policy", "show")
    assert shown.code == 0, shown.err
    assert shown.out.startswith("name: Ünïcode café\n")
    assert '    advice: "Connectez-vous à votre VPN, même à l\u2019hôtel"  # ' in shown.out
    # The override is shown as its escape, never acted on.
    assert '    trusted_networks: ["Café Wi-Fi", "evil\\u202egnp.exe"]  # ' in shown.out
    assert "\u202e" not in shown.out
