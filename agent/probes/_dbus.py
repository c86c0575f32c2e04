"""Asking a bus service a question, the way every Linux probe here does: short timeouts,
never starting a service that is not running, and any failure meaning "cannot tell"."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jeepney.auth import AuthenticationError  # type: ignore[import-untyped]
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
from jeepney.low_level import MessageFlag  # type: ignore[import-untyped]
from jeepney.wrappers import new_method_call, unwrap_msg  # type: ignore[import-untyped]

# Seconds for each bus connection and each call: the agent asks every few seconds, and a
# bus that does not answer this fast is not going to.
TIMEOUT = 0.5

SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"

# What jeepney raises for an address it cannot use, a bus that is not there or does not let
# us in, and a connection that breaks or answers what cannot be parsed.
BUS_ERRORS = (
    TimeoutError,
    OSError,
    AuthenticationError,
    RuntimeError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
)


def system_bus_addresses(env: Mapping[str, str]) -> list[str]:
    setting = env.get("DBUS_SYSTEM_BUS_ADDRESS", "").strip() or SYSTEM_BUS
    return [a.strip() for a in setting.split(";") if a.strip()]


def connect(addresses: list[str]) -> Any:
    """A connection to the first address that answers, or None."""
    for address in addresses:
        if address.startswith("unix:path=") and not Path(address[10:].split(",")[0]).exists():
            continue  # the common case on a machine without that bus: one stat
        try:
            return open_dbus_connection(bus=address, auth_timeout=TIMEOUT)
        except BUS_ERRORS:
            continue
    return None


def has_owner(connection: Any, name: str) -> bool:
    """Whether `name` runs on the bus: asked first, so an absent service costs one call."""
    reply = connection.send_and_get_reply(message_bus.NameHasOwner(name), timeout=TIMEOUT)
    return unwrap_msg(reply)[0] is True


def call(
    connection: Any, address: Any, method: str, signature: str | None = None, *args: Any
) -> tuple[Any, ...]:
    """The reply's values; raises DBusErrorResponse for an error reply."""
    message = new_method_call(address, method, signature, args)
    # Asking must never start a service that is not running.
    message.header.flags |= MessageFlag.no_auto_start
    return tuple(unwrap_msg(connection.send_and_get_reply(message, timeout=TIMEOUT)))
