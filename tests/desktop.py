"""Real desktop fixtures: Xvfb, a private session bus and dunst, and what dunst really received.

Nothing here trusts what the code under test believes it sent. Each notification is read back
from two places outside it:

- dunst itself, over its control interface (org.dunstproject.cmd0, what `dunstctl` calls):
  what it holds, under which id, and the text it renders;
- `dbus-monitor --binary` on the private bus: the Notify call as it reached dunst (urgency
  hint, actions, icon, replaces_id), matched to dunst's reply by serial number.

`dunstctl history` itself is not used because it needs `busctl`, which comes with systemd and
not with the packages tests/run.sh installs; its D-Bus method is called directly instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
from jeepney.low_level import (  # type: ignore[import-untyped]
    HeaderFields,
    MessageType,
    Parser,
)
from jeepney.wrappers import (  # type: ignore[import-untyped]
    DBusAddress,
    new_method_call,
    unwrap_msg,
)

from tests.conftest import require_tool

T = TypeVar("T")

SERVER_NAME = "org.freedesktop.Notifications"
_NOTIFICATIONS = DBusAddress("/org/freedesktop/Notifications", SERVER_NAME, SERVER_NAME)
_DUNST = DBusAddress("/org/freedesktop/Notifications", SERVER_NAME, "org.dunstproject.cmd0")
_PROPERTIES = DBusAddress(
    "/org/freedesktop/Notifications", SERVER_NAME, "org.freedesktop.DBus.Properties"
)
_URGENCIES = ("low", "normal", "critical")
START_TIMEOUT = 15.0

# No <servicedir>: nothing is started on demand, so with dunst stopped the bus really has no
# owner of org.freedesktop.Notifications (the system's dunst.service would otherwise come up).
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={directory}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# Notifications stay until read (timeout 0), every one is shown and kept (no limit, no
# stacking of duplicates), and the format is dunst's shipped default.
DUNSTRC = """[global]
    notification_limit = 0
    stack_duplicates = false
    sticky_history = yes
    history_length = 0
    idle_threshold = 0
    show_age_threshold = -1
    markup = full
    format = "<b>%s</b>\\n%b"
    font = Monospace 8
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""


@dataclass(frozen=True)
class Received:
    """One notification as dunst holds it, with the Notify call that put it there."""

    id: int
    summary: str
    body: str  # as received: markup still escaped if the sender escaped it
    urgency: str  # "low", "normal" or "critical", from the urgency hint as dunst reads it
    appname: str
    message: str  # dunst's formatted text (Pango markup): "<b>summary</b>\nbody"
    text: str  # that message with the markup rendered: what the person reads
    icon: str
    actions: tuple[tuple[str, str], ...]
    hints: Mapping[str, Any]
    replaces_id: int
    expire_timeout: int
    category: str = ""

    @property
    def body_text(self) -> str:
        """The body as the person reads it (the rendered text after the summary line)."""
        head, newline, rest = self.text.partition("\n")
        return rest if newline and head == self.summary else self.text


@dataclass
class _Call:
    sender: str
    serial: int
    args: tuple[Any, ...]
    server: str | None = None  # the unique name of the dunst that answered
    server_id: int | None = None


def _plain(markup: str) -> str:
    """Pango markup as text; markup that does not parse is returned as it is."""
    try:
        # Text dunst rendered from what the test itself sent.
        root = ET.fromstring(f"<markup>{markup}</markup>")  # noqa: S314
        return "".join(root.itertext())
    except ET.ParseError:
        return markup


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, log: Path | None = None
) -> T:
    """Poll `probe` until it returns something; fail naming `what` (and the log's tail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{log.name}:\n{log.read_text(errors='replace')[-2000:]}" if log else ""
            pytest.fail(f"{what} did not happen within {timeout:g} s{detail}")
        time.sleep(0.02)


def _die_with_parent() -> None:
    """Runs in the child before exec: if pytest itself is killed, the kernel ends the child."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream:
            stream.close()


