"""How long the Linux graphical session has had no input, and whether its screen is locked.

Three sources, asked in this order; the first that gives a figure wins:

1. Mutter's idle monitor on the session bus (GNOME on Wayland or X11). On Wayland it is
   the only one that sees all input. The lock state is gnome-shell's org.gnome.ScreenSaver
   GetActive: true while the shield is up, which is the lock screen unless the person
   turned screen locking off (then it is only a blank screen).
2. logind on the system bus, for the graphical session this agent runs in (or, for an agent
   started as a user service, the user's display session). It gives a figure only while
   the desktop has declared the session idle (IdleHint): IdleSinceHint is then when it did,
   which is after the desktop's own idle delay, so the figure is short by that delay.
   While IdleHint is false, IdleSinceHint is when the session last became active, which
   says nothing about the last input, so the next source is asked. LockedHint is the lock.
3. The X server's XScreenSaver extension, read through ctypes (libXss, libX11): the time
   since the last input the server saw. Only for a display on this machine and not under
   Wayland: a remote display is another machine's input (and a connection to an unreachable
   host blocks for minutes), and Xwayland sees only the input that goes to X windows.
   The extension cannot tell a lock: ScreenSaverOn means the server's own saver blanked
   the screen, which locks nothing, and lockers (i3lock, xscreensaver, light-locker, ...)
   are other programs; a running locker process does not mean locked either, since several
   run all the time. So the lock is logind's LockedHint when logind knows the session,
   else None.

Nothing is kept between calls. Each call opens its own bus connections and its own X
display and closes them before it returns: a desktop that restarted (sign out and in) is
found again, and there is no module state for tests to reset. It costs little: opening,
querying and closing an Xvfb display took 0.4 ms, a whole call on Xvfb (with a session bus
but no Mutter, and no system bus) 1.2-1.7 ms; tests/test_desktop_idle.py measures it.

Xlib's default handlers end the process: a protocol error prints and calls exit(), and so
does a lost connection. Around its own X calls this module installs handlers that only
note the error (and puts the previous ones back); a lost connection also needs the
per-display exit handler of libX11 >= 1.7, without which Xlib exits whatever the handler
does, and which can only be set once XOpenDisplay has returned: a server that dies during
the connection handshake itself still ends the process. The global handlers are
process-wide: nothing else in this process uses Xlib.

What Xlib does not take from `env`: it reads XAUTHORITY from the process environment, and
when a display refuses us (a cookie it does not know), libxcb writes the server's reason
to stderr before returning the refusal, which this module turns into None.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jeepney.wrappers import DBusAddress, DBusErrorResponse  # type: ignore[import-untyped]

from agent.notify import session_bus_addresses
from agent.probes import DesktopIdle
from agent.probes._dbus import BUS_ERRORS, call, connect, has_owner, system_bus_addresses

_IDLE_MONITOR = DBusAddress(
    "/org/gnome/Mutter/IdleMonitor/Core",
    bus_name="org.gnome.Mutter.IdleMonitor",
    interface="org.gnome.Mutter.IdleMonitor",
)
_SCREEN_SAVER = DBusAddress(
    "/org/gnome/ScreenSaver", bus_name="org.gnome.ScreenSaver", interface="org.gnome.ScreenSaver"
)
_LOGIN1 = "org.freedesktop.login1"
_LOGIN1_MANAGER = DBusAddress(
    "/org/freedesktop/login1", bus_name=_LOGIN1, interface="org.freedesktop.login1.Manager"
)
_GRAPHICAL = frozenset({"x11", "wayland", "mir"})
# Beyond this a figure is nonsense (and timedelta overflows): about 31 years.
_MAX_IDLE_MS = 10**12


def desktop_idle(env: Mapping[str, str]) -> DesktopIdle | None:
    """The idle time and lock state of the graphical session; None when nothing can tell."""
    mutter = _mutter(env)
    if mutter is not None:
        return mutter
    session = _logind(env)
    if session is not None and session.idle is not None:
        return DesktopIdle(session.idle, session.locked, "logind")
    idle = _x11_idle(env)
    if idle is not None:
        return DesktopIdle(idle, None if session is None else session.locked, "XScreenSaver")
    return None


# -- D-Bus ---------------------------------------------------------------------------------


def _is_count(value: object, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def _mutter(env: Mapping[str, str]) -> DesktopIdle | None:
    connection = connect(session_bus_addresses(env))
    if connection is None:
        return None
    with connection:
        try:
            (idle_ms,) = call(connection, _IDLE_MONITOR, "GetIdletime")
        except (DBusErrorResponse, *BUS_ERRORS):
            return None
        if not _is_count(idle_ms, _MAX_IDLE_MS):
            return None
        try:
            (active,) = call(connection, _SCREEN_SAVER, "GetActive")
        except (DBusErrorResponse, *BUS_ERRORS):
            active = None
    locked = active if isinstance(active, bool) else None
    return DesktopIdle(timedelta(milliseconds=idle_ms), locked, "Mutter")


@dataclass(frozen=True)
class _LogindSession:
    idle: timedelta | None  # None while the desktop has not declared the session idle
    locked: bool | None


def _logind(env: Mapping[str, str]) -> _LogindSession | None:
    connection = connect(system_bus_addresses(env))
    if connection is None:
        return None
    with connection:
        try:
            # No login1 on the bus: nothing to ask (and no error reply to wait for per call).
            if not has_owner(connection, _LOGIN1):
                return None
            properties = _graphical_session(connection, env)
        except (DBusErrorResponse, *BUS_ERRORS):
            return None
    if properties is None:
        return None
    locked = properties.get("LockedHint")
    since = properties.get("IdleSinceHint")
    idle = None
    if properties.get("IdleHint") is True and _is_count(since, 2**63) and since:
        # IdleSinceHint is in microseconds of CLOCK_REALTIME, the clock time.time_ns() reads.
        idle = timedelta(microseconds=max(0, time.time_ns() // 1000 - since))
    return _LogindSession(idle, locked if isinstance(locked, bool) else None)


def _graphical_session(connection: Any, env: Mapping[str, str]) -> dict[str, Any] | None:
    """The properties of the first graphical session among the candidates, or None."""
    seen: set[str] = set()
    for path in _session_paths(connection, env):
        if not isinstance(path, str) or path in ("", "/") or path in seen:
            continue
        seen.add(path)
        values = _value(
            connection, _properties(path), "GetAll", "s", "org.freedesktop.login1.Session"
        )
        if not isinstance(values, dict):
            continue
        properties = {str(key): value[1] for key, value in values.items()}
        if properties.get("Type") in _GRAPHICAL:
            return properties
    return None


def _session_paths(connection: Any, env: Mapping[str, str]) -> Iterator[object]:
    """Where to look, asked lazily: our session by id, then by pid, then the user's display.

    An agent started as a user service has neither an XDG_SESSION_ID nor a session of its
    own; for it, and for one started from an ssh login, the user's display session is the
    graphical one. None where logind has no such session.
    """
    session_id = env.get("XDG_SESSION_ID", "")
    if session_id:
        yield _value(connection, _LOGIN1_MANAGER, "GetSession", "s", session_id)
    yield _value(connection, _LOGIN1_MANAGER, "GetSessionByPID", "u", os.getpid())
    user = _value(connection, _LOGIN1_MANAGER, "GetUser", "u", os.getuid())
    if isinstance(user, str):
        user_interface = "org.freedesktop.login1.User"
        display = _value(connection, _properties(user), "Get", "ss", user_interface, "Display")
        # A variant ("(so)", (session id, path)); the path is "/" without a display session.
        if isinstance(display, tuple) and len(display) == 2 and isinstance(display[1], tuple):
            yield display[1][-1]


def _properties(path: str) -> Any:
    return DBusAddress(path, bus_name=_LOGIN1, interface="org.freedesktop.DBus.Properties")


def _value(connection: Any, address: Any, method: str, signature: str, *args: Any) -> Any:
    """The reply's one value, or None for an error reply (no such session, user, ...)."""
    try:
        (value,) = call(connection, address, method, signature, *args)
    except DBusErrorResponse:
        return None
    return value


