"""idle_sessions and remote_sessions on real logins: sshd on 127.0.0.1, a real ssh client,
/run/utmp, libutempter records (tests/logins.py)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
import pytest

from agent.checks.remote_sessions import RemoteSessionsCheck, RemoteSessionsParams
from agent.durations import roughly
from agent.probes import sessions
from tests.conftest import Machine, Outcome
from tests.logins import Login, live_records, utempter_add_and_die


def findings(hygiene: Callable[..., Outcome], check: str) -> list[dict[str, Any]]:
    outcome = hygiene("check", "--json", "--only", check)
    assert outcome.err == ""
    (result,) = json.loads(outcome.out)["results"]
    assert result["status"] in ("pass", "fail"), result
    found: list[dict[str, Any]] = result["findings"]
    return found


def mine(found: list[dict[str, Any]], login: Login) -> list[dict[str, Any]]:
    return [
        f for f in found if f["subject"].endswith(login.terminal) or login.terminal in f["message"]
    ]


def test_durations_in_messages_are_rough_so_they_change_rarely() -> None:
    said = [roughly(timedelta(seconds=s)) for s in (30, 60, 540, 899, 3599, 7300, 86400 * 9)]
    assert said == [
        "less than a minute",
        "1 minute",
        "9 minutes",
        "10 minutes",
        "55 minutes",
        "2 hours",
        "9 days",
    ]


def test_an_open_ssh_login_is_a_session_with_its_terminal_and_host(ssh_login: Login) -> None:
    now = datetime.now(UTC)
    (session,) = [s for s in sessions(now) if s.terminal == ssh_login.terminal]
    assert (session.user, session.host) == (ssh_login.user, "127.0.0.1")
    assert now - timedelta(seconds=60) < session.started <= now + timedelta(seconds=1)
    assert session.pid is not None and psutil.pid_exists(session.pid)
    assert session.idle is not None and session.idle < timedelta(seconds=60)


def test_a_terminal_left_alone_is_reported_idle_until_someone_types(
    machine: Machine, ssh_login: Login, hygiene: Callable[..., Outcome]
) -> None:
    assert mine(findings(hygiene, "idle_sessions"), ssh_login) == []

    subprocess.run(["touch", "-a", "-d", "2 hours ago", f"/dev/{ssh_login.terminal}"], check=True)
    (idle,) = mine(findings(hygiene, "idle_sessions"), ssh_login)
    assert idle["subject"] == f"{ssh_login.user} on {ssh_login.terminal}"
    assert idle["message"] == (
        f"{ssh_login.user} is signed in on {ssh_login.terminal} from 127.0.0.1 and nothing has "
        "been typed there for 2 hours."
    )
    assert 7190 <= idle["evidence"]["idle_seconds"] <= 7260
    assert idle["advice"].startswith("If you are done there, sign out")

    ssh_login.type("echo typed")
    ssh_login.expect(rb"typed")
    assert mine(findings(hygiene, "idle_sessions"), ssh_login) == []


def test_max_idle_and_ignore_terminals_come_from_the_policy(
    machine: Machine, ssh_login: Login, hygiene: Callable[..., Outcome]
) -> None:
    subprocess.run(
        ["touch", "-a", "-d", "20 minutes ago", f"/dev/{ssh_login.terminal}"], check=True
    )
    assert len(mine(findings(hygiene, "idle_sessions"), ssh_login)) == 1
    policy = machine.user_policies / "idle.yaml"
    policy.write_text("schema: 1\nchecks:\n  idle_sessions: {max_idle: 30m}\n")
    assert mine(findings(hygiene, "idle_sessions"), ssh_login) == []
    policy.write_text(
        "schema: 1\nchecks:\n  idle_sessions: {max_idle: 5m, ignore_terminals: ['pts/*']}\n"
    )
    assert mine(findings(hygiene, "idle_sessions"), ssh_login) == []


def test_a_login_from_a_host_the_policy_does_not_list_is_reported(
    machine: Machine, ssh_login: Login, hygiene: Callable[..., Outcome]
) -> None:
    policy = machine.user_policies / "hosts.yaml"
    policy.write_text(
        "schema: 1\nchecks:\n  remote_sessions: {allowed_hosts: [10.0.0.0/8, build.example.org]}\n"
    )
    (stranger,) = mine(findings(hygiene, "remote_sessions"), ssh_login)
    assert stranger["subject"] == f"{ssh_login.user} from 127.0.0.1"
    assert stranger["message"].startswith(
        f"{ssh_login.user} is signed in on {ssh_login.terminal} from 127.0.0.1, this machine "
        "itself (a tunnel or a program here), which the policy does not list, since "
    )
    assert stranger["advice"].endswith(
        "change your password and remove keys you do not recognise from ~/.ssh/authorized_keys."
    )

    policy.write_text("schema: 1\nchecks:\n  remote_sessions: {allowed_hosts: [127.0.0.0/8]}\n")
    assert mine(findings(hygiene, "remote_sessions"), ssh_login) == []
    policy.write_text("schema: 1\nchecks:\n  remote_sessions: {allowed_hosts: [127.0.0.1]}\n")
    assert mine(findings(hygiene, "remote_sessions"), ssh_login) == []


def test_by_default_any_remote_login_is_reported(
    machine: Machine, ssh_login: Login, hygiene: Callable[..., Outcome]
) -> None:
    assert len(mine(findings(hygiene, "remote_sessions"), ssh_login)) == 1


def test_a_session_signed_in_longer_than_max_age_is_reported(
    machine: Machine, ssh_login: Login, hygiene: Callable[..., Outcome]
) -> None:
    (machine.user_policies / "age.yaml").write_text(
        "schema: 1\nchecks:\n  remote_sessions: {allowed_hosts: [127.0.0.1], max_age: 1s}\n"
    )
    time.sleep(1.5)
    (old,) = mine(findings(hygiene, "remote_sessions"), ssh_login)
    assert old["subject"] == f"{ssh_login.user} on {ssh_login.terminal}"
    assert old["message"] == (
        f"{ssh_login.user} has been signed in for less than a minute on {ssh_login.terminal}."
    )


def test_a_record_whose_process_ended_is_not_a_session(
    utmp: object, hygiene: Callable[..., Outcome], machine: Machine
) -> None:
    pid = utempter_add_and_die("gone.example")
    # utmp still holds it, and psutil lists it: the probe must be the one that drops it.
    assert any(int(u.pid or 0) == pid and u.host == "gone.example" for u in psutil.users())
    assert not any(s.host == "gone.example" for s in sessions(datetime.now(UTC)))
    assert not any("gone.example" in f["message"] for f in findings(hygiene, "remote_sessions"))


def test_without_login_records_the_session_checks_say_why_they_skip(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in most containers: no /run/utmp. Nothing seen must not read as "nobody signed in".
    monkeypatch.setattr("agent.probes._linux.UTMP_FILES", (str(machine.home / "no-utmp"),))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    for check in ("idle_sessions", "remote_sessions"):
        (result,) = json.loads(hygiene("check", "--json", "--only", check).out)["results"]
        assert result["status"] == "skip"
        assert result["notes"] == ["this system keeps no login records (/run/utmp is missing)"]


def test_local_terminals_are_not_remote_logins(
    utmp: object, machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    # What display managers, xterm, tmux, screen and a waiting mosh server write as "host";
    # psutil itself turns ":0" into "localhost".
    local = [":0", ":0.0", ":1", "tmux(4242).%0", ":S.0", "box:S.1", "mosh [4243]"]
    with live_records([*local, "192.168.1.20 via mosh [4244]"]) as pid:
        mine = [s for s in sessions(datetime.now(UTC)) if s.pid == pid]
        assert sorted(s.host for s in mine) == [""] * len(local) + ["192.168.1.20"]
        (machine.user_policies / "lan.yaml").write_text(
            "schema: 1\nchecks:\n  remote_sessions: {allowed_hosts: [192.168.1.0/24]}\n"
        )
        assert not any(
            "192.168.1.20" in f["message"] or "localhost" in f["message"]
            for f in findings(hygiene, "remote_sessions")
        )


@pytest.mark.parametrize(
    ("allowed", "host", "matches"),
    [
        ("0:0:0:0:0:0:0:1", "::1", True),
        ("::ffff:10.1.2.3", "10.1.2.3", True),
        ("10.0.0.0/8", "::ffff:10.1.2.3", True),
        ("*.example.org", "build.example.org", True),
        ("*.example.org", "example.org.evil.net", False),
        ("BUILD.example.org", "build.example.org", True),
        ("fe80::/10", "fe80::1%eth0", True),
        ("localhost", "127.0.0.1", False),  # compared as written: no DNS
    ],
)
def test_allowed_hosts_compare_addresses_as_addresses_and_names_as_patterns(
    allowed: str, host: str, matches: bool
) -> None:
    check = RemoteSessionsCheck(RemoteSessionsParams(allowed_hosts=[allowed]))
    assert check._allowed(host) is matches
