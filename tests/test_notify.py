"""Delivery to a real notification server (dunst on Xvfb and a private bus), read back from it."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.models import Urgency
from agent.notify import (
    BODY_LIMIT,
    TITLE_LIMIT,
    BusBackend,
    BusSession,
    Delivery,
    LogBackend,
    Notification,
    PlyerBackend,
    default_backends,
    deliver,
)
from tests.conftest import require_tool
from tests.desktop import Desktop

LOGGER = "agent.notify"


def note(
    title: str = "Screen lock is off", body: str = "Turn it on.", **kw: object
) -> Notification:
    return Notification(title=title, body=body, **kw)  # type: ignore[arg-type]


@pytest.fixture
def on_desktop(desktop: Desktop, monkeypatch: pytest.MonkeyPatch) -> Desktop:
    """The desktop, also in os.environ: plyer's helpers read the environment, not arguments."""
    for key, value in desktop.env.items():
        monkeypatch.setenv(key, value)
    return desktop


@pytest.mark.parametrize("urgency", ["low", "normal", "critical"])
def test_arrives_with_summary_body_urgency_and_app_name(desktop: Desktop, urgency: Urgency) -> None:
    sent = note("Wi-Fi without VPN", "You are on “Cafe”.\nTurn on the VPN.", urgency=urgency)

    result = BusBackend(desktop.env).send(sent)

    assert result.backend == "bus"
    assert result.delivered
    assert result.reason is None
    [got] = desktop.received(at_least=1)
    assert got.id == result.server_id
    assert got.summary == "Wi-Fi without VPN"
    assert got.body_text == "You are on “Cafe”.\nTurn on the VPN."
    assert got.urgency == urgency
    assert got.appname == "hygiene-agent"
    assert got.icon == "dialog-warning"
    assert got.expire_timeout == -1


def test_replaces_id_updates_one_notification_in_place(desktop: Desktop) -> None:
    bus = BusBackend(desktop.env)
    first = bus.send(note("2 sessions left open", urgency="normal"))
    second = bus.send(note("3 sessions left open", urgency="critical"), first.server_id)

    assert first.delivered
    assert second.delivered
    assert second.server_id == first.server_id
    [got] = desktop.received(at_least=1)
    assert (got.id, got.summary, got.urgency) == (
        first.server_id,
        "3 sessions left open",
        "critical",
    )
    assert got.replaces_id == first.server_id


def test_actions_are_sent_only_when_the_server_advertises_them(desktop: Desktop) -> None:
    advertised = "actions" in desktop.capabilities()
    sent = note(urgency="normal")

    assert BusBackend(desktop.env).send(sent).delivered

    [got] = desktop.received(at_least=1)
    assert got.actions == (sent.actions if advertised else ())
    assert advertised, "dunst advertises actions; without them this test checks only half"


def test_no_actions_sends_an_empty_list(desktop: Desktop) -> None:
    assert BusBackend(desktop.env).send(note(urgency="low", actions=())).delivered
    [got] = desktop.received(at_least=1)
    assert got.actions == ()


ADVERSARIAL = [
    pytest.param("He said \"stop\" and 'go'", 'It\'s "quoted" `twice`', id="quotes"),
    pytest.param("-u critical --help", "--version\n-", id="leading-dash"),
    pytest.param("<b>x</b> & y", "<b>x</b> &amp; <i>z</i> <a href='e'>l</a>", id="markup"),
    pytest.param("é 日本 🎉", "Grüße, 日本語, 👩‍💻 and ½", id="non-ascii"),
    pytest.param("--", "-", id="only-dashes"),
]


@pytest.mark.parametrize(("title", "body"), ADVERSARIAL)
def test_untrusted_text_arrives_as_the_person_reads_it(
    desktop: Desktop, title: str, body: str
) -> None:
    assert BusBackend(desktop.env).send(note(title, body, urgency="normal")).delivered

    [got] = desktop.received(at_least=1)
    assert got.summary == title
    assert got.body_text == body  # markup shown literally, not rendered