# -- X11 -----------------------------------------------------------------------------------


class _XScreenSaverInfo(ctypes.Structure):
    _fields_ = [
        ("window", ctypes.c_ulong),
        ("state", ctypes.c_int),
        ("kind", ctypes.c_int),
        ("til_or_since", ctypes.c_ulong),
        ("idle", ctypes.c_ulong),
        ("event_mask", ctypes.c_ulong),
    ]


_ErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_IOErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_IOErrorExitHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def _x11_idle(env: Mapping[str, str]) -> timedelta | None:
    if env.get("WAYLAND_DISPLAY"):
        return None
    idle_ms = _x11_count(env, lambda xlib, display: xlib.idle_ms(display))
    return None if idle_ms is None else timedelta(milliseconds=idle_ms)


def x11_saver_timeout(env: Mapping[str, str]) -> timedelta | None:
    """The X server's own screen saver timeout (`xset q`), 0 when it is off; None when no
    local X display answers. xss-lock locks when this saver starts."""
    seconds = _x11_count(env, lambda xlib, display: xlib.saver_timeout(display))
    return None if seconds is None else timedelta(seconds=seconds)


def _x11_count(env: Mapping[str, str], ask: Callable[[_Xlib, int], int | None]) -> int | None:
    """One figure from the local X display, asked with its own connection; None when there
    is none, it refuses, or an X error came with the answer."""
    name = _local_display(env)
    if name is None:
        return None
    xlib = _Xlib.load()
    if xlib is None:
        return None
    with xlib.opened(name) as display:
        found = None if display is None else ask(xlib, display)
    if xlib.failed or found is None or not _is_count(found, _MAX_IDLE_MS):
        return None
    return found


