"""desktop_idle against a real X server (Xvfb), a private session bus and a private system bus.

gnome-shell (which runs Mutter's idle monitor and org.gnome.ScreenSaver) and logind cannot run
on this VM: there is no GPU session for the one and no systemd as PID 1 for the other. Each is
stood in for by a small D-Bus service (`StandIn`) on a real dbus-daemon, answering the methods
with the signatures the real services publish.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
from jeepney.low_level import HeaderFields, MessageType  # type: ignore[import-untyped]
from jeepney.wrappers import (  # type: ignore[import-untyped]
    new_error,
    new_method_return,
    unwrap_msg,
)

from agent.probes import DesktopIdle
from agent.probes._dbus import TIMEOUT
from agent.probes._desktop_linux import _Xlib, desktop_idle
from tests.conftest import REPO, require_tool
from tests.desktop import BUS_CONFIG, Desktop

# -- stand-in services ---------------------------------------------------------------------

# As Mutter publishes it (mutter: data/dbus-interfaces/org.gnome.Mutter.IdleMonitor.xml), at
# /org/gnome/Mutter/IdleMonitor/Core under the bus name org.gnome.Mutter.IdleMonitor.
MUTTER_IDLE_MONITOR_XML = """<node>
  <interface name="org.gnome.Mutter.IdleMonitor">
    <method name="GetIdletime"><arg name="idletime" direction="out" type="t"/></method>
    <method name="AddIdleWatch">
      <arg name="interval" direction="in" type="t"/><arg name="id" direction="out" type="u"/>
    </method>
    <method name="AddUserActiveWatch"><arg name="id" direction="out" type="u"/></method>
    <method name="RemoveWatch"><arg name="id" direction="in" type="u"/></method>
    <method name="ResetIdletime"/>
    <signal name="WatchFired"><arg name="id" type="u"/></signal>
  </interface>
</node>"""

# As gnome-shell publishes it (gnome-shell: data/dbus-interfaces/org.gnome.ScreenSaver.xml).
GNOME_SCREENSAVER_XML = """<node>
  <interface name="org.gnome.ScreenSaver">
    <method name="Lock"/>
    <method name="GetActive"><arg type="b" direction="out" name="active"/></method>
    <method name="SetActive"><arg type="b" direction="in" name="value"/></method>
    <method name="GetActiveTime"><arg type="u" direction="out" name="value"/></method>
    <signal name="ActiveChanged"><arg name="new_value" type="b"/></signal>
    <signal name="WakeUpScreen"/>
  </interface>
</node>"""

MUTTER_PATH = "/org/gnome/Mutter/IdleMonitor/Core"
SCREENSAVER_PATH = "/org/gnome/ScreenSaver"
LOGIN1_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"
PROPERTIES = "org.freedesktop.DBus.Properties"

Reply = tuple[str, tuple[Any, ...]] | None  # (signature, body); None: never answer
Handler = Callable[[tuple[Any, ...]], Reply]


class Refusal(Exception):
    """Raised by a handler: the stand-in answers with this D-Bus error."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def answer(signature: str, *values: Any) -> Handler:
    """A handler that always replies with these values."""

    def handler(_args: tuple[Any, ...]) -> Reply:
        return signature, values

    return handler


def out_signature(xml: str, method: str) -> str:
    """The reply signature of `method` as the introspection data defines it."""
    root = ET.fromstring(xml)  # noqa: S314 - the constants above
    [node] = [m for m in root.iter("method") if m.get("name") == method]
    return "".join(a.get("type", "") for a in node.iter("arg") if a.get("direction") == "out")


