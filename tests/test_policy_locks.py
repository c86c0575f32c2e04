"""What an admin locks, a user file cannot loosen: a locked check's snooze (issue 15, 10).

Before: a user policy `notify: {max_snooze: 3650d}` plus `hygiene snooze ssh_keys 3650d`
silenced a check the admin locked for ten years. The CLI runs on real files; the agent is a
real `hygiene run` on a real session bus with dunst.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Machine, Outcome
from tests.desktop import Desktop, wait_for
from tests.test_agent_run import RunningAgent, start_agent

__all__ = ["start_agent"]  # the fixture, shared with test_agent_run

LOCKS_SSH_KEYS = "schema: 1\nname: acme\nlocked: [ssh_keys]\n"
USER_TEN_YEARS = "schema: 1\nnotify: {max_snooze: 3650d}\n"


def snoozed_until(hygiene: Callable[..., Outcome]) -> datetime:
    (finding,) = json.loads(hygiene("status", "--json").out)["failing"]
    return datetime.fromisoformat(finding["snoozed_until"])


def test_a_locked_check_is_not_snoozed_beyond_the_admins_max_snooze(
    machine: Machine, hygiene: Callable[..., Outcome], make_key: Callable[..., Path]
) -> None:
    admin = machine.admin_policies / "acme.yaml"
    admin.write_text(LOCKS_SSH_KEYS)
    (machine.user_policies / "mine.yaml").write_text(USER_TEN_YEARS)
    machine.keep_only("ssh_keys")
    make_key(machine.ssh / "id_locked")
    assert hygiene("run", "--once").code == 0

    refused = hygiene("snooze", "ssh_keys", "3650d")
    assert refused.code == 2
    assert refused.err.splitlines()[-1] == (
        f"hygiene: a snooze of ssh_keys may last at most 7d: the admin policy {admin} locks "
        "it (its notify.max_snooze)"
    )
    # A finding of the locked check, by its id: the same limit.
    (finding,) = json.loads(hygiene("status", "--json").out)["failing"]
    by_id = hygiene("snooze", finding["id"], "30d")
    assert by_id.code == 2
    assert "a snooze of ssh_keys may last at most 7d" in by_id.err
    assert hygiene("snooze", finding["id"], "7d").code == 0
    assert snoozed_until(hygiene) - datetime.now(UTC) <= timedelta(days=7)
    # A check the admin does not lock follows the person's own max_snooze.
    assert hygiene("snooze", "vpn", "3650d").code == 0


def test_an_admin_locks_notify_settings(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    admin = machine.admin_policies / "acme.yaml"
    (machine.user_policies / "mine.yaml").write_text(USER_TEN_YEARS)
    for locks in ("[notify]", "[notify.max_snooze]"):
        admin.write_text(f"schema: 1\nnotify: {{max_snooze: 2d}}\nlocked: {locks}\n")
        outcome = hygiene("snooze", "vpn", "3d")
        assert outcome.code == 2
        assert f"changes notify.max_snooze, which the admin policy {admin} locks" in outcome.err
        assert "a snooze may last at most 2d" in outcome.err
        assert hygiene("snooze", "vpn", "2d").code == 0
        shown = json.loads(hygiene("policy", "show", "--json").out)
        assert shown["locked"] == {locks.strip("[]"): str(admin)}

    admin.write_text("schema: 1\nlocked: [notify.snooze_forever]\n")
    outcome = hygiene("policy", "validate", str(admin))
    assert outcome.code == 2
    assert "locked.0: unknown check 'notify.snooze_forever'" in outcome.err
    assert "or notify.KEY for one notify setting" in outcome.err


def test_the_agent_shortens_a_snooze_made_before_the_lock_and_its_snooze_action_obeys(
    machine: Machine,
    desktop: Desktop,
    start_agent: Callable[..., RunningAgent],
    hygiene_process: Callable[..., Outcome],
    make_key: Callable[..., Path],
) -> None:
    (machine.user_policies / "mine.yaml").write_text(USER_TEN_YEARS)
    make_key(machine.ssh / "id_snoozed_long")
    assert hygiene_process("snooze", "ssh_keys", "3650d").code == 0  # not locked yet

    (machine.admin_policies / "acme.yaml").write_text(
        "schema: 1\nname: acme\nnotify: {max_snooze: 2h}\nlocked: [ssh_keys]\n"
    )
    agent = start_agent()
    agent.said("snooze of ssh_keys shortened to 2h")
    until = snoozed_until(hygiene_process)
    assert until - datetime.now(UTC) <= timedelta(hours=2)

    # The notice's "Snooze 1 day" snoozes a locked check for the admin's 2h only.
    assert hygiene_process("unsnooze", "ssh_keys").code == 0
    wait_for("the notice on screen", lambda: desktop.showing() or None, 10)
    desktop.choose_action("Snooze 1 day")
    agent.said("snoozed for 2h", timeout=5)
    history = json.loads(hygiene_process("notifications", "--json").out)
    assert any(n["response"] == "snoozed it for 2h" for n in history)
    assert agent.stop()[0] == 0
