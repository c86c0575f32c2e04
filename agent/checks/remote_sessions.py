from __future__ import annotations

import ipaddress
from dataclasses import field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated

from agent.checks._sessions import end_command, shown, terminal_of, user_of
from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.durations import roughly
from agent.errors import CheckSkipped, ProbeUnavailable
from agent.models import Finding, Severity
from agent.probes import Session, sessions
from agent.settings import Doc, Duration, Rule, settings
from agent.wording import clip


def _hosts(hosts: list[str]) -> list[str]:
    for host in hosts:
        if "/" in host:
            try:
                ipaddress.ip_network(host, strict=False)
            except ValueError:
                raise ValueError(f"expected a network such as 10.0.0.0/8, got {host!r}") from None
        elif not host or any(c.isspace() for c in host):
            raise ValueError(f"expected an address, a network or a host name, got {host!r}")
    return hosts


@settings
class RemoteSessionsParams(CheckParams):
    every: Every = timedelta(seconds=15)
    allowed_hosts: Annotated[
        list[str],
        Rule(_hosts),
        Doc(
            "Where remote logins may come from: addresses, networks (CIDR, such as "
            '"192.168.1.0/24"), and host names or patterns ("*.example.org") as the login '
            "records show them (no DNS lookups). Empty: every remote login is reported."
        ),
    ] = field(default_factory=list)
    max_age: Annotated[
        Duration, Doc("A session signed in for longer than this is reported, remote or not.")
    ] = timedelta(days=7)
    ignore_users: Annotated[list[str], Doc("User names whose sessions are not reported.")] = field(
        default_factory=list
    )


class RemoteSessionsCheck(Check[RemoteSessionsParams]):
    """Engage only with machines you know: a login from elsewhere is a stranger at your desk.

    Every session signed in from another machine is listed unless that machine is one the
    policy names; a session signed in for days is one somebody forgot.
    """

    id = "remote_sessions"
    topic = "remote sessions"
    title = "Sessions come from known machines and are not forgotten"
    severity = Severity.high
    rationale = "A login from a machine you do not know is a stranger at your desk."
    advice = (
        "Find out who signed in from a machine you do not know; if it was not you, change "
        "your password and remove keys you do not recognise from ~/.ssh/authorized_keys."
    )
    reads = (
        "who is signed in, from the login records (utmp): user, terminal, remote host, "
        "login time, process id",
    )
    keeps = "the user, terminal and remote host of a reported session, and since when"
    alert = "A session to look at"
    alert_many = "{n} sessions to look at"
    alerts = (
        (
            "remote session",
            "Someone is signed in from an unknown machine",
            "{n} sessions from unknown machines",
        ),
        ("old session", "A session has been open for long", "{n} sessions have been open for long"),
    )
    Params = RemoteSessionsParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        now = datetime.now(UTC)
        findings = []
        try:
            signed_in = sessions(now)
        except ProbeUnavailable as err:
            raise CheckSkipped(str(err)) from None
        for session in signed_in:
            if session.user in self.params.ignore_users:
                continue
            # The probe gives "" for a session on this machine (a display, tmux, screen).
            if session.host and not self._allowed(session.host):
                findings.append(self._stranger(ctx, session))
            age = now - session.started
            if age > self.params.max_age:
                findings.append(self._old(ctx, session, age))
        return findings

    def _allowed(self, host: str) -> bool:
        address = _address(host)
        for allowed in self.params.allowed_hosts:
            if address is not None and "/" in allowed:
                if address in _network(allowed):
                    return True
            elif address is not None and _address(allowed) is not None:
                if address == _address(allowed):
                    return True
            elif fnmatchcase(host.lower(), allowed.lower()):
                return True
        return False

    def _stranger(self, ctx: CheckContext, session: Session) -> Finding:
        user, where, host = user_of(session), terminal_of(session), shown(session.host)
        since = f"{session.started.astimezone():%Y-%m-%d %H:%M}"
        address = _address(session.host)
        which = (
            "this machine itself (a tunnel or a program here), which the policy does not list"
            if address is not None and address.is_loopback
            else "a machine the policy does not list"
        )
        command = end_command(session)
        end = f"end the session with `{command}`" if command else "end the session"
        brief = f"{clip(user, 30)} is signed in on {clip(where, 30)} from {clip(host, 40)}"
        return self.finding(
            ctx,
            f"{user} from {host}",
            f"remote session on {where} since {session.started.isoformat()}",
            f"{user} is signed in on {where} from {host}, {which}, since {since}.",
            "If you know this machine, add it to allowed_hosts in your policy. If you do not, "
            f"{end}, change your password and remove keys you do not recognise from "
            "~/.ssh/authorized_keys.",
            notice=f"{brief}, a machine your policy does not list. If it is not you, "
            + (f"end it: {command}" if command else "end it and change your password."),
            host=host,
            terminal=where,
        )

    def _old(self, ctx: CheckContext, session: Session, age: timedelta) -> Finding:
        user, where = user_of(session), terminal_of(session)
        command = end_command(session)
        end = f"end it: {command}" if command else "sign out."
        return self.finding(
            ctx,
            f"{user} on {where}",
            f"old session since {session.started.isoformat()}",
            f"{user} has been signed in for {roughly(age)} on {where}.",
            "Sign out of sessions you are not using; a forgotten session is an open door.",
            notice=f"{clip(user, 30)} has been signed in on {clip(where, 30)} for "
            f"{roughly(age)}. If you are done there, {end}",
            terminal=where,
        )


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as one value, whatever its spelling; IPv4 seen through IPv6 as IPv4."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)