class StandIn:
    """A D-Bus service in a thread: owns `names` and answers calls from `methods`.

    `methods` maps (object path, interface, member) to a handler of the call's arguments.
    Introspect is answered from `introspection` (object path -> XML).
    """

    def __init__(
        self,
        address: str,
        names: Sequence[str],
        methods: Mapping[tuple[str, str, str], Handler],
        introspection: Mapping[str, str] | None = None,
    ) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.errors: list[Exception] = []  # raised by handlers; close() fails the test on any
        self._names = list(names)
        self._methods = dict(methods)
        for path, xml in (introspection or {}).items():
            self._methods[(path, "org.freedesktop.DBus.Introspectable", "Introspect")] = answer(
                "s", xml
            )
        self._connection = open_dbus_connection(bus=address, auth_timeout=5)
        for name in self._names:
            reply = self._connection.send_and_get_reply(
                message_bus.RequestName(name, 4),
                timeout=5,  # DO_NOT_QUEUE
            )
            assert unwrap_msg(reply)[0] == 1, f"{name} is already owned on {address}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._connection.receive(timeout=0.05)
            except TimeoutError:
                continue
            header = message.header
            if header.message_type != MessageType.method_call:
                continue
            fields = header.fields
            key = (
                str(fields.get(HeaderFields.path)),
                str(fields.get(HeaderFields.interface)),
                str(fields.get(HeaderFields.member)),
            )
            self.calls.append(key)
            handler = self._methods.get(key)
            if handler is None:
                error = "org.freedesktop.DBus.Error.UnknownMethod"
                self._connection.send(new_error(message, error, "s", (f"no {key}",)))
                continue
            try:
                reply = handler(tuple(message.body))
            except Refusal as refusal:
                self._connection.send(new_error(message, refusal.name, "s", ("refused",)))
                continue
            except Exception as error:  # noqa: BLE001 - a broken handler must not end the service
                self.errors.append(error)
                failed = "org.freedesktop.DBus.Error.Failed"
                self._connection.send(new_error(message, failed, "s", (repr(error),)))
                continue
            if reply is not None:
                self._connection.send(new_method_return(message, reply[0], reply[1]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        # Released and confirmed, so the next test's call cannot reach a name still held.
        for name in self._names:
            self._connection.send_and_get_reply(message_bus.ReleaseName(name), timeout=5)
        self._connection.close()
        assert not self.errors, f"a stand-in handler raised: {self.errors}"


@pytest.fixture
def stand_in() -> Iterator[Callable[..., StandIn]]:
    started: list[StandIn] = []

    def start(
        address: str,
        names: Sequence[str],
        methods: Mapping[tuple[str, str, str], Handler],
        introspection: Mapping[str, str] | None = None,
    ) -> StandIn:
        service = StandIn(address, names, methods, introspection)
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


def gnome_shell(
    idle_ms: int | None, active: bool | None
) -> tuple[list[str], dict[tuple[str, str, str], Handler], dict[str, str]]:
    """Stands in for gnome-shell, which cannot run on this VM: Mutter's idle monitor and,
    unless `active` is None, org.gnome.ScreenSaver. `idle_ms` None: GetIdletime fails."""

    def idletime(_args: tuple[Any, ...]) -> Reply:
        if idle_ms is None:
            raise Refusal("org.freedesktop.DBus.Error.Failed")
        return out_signature(MUTTER_IDLE_MONITOR_XML, "GetIdletime"), (idle_ms,)

    names = ["org.gnome.Mutter.IdleMonitor"]
    methods: dict[tuple[str, str, str], Handler] = {
        (MUTTER_PATH, "org.gnome.Mutter.IdleMonitor", "GetIdletime"): idletime
    }
    introspection = {MUTTER_PATH: MUTTER_IDLE_MONITOR_XML}
    if active is not None:
        names.append("org.gnome.ScreenSaver")
        signature = out_signature(GNOME_SCREENSAVER_XML, "GetActive")
        methods[(SCREENSAVER_PATH, "org.gnome.ScreenSaver", "GetActive")] = answer(
            signature, active
        )
        introspection[SCREENSAVER_PATH] = GNOME_SCREENSAVER_XML
    return names, methods, introspection


def logind(
    sessions: Mapping[str, Mapping[str, tuple[str, Any]]],
    *,
    by_pid: str | None = None,
    display: str | None = None,
) -> dict[tuple[str, str, str], Handler]:
    """Stands in for systemd-logind (no systemd here): the Manager calls and the properties
    desktop_idle reads, with logind's own error names. `sessions`: id -> properties."""
    user_path = f"{LOGIN1_PATH}/user/_{os.getuid()}"

    def session_path(session_id: str) -> str:
        return f"{LOGIN1_PATH}/session/{session_id}"

    def get_session(args: tuple[Any, ...]) -> Reply:
        if args[0] not in sessions:
            raise Refusal("org.freedesktop.login1.NoSuchSession")
        return "o", (session_path(args[0]),)

    def by_pid_(args: tuple[Any, ...]) -> Reply:
        if by_pid is None:
            raise Refusal("org.freedesktop.login1.NoSessionForPID")
        return "o", (session_path(by_pid),)

    def user_display(args: tuple[Any, ...]) -> Reply:
        assert args == ("org.freedesktop.login1.User", "Display")
        found = (display, session_path(display)) if display else ("", "/")
        return "v", (("(so)", found),)

    methods: dict[tuple[str, str, str], Handler] = {
        (LOGIN1_PATH, MANAGER, "GetSession"): get_session,
        (LOGIN1_PATH, MANAGER, "GetSessionByPID"): by_pid_,
        (LOGIN1_PATH, MANAGER, "GetUser"): answer("o", user_path),
        (user_path, PROPERTIES, "Get"): user_display,
    }
    for session_id, properties in sessions.items():
        methods[(session_path(session_id), PROPERTIES, "GetAll")] = answer("a{sv}", properties)
    return methods


def session(
    kind: str, *, idle_for: float | None = None, locked: bool = False
) -> dict[str, tuple[str, Any]]:
    """logind's properties of one session; `idle_for` seconds: the desktop declared it idle."""
    since = time.time_ns() // 1000 - int((idle_for or 0) * 1e6)
    return {
        "Type": ("s", kind),
        "Class": ("s", "user"),
        "IdleHint": ("b", idle_for is not None),
        "IdleSinceHint": ("t", since),
        "LockedHint": ("b", locked),
    }


# -- real components -----------------------------------------------------------------------


def _read_line(process: subprocess.Popen[bytes], fd: int, what: str) -> str:
    data = b""
    deadline = time.monotonic() + 15
    while b"\n" not in data:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(fd, 1024) if ready else b""
        if not chunk:
            process.kill()
            pytest.fail(f"{what} did not start")
        data += chunk
    return data.decode().strip()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if process.stdout:
        process.stdout.close()


@pytest.fixture(scope="module")
def system_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second private dbus-daemon, standing in for the system bus (where logind lives)."""
    directory = tmp_path_factory.mktemp("system-bus")
    config = directory / "bus.conf"
    config.write_text(BUS_CONFIG.format(directory=directory))
    bus = subprocess.Popen(
        [require_tool("dbus-daemon"), "--config-file", str(config), "--nofork", "--print-address"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert bus.stdout is not None
        yield _read_line(bus, bus.stdout.fileno(), "dbus-daemon")
    finally:
        _stop(bus)


def start_xvfb(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """A fresh Xvfb; -noreset, since a server whose last client leaves resets itself and
    refuses connections meanwhile (a real desktop always has its window manager connected)."""
    read_end, write_end = os.pipe()
    try:
        argv = [require_tool("Xvfb"), "-displayfd", str(write_end), "-nolisten", "tcp", "-noreset"]
        xvfb = subprocess.Popen(
            [*argv, *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        return xvfb, f":{_read_line(xvfb, read_end, 'Xvfb')}"
    finally:
        os.close(read_end)


def environment(desktop: Desktop, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The desktop's display and session bus; no system bus unless `extra` names one."""
    env = {
        "DISPLAY": desktop.env["DISPLAY"],
        "DBUS_SESSION_BUS_ADDRESS": desktop.env["DBUS_SESSION_BUS_ADDRESS"],
        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-system-bus",
    }
    env.update(extra)
    return env


@pytest.fixture
def xdotool(desktop_session: Desktop) -> Callable[..., None]:
    tool = require_tool("xdotool")

    def run(*argv: str) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **desktop_session.env}
        subprocess.run([tool, *argv], env=env, check=True, capture_output=True, timeout=10)

    return run


def timed(env: Mapping[str, str]) -> tuple[DesktopIdle | None, float]:
    start = time.perf_counter()
    result = desktop_idle(env)
    return result, time.perf_counter() - start


# -- X11 -----------------------------------------------------------------------------------


def test_idle_rises_without_input_and_input_resets_it(
    desktop_session: Desktop, xdotool: Callable[..., None], tmp_path: Path
) -> None:
    env = environment(desktop_session, tmp_path)

    xdotool("mousemove", "40", "30")
    moved = desktop_idle(env)
    time.sleep(1.5)
    waited = desktop_idle(env)
    xdotool("key", "shift")
    typed = desktop_idle(env)
    xdotool("mousemove", "300", "200")
    moved_again = desktop_idle(env)

    assert waited is not None
    assert waited.source == "XScreenSaver"
    assert waited.locked is None  # no logind here, and the X server cannot tell
    assert timedelta(seconds=1) <= waited.idle < timedelta(seconds=10)
    for after_input in (moved, typed, moved_again):
        assert after_input is not None
        assert after_input.source == "XScreenSaver"
        assert after_input.idle < timedelta(seconds=0.5), after_input


def unserved_display() -> str:
    number = 97
    while Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
        number += 1
    return f":{number}"


@pytest.mark.parametrize(
    "display",
    [
        None,
        "",
        "UNSERVED",
        "localhost:0",  # another machine's input (ssh -X), and TCP may block for minutes
        "remote.example:0",
        "garbage",
        "unix:",
    ],
)
def test_no_usable_display_is_none_quickly_and_quietly(
    display: str | None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-system-bus"}
    if display is not None:
        env["DISPLAY"] = unserved_display() if display == "UNSERVED" else display
    capfd.readouterr()

    result, took = timed(env)

    assert result is None
    assert took < 0.5
    assert capfd.readouterr() == ("", "")


def test_under_wayland_the_x_server_is_not_asked(desktop_session: Desktop, tmp_path: Path) -> None:
    # Xwayland sees only the input that goes to X windows: its idle time would be wrong.
    env = environment(desktop_session, tmp_path, WAYLAND_DISPLAY="wayland-0")
    assert desktop_idle(env) is None
    assert desktop_idle(environment(desktop_session, tmp_path)) is not None


def test_a_display_that_refuses_the_connection_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server accepts only this cookie; Xlib looks for ours in an XAUTHORITY with none.
    cookie = os.urandom(16)
    auth = tmp_path / "server.auth"

    def field(data: bytes) -> bytes:
        return struct.pack(">H", len(data)) + data

    family_wild = 0xFFFF
    auth.write_bytes(
        struct.pack(">H", family_wild)
        + field(b"")
        + field(b"")
        + field(b"MIT-MAGIC-COOKIE-1")
        + field(cookie)
    )
    monkeypatch.setenv("XAUTHORITY", str(tmp_path / "client.auth"))
    xvfb, display = start_xvfb("-auth", str(auth))
    try:
        result, took = timed({"DISPLAY": display, "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/none"})
    finally:
        _stop(xvfb)
    # libxcb itself writes the server's reason for refusing to stderr: not asserted here.
    assert result is None
    assert took < 0.5


def test_a_missing_library_is_no_answer() -> None:
    assert _Xlib.load(xss_name="libXss-not-installed.so.1") is None
    assert _Xlib.load(x11_name="libX11-not-installed.so.6") is None
    assert _Xlib.load() is not None


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python code in a child: if Xlib calls exit(), the child ends, not the test run."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


LOST_CONNECTION = """
import sys
from agent.probes._desktop_linux import _Xlib
xlib = _Xlib.load()
with xlib.opened(sys.argv[1]) as display:
    assert display is not None and xlib.idle_ms(display) is not None
    print("connected", flush=True)
    sys.stdin.readline()  # the test kills the server meanwhile
    print(xlib.idle_ms(display), xlib.failed, flush=True)
print("still running")
"""


def test_a_server_that_goes_away_mid_call_does_not_end_the_process() -> None:
    import ctypes

    if not hasattr(ctypes.CDLL("libX11.so.6"), "XSetIOErrorExitHandler"):
        pytest.skip("libX11 < 1.7: Xlib ends the process on a lost connection, whatever we do")
    xvfb, display = start_xvfb()
    child = subprocess.Popen(
        [sys.executable, "-c", LOST_CONNECTION, display],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "connected\n"
        xvfb.send_signal(signal.SIGKILL)
        xvfb.wait(timeout=5)
        out, err = child.communicate("go\n", timeout=30)
    finally:
        _stop(xvfb)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert out.splitlines() == ["None ['connection lost', 'exit']", "still running"]
    assert err == ""  # Xlib's own handler would have printed "XIO: fatal IO error"


PROTOCOL_ERROR = """
import sys
from agent.probes._desktop_linux import _Xlib
xlib = _Xlib.load()
before = xlib.x11.XSetErrorHandler(None)
xlib.x11.XSetErrorHandler(before)
with xlib.opened(sys.argv[1]) as display:
    info = xlib.xss.XScreenSaverAllocInfo()
    status = xlib.xss.XScreenSaverQueryInfo(display, 0x7FFFFFF, info)  # no such window
    xlib.x11.XFree(info)
    print(status, xlib.failed, xlib.idle_ms(display) is not None)
print("handler put back:", xlib.x11.XSetErrorHandler(before) == before)
"""


def test_a_protocol_error_is_noted_and_the_previous_handler_put_back(
    desktop_session: Desktop,
) -> None:
    done = run_child(PROTOCOL_ERROR, desktop_session.env["DISPLAY"])
    assert done.returncode == 0, done.stderr  # Xlib's default handler exits with 1
    assert done.stdout.splitlines() == ["0 ['protocol error'] True", "handler put back: True"]
    assert done.stderr == ""


# -- Mutter --------------------------------------------------------------------------------


@pytest.mark.parametrize("active", [True, False])
def test_mutter_is_asked_first_and_its_figure_and_lock_state_win(
    desktop_session: Desktop,
    tmp_path: Path,
    stand_in: Callable[..., StandIn],
    active: bool,
) -> None:
    bus = desktop_session.env["DBUS_SESSION_BUS_ADDRESS"]
    shell = stand_in(bus, *gnome_shell(idle_ms=123_456, active=active))
    env = environment(desktop_session, tmp_path)

    assert desktop_idle(env) == DesktopIdle(timedelta(milliseconds=123_456), active, "Mutter")
    assert shell.calls == [
        (MUTTER_PATH, "org.gnome.Mutter.IdleMonitor", "GetIdletime"),
        (SCREENSAVER_PATH, "org.gnome.ScreenSaver", "GetActive"),
    ]


def test_mutter_without_a_screensaver_service_cannot_tell_the_lock(
    desktop_session: Desktop, tmp_path: Path, stand_in: Callable[..., StandIn]
) -> None:
    stand_in(desktop_session.env["DBUS_SESSION_BUS_ADDRESS"], *gnome_shell(5_000, active=None))
    result = desktop_idle(environment(desktop_session, tmp_path))
    assert result == DesktopIdle(timedelta(seconds=5), None, "Mutter")


def test_mutter_that_fails_falls_through_to_x11(
    desktop_session: Desktop, tmp_path: Path, stand_in: Callable[..., StandIn]
) -> None:
    stand_in(desktop_session.env["DBUS_SESSION_BUS_ADDRESS"], *gnome_shell(None, active=True))
    result = desktop_idle(environment(desktop_session, tmp_path))
    assert result is not None
    assert result.source == "XScreenSaver"


def test_mutter_wins_over_logind_too(
    desktop_session: Desktop,
    tmp_path: Path,
    system_bus: str,
    stand_in: Callable[..., StandIn],
) -> None:
    stand_in(desktop_session.env["DBUS_SESSION_BUS_ADDRESS"], *gnome_shell(7_000, active=False))
    login1 = stand_in(
        system_bus,
        ["org.freedesktop.login1"],
        logind({"c1": session("wayland", idle_for=600)}),
    )
    env = environment(
        desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=system_bus, XDG_SESSION_ID="c1"
    )
    assert desktop_idle(env) == DesktopIdle(timedelta(seconds=7), False, "Mutter")
    assert login1.calls == []  # not even asked


# -- logind --------------------------------------------------------------------------------


def test_logind_absent_falls_through_to_x11_quickly(
    desktop_session: Desktop, tmp_path: Path, system_bus: str
) -> None:
    for address in (f"unix:path={tmp_path}/no-system-bus", system_bus):
        result, took = timed(
            environment(desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=address)
        )
        assert result is not None
        assert result.source == "XScreenSaver"
        assert took < 0.5, (address, took)


def test_a_system_bus_that_never_answers_costs_one_timeout(
    desktop_session: Desktop, tmp_path: Path
) -> None:
    path = tmp_path / "hung-bus"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        result, took = timed(
            environment(desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={path}")
        )
    assert result is not None
    assert result.source == "XScreenSaver"
    assert took < TIMEOUT + 0.5


def test_a_logind_that_never_answers_costs_one_timeout(
    desktop_session: Desktop,
    tmp_path: Path,
    system_bus: str,
    stand_in: Callable[..., StandIn],
) -> None:
    silent = {(LOGIN1_PATH, MANAGER, m): (lambda args: None) for m in ("GetSession",)}
    stand_in(system_bus, ["org.freedesktop.login1"], silent)
    env = environment(
        desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=system_bus, XDG_SESSION_ID="c1"
    )
    result, took = timed(env)
    assert result is not None
    assert result.source == "XScreenSaver"
    assert took < TIMEOUT + 0.5


def test_logind_answers_when_the_desktop_declared_the_session_idle(
    desktop_session: Desktop,
    tmp_path: Path,
    system_bus: str,
    stand_in: Callable[..., StandIn],
) -> None:
    stand_in(
        system_bus,
        ["org.freedesktop.login1"],
        logind({"c7": session("x11", idle_for=90, locked=True)}),
    )
    env = environment(
        desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=system_bus, XDG_SESSION_ID="c7"
    )

    result = desktop_idle(env)

    assert result is not None
    assert (result.source, result.locked) == ("logind", True)
    assert timedelta(seconds=90) <= result.idle < timedelta(seconds=95)


def test_logind_not_idle_leaves_the_figure_to_x11_and_gives_the_lock(
    desktop_session: Desktop,
    tmp_path: Path,
    system_bus: str,
    stand_in: Callable[..., StandIn],
) -> None:
    # IdleSinceHint is then when the session became active, not the last input.
    stand_in(system_bus, ["org.freedesktop.login1"], logind({"c7": session("x11", locked=True)}))
    env = environment(
        desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=system_bus, XDG_SESSION_ID="c7"
    )
    result = desktop_idle(env)
    assert result is not None
    assert (result.source, result.locked) == ("XScreenSaver", True)


def test_an_agent_started_as_a_user_service_finds_the_users_display_session(
    desktop_session: Desktop,
    tmp_path: Path,
    system_bus: str,
    stand_in: Callable[..., StandIn],
) -> None:
    # No XDG_SESSION_ID and no session of its own (NoSessionForPID): the user's Display.
    login1 = stand_in(
        system_bus,
        ["org.freedesktop.login1"],
        logind({"c2": session("wayland", idle_for=600)}, display="c2"),
    )
    result = desktop_idle(
        environment(desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=system_bus)
    )
    assert result is not None
    assert (result.source, result.locked) == ("logind", False)
    assert timedelta(seconds=600) <= result.idle < timedelta(seconds=605)
    assert [call[2] for call in login1.calls] == ["GetSessionByPID", "GetUser", "Get", "GetAll"]


def test_a_terminal_session_is_not_the_desktop(
    desktop_session: Desktop,
    tmp_path: Path,
    system_bus: str,
    stand_in: Callable[..., StandIn],
) -> None:
    # Run from an ssh login: that session is idle or not as its terminal is, not the desktop.
    stand_in(
        system_bus,
        ["org.freedesktop.login1"],
        logind(
            {"c3": session("tty", idle_for=5), "c4": session("x11", idle_for=1200)},
            by_pid="c3",
            display="c4",
        ),
    )
    env = environment(
        desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=system_bus, XDG_SESSION_ID="c3"
    )
    result = desktop_idle(env)
    assert result is not None
    assert result.source == "logind"
    assert result.idle >= timedelta(seconds=1200)


def test_no_graphical_session_in_logind_leaves_it_to_x11(
    desktop_session: Desktop,
    tmp_path: Path,
    system_bus: str,
    stand_in: Callable[..., StandIn],
) -> None:
    stand_in(
        system_bus,
        ["org.freedesktop.login1"],
        logind({"c3": session("tty", idle_for=5, locked=True)}, by_pid="c3"),
    )
    result = desktop_idle(
        environment(desktop_session, tmp_path, DBUS_SYSTEM_BUS_ADDRESS=system_bus)
    )
    assert result is not None
    assert (result.source, result.locked) == ("XScreenSaver", None)


# -- cost ----------------------------------------------------------------------------------


def test_one_call_on_xvfb_takes_about_a_millisecond(
    desktop_session: Desktop, tmp_path: Path
) -> None:
    # The session bus is there (without Mutter); the system bus is not, as on this VM.
    env = environment(desktop_session, tmp_path)
    times = [timed(env)[1] for _ in range(200)]
    median = statistics.median(times)
    print(f"desktop_idle on Xvfb: median {median * 1000:.2f} ms over {len(times)} calls")
    assert desktop_idle(env) is not None
    assert median < 0.05  # a regression guard, far above the figure