def test_control_characters_are_shown_escaped_but_newlines_kept(desktop: Desktop) -> None:
    title = "Bell\x07 and\x1b[31m red\x00\r\nline"
    body = "one\r\ntwo\x1b]0;owned\x07\tthree\x85\x9b \u202eevil"

    assert BusBackend(desktop.env).send(note(title, body, urgency="low")).delivered

    [got] = desktop.received(at_least=1)
    assert got.summary == "Bell\\x07 and\\x1b[31m red\\x00\\r line"
    assert got.body_text == "one\\r\ntwo\\x1b]0;owned\\x07 three\\x85\\x9b \\u202eevil"


def test_long_texts_are_cut_with_an_ellipsis(desktop: Desktop) -> None:
    title = "Password in plain text in " + "x" * 5000
    body = "A" * 5000

    assert BusBackend(desktop.env).send(note(title, body, urgency="normal")).delivered

    [got] = desktop.received(at_least=1)
    assert len(got.summary) == TITLE_LIMIT
    assert got.summary == title[: TITLE_LIMIT - 1] + "…"
    assert got.body_text == "A" * (BODY_LIMIT - 1) + "…"


def test_deliver_uses_the_first_backend_that_delivers(desktop: Desktop) -> None:
    result = deliver(note(urgency="critical"), default_backends(desktop.env, "linux"))

    assert (result.backend, result.delivered) == ("bus", True)
    assert [r.urgency for r in desktop.received(at_least=1)] == ["critical"]


def test_without_a_server_deliver_logs_and_says_why(
    on_desktop: Desktop, caplog: pytest.LogCaptureFixture
) -> None:
    on_desktop.stop_server()
    caplog.set_level(logging.WARNING, logger=LOGGER)

    result = deliver(
        note("Sessions open", "Sign out of 2.", urgency="normal"), [BusBackend(on_desktop.env)]
    )

    assert result == Delivery(
        "log", delivered=False, reason="No notification server is running on the session bus."
    )
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.WARNING
    assert "Sessions open" in record.getMessage()
    assert "Sign out of 2." in record.getMessage()
    on_desktop.start_server()
    assert on_desktop.received() == []


def test_without_a_server_every_default_backend_fails_without_raising(
    on_desktop: Desktop, caplog: pytest.LogCaptureFixture
) -> None:
    on_desktop.stop_server()
    caplog.set_level(logging.WARNING, logger=LOGGER)

    result = deliver(note(urgency="critical"), default_backends(on_desktop.env, "linux"))

    # The bus backend's reason comes first: it is the one that knows what went wrong.
    assert result == Delivery(
        "log", delivered=False, reason="No notification server is running on the session bus."
    )
    assert len([r for r in caplog.records if r.name == LOGGER]) == 1


def test_no_session_bus_address() -> None:
    result = BusBackend({}).send(note(urgency="low"))
    assert result == Delivery(
        "bus",
        delivered=False,
        reason="No D-Bus session bus is known (DBUS_SESSION_BUS_ADDRESS is unset).",
    )


def test_a_bus_address_with_nothing_behind_it(tmp_path: Path) -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/gone"}
    result = BusBackend(env).send(note(urgency="low"))
    assert not result.delivered
    assert (
        result.reason == "Could not connect to the D-Bus session bus (No such file or directory)."
    )


def test_an_unusable_bus_address() -> None:
    result = BusBackend({"DBUS_SESSION_BUS_ADDRESS": "tcp:host=localhost,port=1"}).send(
        note(urgency="low")
    )
    assert result.reason == "The D-Bus session bus address is not one this agent can use."


@pytest.fixture
def silent_bus(tmp_path: Path) -> Iterator[str]:
    """A socket that accepts connections and never answers, like a hung bus."""
    path = tmp_path / "bus"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        yield f"unix:path={path}"


def test_a_bus_that_does_not_answer_times_out(silent_bus: str) -> None:
    result = BusBackend({"DBUS_SESSION_BUS_ADDRESS": silent_bus}, timeout=0.3).send(
        note(urgency="low")
    )
    assert result == Delivery(
        "bus", delivered=False, reason="The session bus did not answer within 0.3 seconds."
    )


