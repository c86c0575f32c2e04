"""Delivery of a notification to the person: D-Bus on Linux, plyer elsewhere, a log line last.

This module never decides what to send or when; it only tries to put the given text in front
of the person and says, honestly, whether that is known to have happened.
"""

from __future__ import annotations

import html
import importlib
import logging
import os
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from jeepney.auth import AuthenticationError  # type: ignore[import-untyped]
from jeepney.bus_messages import MatchRule, message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
from jeepney.low_level import HeaderFields  # type: ignore[import-untyped]
from jeepney.wrappers import (  # type: ignore[import-untyped]
    DBusAddress,
    DBusErrorResponse,
    new_method_call,
    unwrap_msg,
)

from agent.models import Urgency
from agent.text import printable

log = logging.getLogger(__name__)


TITLE_LIMIT = 100
BODY_LIMIT = 1000
NO_BACKEND = "No desktop notification backend is available."

_URGENCY_BYTE: dict[str, int] = {"low": 0, "normal": 1, "critical": 2}
_NOTIFICATIONS = DBusAddress(
    "/org/freedesktop/Notifications",
    bus_name="org.freedesktop.Notifications",
    interface="org.freedesktop.Notifications",
)
_NO_SERVER_ERRORS = frozenset(
    {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"}
)


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    urgency: Urgency
    actions: tuple[tuple[str, str], ...] = (("snooze-1d", "Snooze 1 day"), ("details", "Details"))
    app_name: str = "hygiene-agent"
    icon: str = "dialog-warning"


@dataclass(frozen=True)
class Delivery:
    backend: str
    delivered: bool
    server_id: int | None = None
    reason: str | None = None


class Backend(Protocol):
    name: str

    def send(self, notification: Notification, replaces_id: int | None = None) -> Delivery:
        """Try to show the notification; never raises."""
        ...


def _clean(text: str, *, single_line: bool = False) -> str:
    """Text every backend shows: tabs (and on one line, newlines) become spaces; every other
    control, bidirectional or invisible character is shown escaped (agent.text.printable),
    so nothing can reformat or reorder the display. Lone surrogates are escaped too, which
    the D-Bus encoder could not encode."""
    text = text.replace("\t", " ")
    if single_line:
        text = text.replace("\n", " ")
    return printable(text, lines=True)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _title(notification: Notification) -> str:
    return _cut(_clean(notification.title, single_line=True).strip(), TITLE_LIMIT)


def _body(notification: Notification, *, markup: bool) -> str:
    body = _cut(_clean(notification.body).strip(), BODY_LIMIT)
    # Escaped after cutting, so that the cut never splits an entity.
    return html.escape(body, quote=False) if markup else body


def session_bus_addresses(env: Mapping[str, str]) -> list[str]:
    # The D-Bus spec lets the variable list several addresses, to be tried in turn.
    addresses = [a.strip() for a in env.get("DBUS_SESSION_BUS_ADDRESS", "").split(";")]
    if any(addresses):
        return [a for a in addresses if a]
    # Where libdbus and sd-bus look when the variable is unset (systemd user sessions).
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and (Path(runtime) / "bus").exists():
        return [f"unix:path={Path(runtime) / 'bus'}"]
    return []


class BusBackend:
    """org.freedesktop.Notifications on the session bus, one short-lived connection per send."""

    name = "bus"

    def __init__(self, env: Mapping[str, str], timeout: float = 2.0) -> None:
        self._env = dict(env)
        self._timeout = timeout
        self._within = f"{timeout:g} second{'' if timeout == 1 else 's'}"  # for reasons

    def _failed(self, reason: str) -> Delivery:
        return Delivery(self.name, delivered=False, reason=reason)

    def _connect(self, address: str) -> tuple[Any, str | None]:
        """(connection, None) or (None, why not)."""
        try:
            return open_dbus_connection(bus=address, auth_timeout=self._timeout), None
        except TimeoutError:
            return None, f"The session bus did not answer within {self._within}."
        except OSError as err:
            why = err.strerror or type(err).__name__
            return None, f"Could not connect to the D-Bus session bus ({why})."
        except AuthenticationError:
            return None, "The D-Bus session bus did not accept this agent's connection."
        except (RuntimeError, ValueError, KeyError):
            # How jeepney answers an address it cannot parse or a transport it lacks (tcp, ...).
            return None, "The D-Bus session bus address is not one this agent can use."

    def _open(self) -> tuple[Any, str | None]:
        """A new connection to the first session bus address that answers, or why none did."""
        addresses = session_bus_addresses(self._env)
        if not addresses:
            return None, "No D-Bus session bus is known (DBUS_SESSION_BUS_ADDRESS is unset)."
        first_failure = None
        for address in addresses:
            connection, failure = self._connect(address)
            if connection is not None:
                return connection, None
            first_failure = first_failure or failure
        return None, first_failure or "Could not connect to the D-Bus session bus."

    def _connection(self) -> tuple[Any, str | None]:
        return self._open()

    def _finished(self, connection: Any, *, broken: bool) -> None:
        del broken  # one connection per send: closed either way
        connection.close()

    def send(self, notification: Notification, replaces_id: int | None = None) -> Delivery:
        connection, failure = self._connection()
        if connection is None:
            return self._failed(failure or "Could not connect to the D-Bus session bus.")
        broken = False
        try:
            server_id = self._notify(connection, notification, replaces_id)
        except DBusErrorResponse as err:
            name = str(err.name)
            if name in _NO_SERVER_ERRORS:
                return self._failed("No notification server is running on the session bus.")
            return self._failed(f"The notification server refused the notification ({name}).")
        except TimeoutError:
            broken = True  # a late reply would be read as the answer to the next call
            return self._failed(f"The notification server did not answer within {self._within}.")
        except OSError:
            broken = True
            return self._failed("The connection to the D-Bus session bus broke.")
        except (TypeError, ValueError):
            return self._failed("The notification could not be encoded for D-Bus.")
        finally:
            self._finished(connection, broken=broken)
        if server_id is None:
            return self._failed("The notification server answered Notify without an id.")
        return Delivery(self.name, delivered=True, server_id=server_id)

    def _notify(
        self, connection: Any, notification: Notification, replaces_id: int | None
    ) -> int | None:
        def call(method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> Any:
            message = new_method_call(_NOTIFICATIONS, method, signature, body)
            return unwrap_msg(connection.send_and_get_reply(message, timeout=self._timeout))

        answer = call("GetCapabilities")
        capabilities = (
            {str(c) for c in answer[0]} if answer and isinstance(answer[0], list) else set()
        )
        actions: list[str] = []
        if "actions" in capabilities:
            for key, label in notification.actions:
                actions += [_clean(key, single_line=True), _clean(label, single_line=True)]
        replaces = replaces_id if replaces_id is not None and 0 < replaces_id < 2**32 else 0
        reply = call(
            "Notify",
            "susssasa{sv}i",
            (
                _clean(notification.app_name, single_line=True),
                replaces,
                _clean(notification.icon, single_line=True),
                _title(notification),
                _body(notification, markup="body-markup" in capabilities),
                actions,
                {"urgency": ("y", _URGENCY_BYTE.get(notification.urgency, 1))},
                -1,
            ),
        )
        return reply[0] if reply and isinstance(reply[0], int) else None


@dataclass(frozen=True)
class Answer:
    """What the notification server reported about one of our notices."""

    server_id: int
    action: str | None = None  # the key of the action the person chose
    closed: int | None = None  # why it closed: 1 expired, 2 dismissed, 3 closed by us, 4 other


_SIGNALS = MatchRule(
    type="signal", interface="org.freedesktop.Notifications", path="/org/freedesktop/Notifications"
)


class BusSession(BusBackend):
    """The background agent's own connection to the session bus, kept open.

    Notification servers send ActionInvoked and NotificationClosed to the connection that
    sent the notice, so the agent sends and listens on the same one. It is opened again
    on the next send after it breaks (the bus or the server restarted).
    """

    def __init__(self, env: Mapping[str, str], timeout: float = 1.0) -> None:
        super().__init__(env, timeout)
        self._connection_open: Any = None
        self._signals: deque[Any] = deque(maxlen=256)
        self._server: str | None = None

    def _connection(self) -> tuple[Any, str | None]:
        if self._connection_open is not None:
            return self._connection_open, None
        connection, failure = self._open()
        if connection is None:
            return None, failure
        try:
            rule = MatchRule(
                type="signal",
                sender=_NOTIFICATIONS.bus_name,
                interface=_NOTIFICATIONS.interface,
                path=_NOTIFICATIONS.object_path,
            )
            connection.send_and_get_reply(message_bus.AddMatch(rule), timeout=self._timeout)
        except (OSError, TimeoutError, DBusErrorResponse):
            connection.close()
            return None, "The D-Bus session bus did not let this agent listen for answers."
        connection.filter(_SIGNALS, queue=self._signals)
        self._connection_open = connection
        return connection, None

    def _finished(self, connection: Any, *, broken: bool) -> None:
        if broken:
            self.close()

    def fileno(self) -> int | None:
        """The socket to wait on for answers, while connected."""
        connection = self._connection_open
        return None if connection is None else int(connection.sock.fileno())

    def answers(self) -> list[Answer]:
        """The answers that have arrived, without waiting. Only the server's own count."""
        connection = self._connection_open
        if connection is None:
            return []
        try:
            while True:
                connection.recv_messages(timeout=0)
        except TimeoutError:
            pass
        except (OSError, ValueError):
            # The bus went away or sent what cannot be parsed; connect afresh next time.
            self.close()
        answers: list[Answer] = []
        while self._signals:
            message = self._signals.popleft()
            answer = self._answer(message)
            if answer is not None:
                answers.append(answer)
        return answers

    def _answer(self, message: Any) -> Answer | None:
        fields = message.header.fields
        body = message.body
        if not (isinstance(body, tuple) and len(body) == 2 and isinstance(body[0], int)):
            return None
        if not self._from_server(fields.get(HeaderFields.sender)):
            # Any program on the bus may send us a signal; only the server's are answers.
            return None
        member = fields.get(HeaderFields.member)
        if member == "ActionInvoked" and isinstance(body[1], str):
            return Answer(server_id=body[0], action=body[1])
        if member == "NotificationClosed" and isinstance(body[1], int):
            return Answer(server_id=body[0], closed=body[1])
        return None

    def _from_server(self, sender: object) -> bool:
        if sender is not None and sender == self._server:
            return True
        connection = self._connection_open
        if connection is None:
            return False
        try:
            reply = connection.send_and_get_reply(
                message_bus.GetNameOwner(_NOTIFICATIONS.bus_name), timeout=self._timeout
            )
            owner = unwrap_msg(reply)[0]
        except (OSError, TimeoutError, DBusErrorResponse, IndexError):
            return False
        self._server = str(owner)
        return sender == self._server

    def close(self) -> None:
        connection, self._connection_open = self._connection_open, None
        if connection is not None:
            connection.close()


def _bus_reachable(env: Mapping[str, str]) -> bool:
    connection, _ = BusBackend(env, timeout=1.0)._open()
    if connection is None:
        return False
    connection.close()
    return True


# Of plyer's implementations, only these raise when the notification is not accepted: the
# others hand it to notify-send, a thread or an OS call and drop the outcome.
_PLYER_CONFIRMS = frozenset({"NotifyDbus"})
# On macOS and Windows plyer's call into the OS is the only path and the only signal there
# is; calling that undelivered would re-send the same notice every cycle.
_PLYER_OS_HANDOFF = frozenset({"OSXNotification", "WindowsNotification"})


class PlyerBackend:
    """plyer's notification facade; the Delivery's backend names the implementation it used."""

    name = "plyer"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env

    def send(self, notification: Notification, replaces_id: int | None = None) -> Delivery:
        try:
            platform = str(importlib.import_module("plyer.utils").platform)
            if platform == "linux" and not _bus_reachable(
                os.environ if self._env is None else self._env
            ):
                # Every plyer path on Linux goes over the session bus; without one its helpers
                # only print their own errors to our stderr (and the journal).
                return Delivery(
                    f"{self.name}:none",
                    delivered=False,
                    reason="plyer needs the session bus on Linux too, and it cannot be reached.",
                )
            module = importlib.import_module(f"plyer.platforms.{platform}.notification")
            with warnings.catch_warnings():
                # plyer warns (to stderr) about each Linux helper it does not find.
                warnings.simplefilter("ignore")
                implementation: Any = module.instance()
        except Exception:  # noqa: BLE001 - plyer platform modules fail on import in many ways
            return Delivery(
                "plyer:none",
                delivered=False,
                reason="plyer has no notification implementation for this system.",
            )
        kind = type(implementation).__name__
        backend = f"{self.name}:{'none' if kind == 'Notification' else kind}"
        if kind == "Notification":
            # The bare facade: notify() would raise NotImplementedError with no message.
            return Delivery(
                backend, delivered=False, reason="plyer found no notification tool on this system."
            )
        linux = platform == "linux"
        title = _title(notification)
        # Linux notification servers nearly all read the body as markup; others show it as is.
        body = _body(notification, markup=linux and kind != "NotifyDesktopPortals")
        if kind == "NotifyDesktopPortals":
            # plyer pastes both texts into a GVariant literal between single quotes.
            title, body = (t.replace("\\", "\\\\").replace("'", "\\'") for t in (title, body))
        elif kind == "NotifySendNotification":
            # plyer puts both texts before its own options with no "--": a leading "-" would be
            # read as an option. A word joiner in front is invisible and stops that.
            title, body = (f"\u2060{t}" if t.startswith("-") else t for t in (title, body))
        try:
            hints: dict[str, Any] = {}
            if kind == "NotifyDbus":
                # dbus-python would send a plain int as int32, which servers ignore for urgency.
                byte = importlib.import_module("dbus").Byte
                hints["urgency"] = byte(_URGENCY_BYTE.get(notification.urgency, 1))
            implementation.notify(
                title=title,
                message=body,
                app_name=_clean(notification.app_name, single_line=True),
                app_icon=_clean(notification.icon, single_line=True) if linux else "",
                hints=hints,
            )
        except Exception:  # noqa: BLE001 - any plyer implementation may raise anything
            # The exception's text is left out: it may quote the notification.
            return Delivery(backend, delivered=False, reason=f"plyer's {kind} failed to send it.")
        if kind in _PLYER_CONFIRMS or kind in _PLYER_OS_HANDOFF:
            return Delivery(backend, delivered=True)
        return Delivery(
            backend,
            delivered=False,
            reason=f"plyer's {kind} does not report whether the notification was shown.",
        )


class LogBackend:
    """The record of a notification nobody was shown: one WARNING line, never a failure."""

    name = "log"

    def __init__(self, reason: str | None = None) -> None:
        self._reason = reason or NO_BACKEND

    def send(self, notification: Notification, replaces_id: int | None = None) -> Delivery:
        # %r keeps a multi-line body on one log line.
        log.warning(
            "notification not shown (%s): title=%r body=%r",
            self._reason.rstrip("."),
            _title(notification),
            _body(notification, markup=False),
        )
        return Delivery(self.name, delivered=False, reason=self._reason)


def default_backends(
    env: Mapping[str, str], platform: str, *, resident: bool = False
) -> list[Backend]:
    """The backends to try in order on this platform (LogBackend is the caller's last resort).

    `resident`: the background agent's, whose bus connection stays open to hear the answers.
    """
    if platform in ("darwin", "win32"):
        return [PlyerBackend(env)]
    return [BusSession(env) if resident else BusBackend(env), PlyerBackend(env)]


def deliver(
    notification: Notification, backends: Sequence[Backend], replaces_id: int | None = None
) -> Delivery:
    """The first backend's successful delivery; otherwise a log line and the first failure."""
    failures: list[Delivery] = []
    for backend in backends:
        result = backend.send(notification, replaces_id)
        if result.delivered:
            return result
        failures.append(result)
    reason = next((f.reason for f in failures if f.reason), None) or NO_BACKEND
    return LogBackend(reason).send(notification)