def _local_display(env: Mapping[str, str]) -> str | None:
    """DISPLAY when it names a display on this machine (":0", "unix:0"), else None."""
    display = env.get("DISPLAY", "").strip()
    host, colon, number = display.rpartition(":")
    if not colon or not number or host not in ("", "unix") or "\0" in display:
        return None
    return display


class _Xlib:
    """libX11 and libXss with the prototypes used here. Errors are noted, never exit()."""

    def __init__(self, x11: Any, xss: Any) -> None:
        self.x11 = x11
        self.xss = xss
        self.failed: list[str] = []  # what went wrong since load(), as the handlers saw it

    @classmethod
    def load(cls, x11_name: str = "libX11.so.6", xss_name: str = "libXss.so.1") -> _Xlib | None:
        try:
            x11 = ctypes.CDLL(x11_name)
            xss = ctypes.CDLL(xss_name)
        except OSError:
            return None
        void_p, ulong, int_p = ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_int)
        info_p = ctypes.POINTER(_XScreenSaverInfo)
        prototypes: list[tuple[Any, str, list[Any], Any]] = [
            (x11, "XOpenDisplay", [ctypes.c_char_p], void_p),
            (x11, "XCloseDisplay", [void_p], ctypes.c_int),
            (x11, "XDefaultRootWindow", [void_p], ulong),
            (x11, "XFree", [void_p], ctypes.c_int),
            (x11, "XSetErrorHandler", [void_p], void_p),
            (x11, "XSetIOErrorHandler", [void_p], void_p),
            (x11, "XGetScreenSaver", [void_p, int_p, int_p, int_p, int_p], ctypes.c_int),
            (xss, "XScreenSaverQueryExtension", [void_p, int_p, int_p], ctypes.c_int),
            (xss, "XScreenSaverAllocInfo", [], info_p),
            (xss, "XScreenSaverQueryInfo", [void_p, ulong, info_p], ctypes.c_int),
        ]
        try:
            for library, name, argtypes, restype in prototypes:
                function = getattr(library, name)
                function.argtypes, function.restype = argtypes, restype
        except AttributeError:  # a library too old or not the one we expect
            return None
        return cls(x11, xss)

    @contextmanager
    def opened(self, name: str) -> Iterator[int | None]:
        """The display (None when it cannot be opened), closed again on leaving.

        While inside, Xlib's process-wide error handlers are ours; the previous ones are put
        back on leaving.
        """

        def on_error(display: int | None, event: int | None) -> int:
            self.failed.append("protocol error")
            return 0

        def on_io_error(display: int | None) -> int:
            self.failed.append("connection lost")  # and nothing printed, unlike Xlib's own
            return 0

        def on_io_exit(display: int | None, data: int | None) -> None:
            self.failed.append("exit")  # returning instead of calling exit() is the point

        # Locals of this generator: alive until the last call that may invoke them is done.
        error_handler = _ErrorHandler(on_error)
        io_error_handler = _IOErrorHandler(on_io_error)
        exit_handler = _IOErrorExitHandler(on_io_exit)
        previous_error = self.x11.XSetErrorHandler(ctypes.cast(error_handler, ctypes.c_void_p))
        previous_io = self.x11.XSetIOErrorHandler(ctypes.cast(io_error_handler, ctypes.c_void_p))
        try:
            display = self.x11.XOpenDisplay(os.fsencode(name))
            if not display:
                yield None
                return
            try:
                # libX11 >= 1.7; before it, a lost connection ends the process whatever we do.
                set_exit = getattr(self.x11, "XSetIOErrorExitHandler", None)
                if set_exit is not None:
                    set_exit.argtypes = [ctypes.c_void_p] * 3
                    set_exit.restype = None
                    set_exit(display, ctypes.cast(exit_handler, ctypes.c_void_p), None)
                yield int(display)
            finally:
                self.x11.XCloseDisplay(display)
        finally:
            self.x11.XSetErrorHandler(previous_error)
            self.x11.XSetIOErrorHandler(previous_io)

    def saver_timeout(self, display: int) -> int | None:
        timeout, interval, blanking, exposures = (ctypes.c_int() for _ in range(4))
        self.x11.XGetScreenSaver(
            display,
            ctypes.byref(timeout),
            ctypes.byref(interval),
            ctypes.byref(blanking),
            ctypes.byref(exposures),
        )
        return timeout.value

    def idle_ms(self, display: int) -> int | None:
        """Milliseconds since the server last saw input, or None."""
        event_base, error_base = ctypes.c_int(), ctypes.c_int()
        if not self.xss.XScreenSaverQueryExtension(
            display, ctypes.byref(event_base), ctypes.byref(error_base)
        ):
            return None
        info = self.xss.XScreenSaverAllocInfo()
        if not info:
            return None
        try:
            root = self.x11.XDefaultRootWindow(display)
            if not self.xss.XScreenSaverQueryInfo(display, root, info):
                return None
            return int(info.contents.idle)
        finally:
            self.x11.XFree(info)
