"""Layering: built-in default, user files, --policy files, admin files; admin locks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import Machine, Outcome


def shown(hygiene: Callable[..., Outcome], *argv: str) -> dict[str, Any]:
    outcome = hygiene("policy", "show", "--json", *argv)
    assert outcome.code == 0, outcome.err
    data: dict[str, Any] = json.loads(outcome.out)
    return data


def test_builtin_default_alone(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    policy = shown(hygiene)
    assert (policy["name"], policy["revision"]) == ("default", 1)
    assert policy["sources"] == ["built-in default"]
    ssh = policy["checks"]["ssh_keys"]
    assert ssh["settings"]["enabled"] is True
    assert ssh["settings"]["every"] == "5s"  # the check's own default
    assert "every" not in ssh["from"]
    assert ssh["from"]["advice"] == "built-in default"


def test_user_admin_and_policy_argument_layer_in_order(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    user = machine.user_policies / "10-mine.yaml"
    user.write_text("schema: 1\nname: mine\nchecks:\n  ssh_keys: {every: 2h, min_rsa_bits: 3072}\n")
    later_user = machine.user_policies / "20-later.yml"
    later_user.write_text("schema: 1\nchecks:\n  ssh_keys: {every: 3h}\n")
    (machine.user_policies / "README.txt").write_text("not a policy, not read\n")
    admin = machine.admin_policies / "acme.yaml"
    admin.write_text(
        "schema: 1\nname: acme\nrevision: 7\nchecks:\n  ssh_keys: {severity: critical}\n"
    )
    draft = machine.home / "draft.yaml"
    draft.write_text("schema: 1\nchecks:\n  ssh_keys: {timeout: 30s}\n")

    policy = shown(hygiene)
    assert policy["sources"] == ["built-in default", str(user), str(later_user), str(admin)]
    assert (policy["name"], policy["revision"]) == ("acme", 7)
    settings, origin = (
        policy["checks"]["ssh_keys"]["settings"],
        policy["checks"]["ssh_keys"]["from"],
    )
    assert settings["every"] == "3h" and origin["every"] == str(later_user)
    assert settings["min_rsa_bits"] == 3072 and origin["min_rsa_bits"] == str(user)
    assert settings["severity"] == "critical" and origin["severity"] == str(admin)

    outcome = hygiene("check", "--json", "--only", "ssh_keys", "--policy", str(draft))
    report = json.loads(outcome.out)
    assert report["policy"]["sources"] == [
        "built-in default",
        str(user),
        str(later_user),
        str(draft),
        str(admin),
    ]
    assert report["results"][0]["severity"] == "critical"


def test_admin_lock_wins_over_user_files_with_a_warning(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    (machine.admin_policies / "acme.yaml").write_text(
        "schema: 1\nlocked: [ssh_keys]\nchecks:\n  ssh_keys: {min_rsa_bits: 4096}\n"
    )
    user = machine.user_policies / "mine.yaml"
    user.write_text("schema: 1\nchecks:\n  ssh_keys: {enabled: false, min_rsa_bits: 1024}\n")
    outcome = hygiene("policy", "show", "--json")
    policy = json.loads(outcome.out)
    settings = policy["checks"]["ssh_keys"]["settings"]
    assert settings["enabled"] is True
    assert settings["min_rsa_bits"] == 4096
    assert policy["locked"] == {"ssh_keys": str(machine.admin_policies / "acme.yaml")}
    assert outcome.err == (
        f"hygiene: warning: {user} changes ssh_keys, which the admin policy "
        f"{machine.admin_policies / 'acme.yaml'} locks; those settings are ignored.\n"
    )
    # The check really runs, as the admin wants, not skipped as the user file asked.
    check = hygiene("check", "--json", "--only", "ssh_keys")
    assert json.loads(check.out)["results"][0]["status"] == "pass"
    assert "locks; those settings are ignored" in check.err


def test_locked_in_a_user_file_is_ignored_with_a_warning(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    user = machine.user_policies / "mine.yaml"
    user.write_text("schema: 1\nlocked: [ssh_keys]\n")
    outcome = hygiene("policy", "show", "--json")
    assert json.loads(outcome.out)["locked"] == {}
    assert f"{user}: locked is only honoured in admin policy files" in outcome.err


def test_disabled_check_is_skipped_naming_the_file(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    user = machine.user_policies / "quiet.yaml"
    user.write_text("schema: 1\nchecks:\n  ssh_keys:\n    enabled: false\n")
    outcome = hygiene("check", "--json", "--only", "ssh_keys")
    assert outcome.code == 0
    result = json.loads(outcome.out)["results"][0]
    assert result["status"] == "skip"
    assert result["notes"] == [f"disabled by {user}"]


def test_policy_show_text_names_where_each_setting_came_from(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    user = machine.user_policies / "mine.yaml"
    user.write_text("schema: 1\nchecks:\n  ssh_keys: {every: 2h}\n")
    outcome = hygiene("policy", "show")
    assert outcome.code == 0
    lines = outcome.out.splitlines()
    assert "  ssh_keys:" in lines
    assert f'    every: "2h"  # {user}' in lines
    assert "    min_rsa_bits: 2048  # the check's default" in lines
    assert f"  - {user}" in lines


def test_advice_from_policy_reaches_the_report(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    (machine.admin_policies / "acme.yaml").write_text(
        "schema: 1\nchecks:\n  ssh_keys:\n    advice: Ask the help desk, extension 4357.\n"
    )
    result = json.loads(hygiene("check", "--json", "--only", "ssh_keys").out)["results"][0]
    assert result["advice"] == "Ask the help desk, extension 4357."


def test_notify_settings_layer_severity_by_severity(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    assert shown(hygiene)["notify"]["settings"]["grace"] == {
        "critical": "0s",
        "high": "0s",
        "medium": "1h",
        "low": "1d",
    }
    user = machine.user_policies / "mine.yaml"
    user.write_text("schema: 1\nnotify:\n  grace: {low: 2d}\n  quiet_hours: 22:00-07:30\n")
    admin = machine.admin_policies / "acme.yaml"
    admin.write_text("schema: 1\nnotify:\n  grace: {high: 15m, medium: null}\n")
    notify = shown(hygiene)["notify"]
    assert notify["settings"]["grace"] == {
        "critical": "0s",
        "high": "15m",
        "medium": None,
        "low": "2d",
    }
    assert notify["settings"]["quiet_hours"] == "22:00-07:30"
    assert notify["from"] == {"grace": str(admin), "quiet_hours": str(user)}
    assert '  quiet_hours: "22:00-07:30"  # ' + str(user) in hygiene("policy", "show").out
