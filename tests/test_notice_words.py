"""What a notice says: short enough to read in a notification bubble (agent.wording).

The words are composed from each check's own (tests/notices.py checks every finding any test
makes); here they are read where a person reads them, from a real dunst on Xvfb, and the
screen is saved as a PNG under test-output/screenshots/ to be looked at.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import wording
from agent.store import Store
from agent.store.schema import MIGRATIONS
from tests.conftest import Machine, Outcome
from tests.desktop import Desktop, Received
from tests.notices import TITLE_MOST, state_of
from tests.test_agent_cycle import agent  # noqa: F401 - `hygiene` in this process, on dunst
from tests.test_screen_lock_linux import gnome, gsettings  # noqa: F401 - gsettings is a fixture

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SCREENSHOTS = (
    Path(os.environ.get("HYGIENE_TEST_OUTPUT", Path(__file__).parent.parent / "test-output"))
    / "screenshots"
)
# Every notice at once, none held back by a grace period or the hourly cap.
TELL_ALL = "schema: 1\nnotify: {grace: {medium: 0s, low: 0s}, max_per_hour: 100}\n"


@pytest.fixture(autouse=True)
def tell_all(machine: Machine) -> None:
    (machine.user_policies / "10-tell-all.yaml").write_text(TELL_ALL)


def short(notices: list[Received]) -> None:
    for got in notices:
        assert len(got.summary) <= TITLE_MOST, got.summary
        assert len(got.body_text) <= wording.BODY_MOST, got.body_text
        assert "\n" not in got.body_text, got.body_text


def test_each_problem_is_told_in_a_line_or_two_with_the_thing_to_do(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],  # noqa: F811 - the fixture
) -> None:
    machine.keep_only("ssh_keys", "credentials", "ssh_authorized_keys")
    key = make_key(machine.ssh / "id_ed25519")
    (machine.home / ".netrc").write_text("machine mail.example.org login ann password sunshine\n")
    (machine.home / ".netrc").chmod(0o600)
    public = key.with_suffix(".pub").read_text()
    authorized = machine.ssh / "authorized_keys"
    authorized.write_text(public)
    authorized.chmod(0o666)
    assert agent("run", "--once").code == 0
    desktop.screenshot(SCREENSHOTS / "notices-one-each.png", showing=3)
    got = {n.summary: n.body_text for n in desktop.received(at_least=3)}
    assert got == {
        "An SSH key has no passphrase": (
            "~/.ssh/id_ed25519 has no passphrase. Add one: ssh-keygen -p -f ~/.ssh/id_ed25519"
        ),
        "A weak password is stored in a file": (
            "The password for mail.example.org (login ann) in ~/.netrc, line 1, is weak. "
            "Change it, then see hygiene status to keep it out of the file."
        ),
        "Others can add keys that log in as you": (
            "Others can change ~/.ssh/authorized_keys and add their own key. Run: chmod 600 "
            "~/.ssh/authorized_keys"
        ),
    }
    short(desktop.received())
    # The rest is where the person looks next: the message and advice, whole.
    status = " ".join(agent("status").out.split())  # as read, whatever the wrapping
    for said in ("ssh-agent then asks for it once per session", "credential.helper libsecret"):
        assert said in status
        assert not any(said in body for body in got.values())


def test_several_problems_of_one_check_are_one_short_notice(
    machine: Machine,
    make_key: Callable[..., Path],
    desktop: Desktop,
    agent: Callable[..., Outcome],  # noqa: F811 - the fixture
) -> None:
    machine.keep_only("ssh_keys")
    long = "id_ed25519_for_the_build_server_in_the_basement_of_the_office_downtown"
    for name in ("id_rsa", "id_work", "id_home", "id_laptop_2019", long):
        make_key(machine.ssh / name)
    (machine.ssh / "id_work").chmod(0o644)
    assert agent("run", "--once").code == 0
    desktop.screenshot(SCREENSHOTS / "notices-several.png", showing=1)
    (got,) = desktop.received(at_least=1)
    assert got.summary == "6 problems with your SSH keys"
    assert got.body_text == (
        "6 problems with ~/.ssh/id_ed25519_for_the_build_server_in_the_basement_of_t…, "
        "~/.ssh/id_home, ~/.ssh/id_laptop_2019, ~/.ssh/id_rsa and ~/.ssh/id_work. "
        "For what to do: hygiene status"
    )
    short([got])


def test_a_finding_kept_before_notices_were_short_is_said_shortly(tmp_path: Path) -> None:
    """A store of schema 6 has findings with no notice: until their check runs again, a
    notice names them and where to read the rest, rather than their long message."""
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "store.db", isolation_level=None)
    for step in MIGRATIONS[:6]:
        step(conn)
    conn.execute("PRAGMA user_version = 6")
    conn.execute(
        "INSERT INTO findings (id, check_id, subject, severity, message, advice, first_seen, "
        "last_seen, times_notified) VALUES ('k', 'ssh_keys', '~/.ssh/id_rsa', 'high', ?, ?, "
        "'2026-12-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00', 0)",
        ("A long message. " * 20, "A long advice. " * 20),
    )
    conn.close()
    with Store.open(state) as store:
        (kept,) = store.current(T0 + timedelta(days=1))
    assert (kept.reason, kept.notice) == ("", "")
    assert wording.body([kept]) == "~/.ssh/id_rsa. For what to do: hygiene status"


def test_titles_follow_the_kind_of_finding_and_subjects_fit_the_room() -> None:
    from agent.checks.credentials import CredentialsCheck
    from agent.models import Finding
    from tests.notices import notice

    def found(reason: str, subject: str) -> Finding:
        return Finding(
            id=f"{reason}{subject}",
            subject=subject,
            message="m",
            advice="a",
            evidence={"reason": reason},
            notice=f"{subject}: {reason}.",
        )

    weak = [found("weak password", f"~/.config/app{n}/settings.ini") for n in range(9)]
    title, body = notice(CredentialsCheck, weak)
    assert title == "9 weak passwords are stored in files"
    assert len(body) <= wording.BODY_MOST
    assert body.startswith("9 problems: ~/.config/app0/settings.ini, ~/.config/app1/")
    assert body.endswith(" more. For what to do: hygiene status")
    mixed = [*weak[:2], found("plaintext token", "~/.npmrc")]
    assert notice(CredentialsCheck, mixed)[0] == "3 passwords or tokens are stored in plain text"
    assert notice(CredentialsCheck, weak[:1]) == (
        "A weak password is stored in a file",
        "~/.config/app0/settings.ini: weak password.",
    )
    # What a check's notice cannot say in the room is said the short way.
    (too_long,) = [found("weak password", "~/" + "a" * 300)]
    body = notice(CredentialsCheck, [too_long])[1]
    assert body == f"~/{'a' * 57}…. For what to do: hygiene status"
    assert state_of("credentials", too_long).notice == too_long.notice


def test_a_desktop_without_a_lock_and_sharing_too_much_on_gnome(
    machine: Machine,
    desktop: Desktop,
    agent: Callable[..., Outcome],  # noqa: F811 - the fixture
    gsettings: Callable[..., None],  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The notice that was 14 lines (the lockers looked for) and the privacy settings, from
    GNOME's real settings: where to change each, in two lines or three."""
    machine.keep_only("screen_lock", "privacy_settings")
    gnome(monkeypatch, "GNOME")
    gsettings("org.gnome.desktop.screensaver", "lock-enabled", "false")
    assert agent("run", "--once").code == 0
    desktop.screenshot(SCREENSHOTS / "notices-gnome.png", showing=2)
    got = {n.summary: n.body_text for n in desktop.received(at_least=2)}
    assert got == {
        "Screen locking is off": (
            "Your screen never locks (GNOME). Turn locking on: Settings > Privacy > Screen Lock"
        ),
        "3 privacy settings share more than they should": (
            "3 problems: Notifications show on the lock screen, Old temporary and trashed "
            "files are kept and Your file history is kept too long. For what to do: hygiene "
            "status"
        ),
    }
    short(desktop.received())