@dataclass
class Desktop:
    """An X display, a private session bus on it, and dunst as the notification server."""

    directory: Path
    tools: Mapping[str, str]
    env: dict[str, str] = field(default_factory=dict)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _dunst: subprocess.Popen[bytes] | None = None
    _server: str | None = None  # dunst's unique name on the bus
    _floor: int = 0  # ids up to this one were there before the last clear()
    _parser: Any = None
    _monitor_offset: int = 0
    _calls: dict[tuple[str, int], _Call] = field(default_factory=dict)

    # -- starting and stopping ------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with (self.directory / f"{name}.log").open("ab") as log:
            kwargs.setdefault("stdout", log)
            # The hook only calls prctl: nothing that could deadlock after fork.
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
                **kwargs,
            )

    def start(self) -> None:
        try:
            self._start_display()
            self._start_bus()
            self._start_monitor()
            self.start_server()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._dunst is not None:
            _stop(self._dunst)
            self._dunst = None
        self._stack.close()

    def _start_display(self) -> None:
        read_end, write_end = os.pipe()
        try:
            try:
                xvfb = self._spawn(
                    "xvfb",
                    [
                        self.tools["Xvfb"],
                        "-displayfd",
                        str(write_end),
                        "-nolisten",
                        "tcp",
                        "-screen",
                        "0",
                        "1280x800x24",
                    ],
                    pass_fds=(write_end,),
                )
            finally:
                os.close(write_end)
            self._stack.callback(_stop, xvfb)
            # Xvfb picks a free display itself and writes its number once it accepts clients.
            number = self._read_line(read_end, xvfb, "xvfb")
        finally:
            os.close(read_end)
        self.env["DISPLAY"] = f":{number}"

    def _start_bus(self) -> None:
        config = self.directory / "bus.conf"
        config.write_text(BUS_CONFIG.format(directory=self.directory))
        bus = self._spawn(
            "dbus-daemon",
            [
                self.tools["dbus-daemon"],
                "--config-file",
                str(config),
                "--nofork",
                "--print-address",
            ],
            stdout=subprocess.PIPE,
            env=self._child_env(),
        )
        self._stack.callback(_stop, bus)
        assert bus.stdout is not None
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self._read_line(bus.stdout.fileno(), bus, "bus")

    def _start_monitor(self) -> None:
        path = self.directory / "monitor.bin"
        with path.open("wb") as out:
            monitor = self._spawn(
                "dbus-monitor",
                [
                    self.tools["dbus-monitor"],
                    "--address",
                    self.env["DBUS_SESSION_BUS_ADDRESS"],
                    "--binary",
                    f"type='method_call',interface='{SERVER_NAME}',member='Notify'",
                    "type='method_return'",
                ],
                stdout=out,
            )
        self._stack.callback(_stop, monitor)
        self._parser = Parser()
        # A new monitor is first told it lost its own name: from then on it sees everything.
        wait_for(
            "dbus-monitor watching the bus",
            lambda: True if path.stat().st_size > 0 else None,
            START_TIMEOUT,
            self.directory / "dbus-monitor.log",
        )

    def _read_line(self, fd: int, process: subprocess.Popen[bytes], name: str) -> str:
        data = b""
        deadline = time.monotonic() + START_TIMEOUT
        while b"\n" not in data:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            chunk = os.read(fd, 1024) if ready else b""
            if not chunk:
                log = (self.directory / f"{name}.log").read_text(errors="replace")[-2000:]
                state = "exited" if process.poll() is not None else "timed out"
                pytest.fail(f"{name} {state} before it was ready:\n{log}")
            data += chunk
        return data.decode().strip()

    def _child_env(self) -> dict[str, str]:
        home = self.directory / "home"
        (home / ".config").mkdir(parents=True, exist_ok=True)
        # A private HOME and XDG config so dunst reads nothing of the user's.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CONFIG_DIRS": str(self.directory / "xdg"),
            "LANG": "C.UTF-8",
        }
        env.update(self.env)
        return env

    def stop_server(self) -> None:
        """Stop dunst: the bus then has no owner of org.freedesktop.Notifications."""
        if self._dunst is not None:
            _stop(self._dunst)
            self._dunst = None
        wait_for(
            "org.freedesktop.Notifications leaving the bus",
            lambda: True if self._owner() is None else None,
            START_TIMEOUT,
            None,
        )
        self._server = None

    def start_server(self) -> None:
        """Start dunst (again); a new dunst starts with no history and counts ids from 1."""
        if self._dunst is not None and self._dunst.poll() is None:
            return
        config = self.directory / "dunstrc"
        config.write_text(
            DUNSTRC.replace("[urgency_low]", f'    dmenu = "{self._dmenu()}"\n[urgency_low]')
        )
        self._dunst = self._spawn(
            "dunst", [self.tools["dunst"], "-config", str(config)], env=self._child_env()
        )
        dunst = self._dunst

        def owner() -> str | None:
            if dunst.poll() is not None:
                pytest.fail(f"dunst exited with {dunst.returncode}; see {self.directory}/dunst.log")
            return self._owner()

        self._server = wait_for("dunst owning the bus name", owner, START_TIMEOUT, None)
        self._floor = 0

    @property
    def server_running(self) -> bool:
        return self._dunst is not None and self._dunst.poll() is None

    def screenshot(self, path: Path, *, showing: int) -> Path:
        """The whole X screen as a PNG (ImageMagick's import), as the person sees it once dunst
        shows `showing` notifications. Take it before received(), which closes them."""
        path.parent.mkdir(parents=True, exist_ok=True)
        wait_for(
            f"dunst showing {showing} notifications",
            lambda: True if self.showing() >= showing else None,
            5.0,
            None,
        )

        def drawn() -> bool | None:
            subprocess.run(
                [require_tool("import"), "-display", self.env["DISPLAY"], "-window", "root", path],
                check=True,
                capture_output=True,
                timeout=30,
            )
            # dunst draws on its next update: until then the screen is one black PNG of a
            # few hundred bytes.
            return True if path.stat().st_size > 2000 else None

        wait_for("dunst drawing its notifications", drawn, 5.0, None)
        return path

    # -- talking to the bus ---------------------------------------------------------------

    def _call(self, message: Any) -> Any:
        bus = self.env["DBUS_SESSION_BUS_ADDRESS"]
        with open_dbus_connection(bus=bus, auth_timeout=5) as connection:
            return unwrap_msg(connection.send_and_get_reply(message, timeout=5))

    def _method(self, address: Any, method: str, signature: str | None = None, *args: Any) -> Any:
        return self._call(new_method_call(address, method, signature, args))

    def _owner(self) -> str | None:
        if not self._call(message_bus.NameHasOwner(SERVER_NAME))[0]:
            return None
        return str(self._call(message_bus.GetNameOwner(SERVER_NAME))[0])

    def capabilities(self) -> list[str]:
        """What dunst answers to GetCapabilities."""
        return [str(c) for c in self._method(_NOTIFICATIONS, "GetCapabilities")[0]]

    def _count(self, queue: str) -> int:
        value = self._method(_PROPERTIES, "Get", "ss", _DUNST.interface, f"{queue}Length")[0]
        return int(value[1])

    def showing(self) -> int:
        """How many notifications dunst has on screen now (reading none of them)."""
        return self._count("displayed")

    def _dmenu(self) -> Path:
        """dunst's menu program: picks the line holding the text in `choice`, as a person would.

        dunst writes one line per action ("#Snooze 1 day (summary) [id,key]" and the like) to
        the program's input and invokes the action of the line it prints back.
        """
        script = self.directory / "dmenu"
        script.write_text(
            f'#!/bin/sh\ncd "{self.directory}" || exit 1\n'
            "cat > menu.part && mv menu.part menu.txt\n"
            'grep -F -- "$(cat choice)" menu.txt | head -n 1\n'
        )
        script.chmod(0o755)
        return script

    def choose_action(self, label: str, timeout: float = 5.0) -> list[str]:
        """Open dunst's context menu (what right-click or `dunstctl context` does) and pick the
        action labelled `label`. Returns the lines the menu offered."""
        menu = self.directory / "menu.txt"
        menu.unlink(missing_ok=True)
        (self.directory / "choice").write_text(label)
        self._method(_DUNST, "ContextMenuCall")
        text = wait_for(
            "dunst's context menu",
            lambda: menu.read_text() if menu.exists() else None,
            timeout,
            None,
        )
        return text.splitlines()

    # -- reading what arrived -------------------------------------------------------------

    def _read_monitor(self) -> None:
        with (self.directory / "monitor.bin").open("rb") as stream:
            stream.seek(self._monitor_offset)
            data = stream.read()
        self._monitor_offset += len(data)
        returns = []
        for message in self._parser.feed(data):
            header = message.header
            fields = header.fields
            if header.message_type == MessageType.method_call:
                key = (fields[HeaderFields.sender], header.serial)
                self._calls[key] = _Call(key[0], key[1], tuple(message.body))
            elif header.message_type == MessageType.method_return:
                returns.append(message)
        for message in returns:
            fields = message.header.fields
            call = self._calls.get(
                (fields.get(HeaderFields.destination), fields.get(HeaderFields.reply_serial))
            )
            if call is not None and call.server is None:
                call.server = fields.get(HeaderFields.sender)
                call.server_id = int(message.body[0])

    def _history(self) -> list[dict[str, Any]]:
        """Close what dunst shows (into its history, as a person dismissing it), then list it."""

        def settled() -> bool | None:
            self._method(_DUNST, "NotificationCloseAll")
            # One that just arrived may still wait for dunst's next update before it shows.
            return True if self._count("waiting") == self._count("displayed") == 0 else None

        wait_for("dunst showing every notification", settled, 5.0, None)
        entries = self._method(_DUNST, "NotificationListHistory")[0]
        return [{key: value[1] for key, value in entry.items()} for entry in reversed(entries)]

    def _match(self, entry: Mapping[str, Any]) -> _Call | None:
        calls = [
            c
            for c in self._calls.values()
            if c.server == self._server and c.server_id == entry["id"]
        ]
        same = [c for c in calls if c.args[3] == entry["summary"] and c.args[4] == entry["body"]]
        matches = same or calls
        return matches[-1] if matches else None

    def _snapshot(self) -> tuple[list[Received], list[int]]:
        assert self.server_running, "dunst is stopped: start_server() first"
        entries = [e for e in self._history() if int(e["id"]) > self._floor]
        self._read_monitor()
        found: list[Received] = []
        unmatched: list[int] = []
        for entry in entries:
            call = self._match(entry)
            if call is None:
                unmatched.append(int(entry["id"]))
                continue
            _, replaces_id, icon, _, _, actions, hints, expire_timeout = call.args
            plain_hints = {key: value[1] for key, value in hints.items()}
            urgency = hints.get("urgency", ("y", 1))
            # dunst reads the urgency hint only as a byte; anything else leaves it normal.
            level = urgency[1] if urgency[0] == "y" and 0 <= urgency[1] <= 2 else 1
            found.append(
                Received(
                    id=int(entry["id"]),
                    summary=str(entry["summary"]),
                    body=str(entry["body"]),
                    urgency=_URGENCIES[level],
                    appname=str(entry["appname"]),
                    message=str(entry["message"]),
                    text=_plain(str(entry["message"])),
                    icon=str(icon),
                    actions=tuple(zip(actions[::2], actions[1::2], strict=False)),
                    hints=plain_hints,
                    replaces_id=int(replaces_id),
                    expire_timeout=int(expire_timeout),
                    category=str(entry.get("category", "")),
                )
            )
        return found, unmatched

    def received(self, *, at_least: int = 0, timeout: float = 5.0) -> list[Received]:
        """Every notification dunst got since the last clear(), oldest first.

        Reading closes what is on screen (dunst moves it to its history, as when the person
        dismisses it): a later Notify that replaces one of them shows as a new one.
        Polls until at least `at_least` have arrived, or `timeout` runs out.
        """
        deadline = time.monotonic() + timeout
        while True:
            found, unmatched = self._snapshot()
            if not unmatched and len(found) >= at_least:
                return found
            if time.monotonic() > deadline:
                assert not unmatched, f"dbus-monitor never saw the Notify call for ids {unmatched}"
                return found
            time.sleep(0.02)

    def clear(self) -> None:
        """Forget every notification so far: received() starts empty."""
        if not self.server_running:
            self.start_server()
        entries = self._history()
        self._floor = max((int(e["id"]) for e in entries), default=self._floor)


@pytest.fixture(scope="session")
def desktop_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    tools = {name: require_tool(name) for name in ("Xvfb", "dbus-daemon", "dbus-monitor", "dunst")}
    desktop = Desktop(tmp_path_factory.mktemp("desktop"), tools)
    desktop.start()
    try:
        yield desktop
    finally:
        desktop.close()


@pytest.fixture
def desktop(desktop_session: Desktop) -> Desktop:
    """The shared desktop, with dunst running and nothing received yet."""
    desktop_session.start_server()
    desktop_session.clear()
    return desktop_session
