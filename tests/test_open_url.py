"""`hygiene open-url URL`, the handler of the page's `hygiene:` links: a valid link does
what `hygiene snooze` / `unsnooze` does, within the same limits, and says so on the desktop;
every other URL changes nothing and is one line on stderr, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import links
from agent.store import Store
from tests.conftest import Machine, Outcome, token_page
from tests.desktop import Desktop
from tests.test_light_commands import heavy, imported

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
REFUSAL = "hygiene: refused a hygiene: link: "


def state_dir(machine: Machine) -> Path:
    return machine.state / "hygiene-agent"


def page_token(machine: Machine) -> str:
    """A token as writing the page makes one."""
    return token_page(state_dir(machine))


def current(machine: Machine) -> str:
    """The token the page holds now (each link's action gives it a new one)."""
    token = links.current_token(state_dir(machine))
    assert token is not None
    return token


def link(token: str, name: links.ActionName, target: str, length: str | None = None) -> str:
    return links.action_url(token, links.Action(name, target, length))


def snoozes(machine: Machine) -> dict[str, datetime]:
    with Store.open(state_dir(machine)) as store:
        return store.snoozes(T0)


def snapshot(machine: Machine) -> dict[str, bytes]:
    """Every file of the state folder, as it is."""
    return {str(p): p.read_bytes() for p in sorted(state_dir(machine).rglob("*")) if p.is_file()}


def test_a_valid_link_snoozes_as_hygiene_snooze_does(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    token = page_token(machine)
    outcome = hygiene("open-url", link(token, "snooze", "ssh_keys", "1d"))
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith("ssh_keys is snoozed until ")
    (until,) = snoozes(machine).values()
    assert timedelta(hours=23, minutes=59) < until - datetime.now(UTC) <= timedelta(days=1)

    # Each link's token acts once: opened again, or read off the process list, it is refused.
    again = hygiene("open-url", link(token, "snooze", "ssh_keys", "1d"))
    assert again.code == 2 and "token is not the current page's" in again.err
    outcome = hygiene("open-url", link(current(machine), "unsnooze", "ssh_keys"))
    assert (outcome.code, outcome.out) == (0, "ssh_keys is no longer snoozed.\n")
    assert snoozes(machine) == {}
    outcome = hygiene("open-url", link(current(machine), "unsnooze", "ssh_keys"))
    assert (outcome.code, outcome.out) == (0, "ssh_keys was not snoozed.\n")


def test_one_link_opened_four_times_at_once_acts_once(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    url = link(page_token(machine), "snooze", "ssh_keys", "1d")
    script = Path(sys.executable).with_name("hygiene")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "agent"]
    opened = [
        subprocess.Popen(
            [*command, "open-url", "--", url],
            env=machine.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    codes = sorted(p.wait(60) for p in opened)
    refusals = [p.stderr.read().decode() for p in opened if p.stderr is not None]
    assert codes == [0, 2, 2, 2], refusals
    assert sum("token is not the current page's" in r for r in refusals) == 3


def test_a_link_keeps_to_the_policy_limits_as_the_command_does(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    (machine.user_policies / "50-short.yaml").write_text("schema: 1\nnotify: {max_snooze: 2h}\n")
    token = page_token(machine)
    command = hygiene("snooze", "ssh_keys", "1d")
    outcome = hygiene("open-url", link(token, "snooze", "ssh_keys", "1d"))
    assert (outcome.code, outcome.out) == (2, "")
    assert command.code == 2
    assert outcome.err.splitlines()[-1] == command.err.splitlines()[-1]
    assert "at most 2h" in outcome.err
    assert snoozes(machine) == {}

    # The refused link used its token up, as any link does: the page's new one acts.
    assert hygiene("open-url", link(current(machine), "snooze", "ssh_keys", "1h")).code == 0
    assert list(snoozes(machine)) == ["ssh_keys"]


def test_a_link_to_a_target_no_one_knows_is_the_commands_refusal(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    token = page_token(machine)
    outcome = hygiene("open-url", link(token, "snooze", "no_such_check", "1h"))
    assert outcome.code == 2
    assert outcome.err.splitlines()[-1].startswith("hygiene: no_such_check is neither a check")
    assert snoozes(machine) == {}


def refused_links(token: str, old: str) -> dict[str, str]:
    valid = link(token, "snooze", "ssh_keys", "1d")
    return {
        "an old token": link(old, "snooze", "ssh_keys", "1d"),
        "a wrong token": valid.replace(token, token[::-1]),
        "another action": valid.replace(":snooze", ":erase"),
        "an extra parameter": valid + "&and=more",
        "a duplicated target": valid + "&target=vpn",
        "a length the page does not offer": valid.replace("1d", "30d"),
        "another scheme": "https" + valid.removeprefix("hygiene"),
        "a percent-escaped target": valid.replace("ssh_keys", "ssh%5Fkeys"),
        "a newline and a forged line": valid + "\nhygiene: snoozed everything",
        "an escape sequence": valid + "\x1b]0;owned\x07",
        "a NUL": valid.replace("&for", "\0&for"),
        "a huge URL": valid + "&" + "x" * 200_000,
        "a URL that looks like an option": "--help",
        "nothing": "",
    }


@pytest.mark.parametrize(
    "case",
    list(refused_links("T" * 43, "O" * 43)),
)
def test_a_link_that_is_not_exactly_a_page_link_changes_nothing_and_says_one_line(
    machine: Machine, hygiene: Callable[..., Outcome], case: str
) -> None:
    old = page_token(machine)
    token = page_token(machine)  # the page was written again: `old` is stale
    assert hygiene("snooze", "vpn", "1h").code == 0  # a store with something in it
    before = snapshot(machine)

    url = refused_links(token, old)[case]
    outcome = hygiene("open-url", "--", url)
    assert (outcome.code, outcome.out) == (2, "")
    assert outcome.err.count("\n") == 1, outcome.err
    assert outcome.err.startswith(REFUSAL)
    assert "Traceback" not in outcome.err
    assert token not in outcome.err and old not in outcome.err
    assert snapshot(machine) == before


def test_no_page_yet_means_no_link_acts(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    outcome = hygiene("open-url", link("T" * 43, "snooze", "ssh_keys", "1d"))
    assert (outcome.code, outcome.err) == (
        2,
        REFUSAL + "no page has been written yet, so no link is valid\n",
    )
    assert not (state_dir(machine) / "store.db").exists()


def test_the_console_script_refuses_without_a_traceback_and_loads_little(
    machine: Machine,
) -> None:
    token = page_token(machine)
    for url in (link(token, "snooze", "ssh_keys", "1d") + "&x=1", "hygiene:\udcff", "-x"):
        done, modules = imported(machine, "open-url", "--", url)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(REFUSAL), done.stderr
        assert done.stderr.count("\n") == 1
        assert heavy(modules) == [], url
    assert not (state_dir(machine) / "store.db").exists()


def test_a_snooze_from_a_link_loads_no_check_or_policy_model(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    token = page_token(machine)
    # The policy's limits are noted by the first load; a link then answers from the note.
    assert hygiene_process("snooze", "vpn", "1h").code == 0
    done, modules = imported(machine, "open-url", link(token, "snooze", "ssh_keys", "1d"))
    assert done.returncode == 0, done.stderr
    # Telling the person on the desktop is notify's work, with logging and the result models;
    # ssh_keys has not run here, and the list of check names says it is a check (as `snooze`).
    assert heavy(modules) == ["agent.checks", "agent.models", "logging"]


def test_the_person_sees_what_a_link_did_on_the_desktop(
    machine: Machine,
    desktop: Desktop,
    monkeypatch: pytest.MonkeyPatch,
    hygiene: Callable[..., Outcome],
) -> None:
    for key, value in desktop.env.items():
        monkeypatch.setenv(key, value)
    token = page_token(machine)
    assert hygiene("open-url", link(token, "snooze", "ssh_keys", "7d")).code == 0
    (got,) = desktop.received(at_least=1)
    assert got.summary == "Snoozed ssh_keys for 7 days"
    assert got.body_text.startswith("ssh_keys is snoozed until ")
    assert (got.urgency, got.actions) == ("low", ())

    desktop.clear()
    assert hygiene("open-url", link(current(machine), "snooze", "ssh_keys", "1h")).code == 0
    (got,) = desktop.received(at_least=1)
    assert got.summary == "Snoozed ssh_keys for 1 hour"

    desktop.clear()
    assert hygiene("open-url", link(current(machine), "unsnooze", "ssh_keys")).code == 0
    (got,) = desktop.received(at_least=1)
    assert got.summary == "Notices about ssh_keys are back on"

    # A refused link shows nothing: a page elsewhere must not be able to fill the screen.
    desktop.clear()
    assert (
        hygiene("open-url", link(current(machine), "snooze", "ssh_keys", "1d") + "&x=1").code == 2
    )
    assert desktop.received(timeout=1.0) == []


def test_a_link_to_one_finding_snoozes_that_finding_and_names_its_check(
    machine: Machine,
    desktop: Desktop,
    monkeypatch: pytest.MonkeyPatch,
    hygiene: Callable[..., Outcome],
    make_key: Callable[..., Path],
) -> None:
    for key, value in desktop.env.items():
        monkeypatch.setenv(key, value)
    make_key(machine.ssh / "id_ed25519")
    machine.keep_only("ssh_keys")
    assert hygiene("run", "--once").code == 0
    (finding,) = json.loads(hygiene("status", "--json").out)["failing"]
    desktop.clear()

    token = page_token(machine)
    outcome = hygiene("open-url", link(token, "snooze", finding["id"], "1d"))
    assert outcome.code == 0, outcome.err
    assert outcome.out.startswith(f"~/.ssh/id_ed25519 ({finding['id']}) is snoozed until ")
    assert list(snoozes(machine)) == [finding["id"]]
    (got,) = desktop.received(at_least=1)
    assert got.summary == "Snoozed ~/.ssh/id_ed25519 for 1 day"