def test_plyer_on_linux_reports_only_what_it_can_confirm(on_desktop: Desktop) -> None:
    require_tool("notify-send")
    sent = note("-u critical", "--help <b>x</b> & é 日本 🎉", urgency="critical")

    result = PlyerBackend().send(sent)

    if result.backend == "plyer:NotifyDbus":  # dbus-python installed: the call's reply confirms
        assert result.delivered
    else:
        # notify-send's exit status never reaches plyer: shown or lost look the same.
        assert result == Delivery(
            "plyer:NotifySendNotification",
            delivered=False,
            reason="plyer's NotifySendNotification does not report whether the notification "
            "was shown.",
        )
    [got] = on_desktop.received(at_least=1)
    # A word joiner (invisible) keeps notify-send from reading the leading "-" as an option.
    assert got.summary.removeprefix("\u2060") == "-u critical"
    assert got.body_text.removeprefix("\u2060") == "--help <b>x</b> & é 日本 🎉"
    assert got.appname == "hygiene-agent"


def test_plyer_on_linux_cannot_tell_a_lost_notification(on_desktop: Desktop) -> None:
    require_tool("notify-send")
    on_desktop.stop_server()

    result = PlyerBackend().send(note(urgency="normal"))

    assert not result.delivered
    assert result.reason


def test_plyer_on_linux_without_a_bus_says_so_and_prints_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    result = PlyerBackend({"PATH": os.environ["PATH"]}).send(note(urgency="normal"))
    assert result == Delivery(
        "plyer:none",
        delivered=False,
        reason="plyer needs the session bus on Linux too, and it cannot be reached.",
    )
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_log_backend_is_a_record_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)

    result = LogBackend().send(note("Two\nlines", "body\nwith\x1b[2J escapes", urgency="low"))

    assert result == Delivery(
        "log", delivered=False, reason="No desktop notification backend is available."
    )
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "\n" not in record.getMessage()
    assert "\x1b" not in record.getMessage()
    assert "Two lines" in record.getMessage()


def test_deliver_with_no_backends_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    result = deliver(note(urgency="low"), [])
    assert result == Delivery(
        "log", delivered=False, reason="No desktop notification backend is available."
    )
    assert len(caplog.records) == 1


@pytest.mark.parametrize(
    ("platform", "kinds"),
    [
        ("linux", [BusBackend, PlyerBackend]),
        ("darwin", [PlyerBackend]),
        ("win32", [PlyerBackend]),
    ],
)
def test_default_backends(platform: str, kinds: list[type]) -> None:
    assert [type(b) for b in default_backends({}, platform)] == kinds
    resident = [BusSession if k is BusBackend else k for k in kinds]
    assert [type(b) for b in default_backends({}, platform, resident=True)] == resident


def test_a_canary_appears_only_in_the_notification(
    on_desktop: Desktop, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    canary = f"CANARY-{uuid.uuid4().hex}"
    sent = note(f"Key {canary}", f"Value {canary}", urgency="critical")
    caplog.set_level(logging.DEBUG)

    shown = deliver(sent, default_backends(on_desktop.env, "linux"))
    [got] = on_desktop.received(at_least=1)
    on_desktop.stop_server()
    lost_bus = BusBackend(on_desktop.env).send(sent)
    lost_plyer = PlyerBackend().send(sent) if shutil.which("notify-send") else lost_bus

    assert canary in got.summary
    assert canary in got.body
    for result in (shown, lost_bus, lost_plyer):
        assert canary not in repr(result)
    assert canary not in caplog.text
    out, err = capfd.readouterr()
    assert canary not in out + err


def test_an_address_list_is_tried_in_turn(desktop: Desktop, tmp_path: Path) -> None:
    real = desktop.env["DBUS_SESSION_BUS_ADDRESS"]
    env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus-here'};{real}"}
    result = BusBackend(env).send(note("Listed", "second address", urgency="normal"))
    assert result.delivered, result.reason
    assert desktop.received(at_least=1)[0].summary == "Listed"
