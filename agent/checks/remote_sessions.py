from __future__ import annotations

import ipaddress
import re
import shlex
import sys
from datetime import UTC, datetime, timedelta

from pydantic import Field, field_validator

from agent.checks.base import Check, CheckContext, CheckParams
from agent.durations import Duration, roughly
from agent.errors import CheckSkipped, ProbeUnavailable
from agent.models import Finding, Severity
from agent.paths import printable
from agent.probes import Session, sessions

# Entries utmp holds for local things: an X display, a terminal multiplexer.
_LOCAL_HOST = re.compile(r"^(:\d|(tmux|screen)\(\d+\))")


class RemoteSessionsParams(CheckParams):
    every: Duration = timedelta(seconds=15)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Where remote logins may come from: addresses or networks (CIDR, such as "
        '"192.168.1.0/24") and host names as the login records show them. Empty: every '
        "remote login is reported.",
    )
    max_age: Duration = Field(
        default=timedelta(days=7),
        description="A session signed in for longer than this is reported, remote or not.",
    )
    ignore_users: list[str] = Field(
        default_factory=list, description="User names whose sessions are not reported."
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if "/" in host:
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError:
                    raise ValueError(
                        f"expected a network such as 10.0.0.0/8, got {host!r}"
                    ) from None
            elif not host or any(c.isspace() for c in host):
                raise ValueError(f"expected an address, a network or a host name, got {host!r}")
        return hosts


class RemoteSessionsCheck(Check[RemoteSessionsParams]):
    """Engage only with machines you know: a login from elsewhere is a stranger at your desk.

    Every session signed in from another machine is listed unless that machine is one the
    policy names; a session signed in for days is one somebody forgot.
    """

    id = "remote_sessions"
    title = "Only known machines are signed in"
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
    alert = "A session you may not know about"
    alert_many = "{n} sessions you may not know about"
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
            if _is_remote(session.host) and not self._allowed(session.host):
                findings.append(self._stranger(ctx, session))
            age = now - session.started
            if age > self.params.max_age:
                findings.append(self._old(ctx, session, age))
        return findings

    def _allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        for allowed in self.params.allowed_hosts:
            if address is not None and "/" in allowed:
                network = ipaddress.ip_network(allowed, strict=False)
                if address.version == network.version and address in network:
                    return True
            elif allowed.lower() == host.lower():
                return True
        return False

    def _stranger(self, ctx: CheckContext, session: Session) -> Finding:
        # utmp is written by other programs: shown escaped, like file names are.
        user, where = printable(session.user), printable(session.terminal) or "an unnamed terminal"
        since = f"{session.started.astimezone():%Y-%m-%d %H:%M}"
        return self.finding(
            ctx,
            f"{user} from {printable(session.host)}",
            f"remote session on {where} since {session.started.isoformat()}",
            f"{user} is signed in on {where} from {printable(session.host)}, a machine the policy "
            f"does not list, since {since}.",
            "If you know this machine, add it to allowed_hosts in your policy; if you do not, "
            "end the session"
            + (
                f" (`pkill -HUP -t {shlex.quote(where)}`)"
                if sys.platform.startswith("linux")
                else ""
            )
            + " and change your password.",
            host=printable(session.host),
            terminal=where,
        )

    def _old(self, ctx: CheckContext, session: Session, age: timedelta) -> Finding:
        # utmp is written by other programs: shown escaped, like file names are.
        user, where = printable(session.user), printable(session.terminal) or "an unnamed terminal"
        return self.finding(
            ctx,
            f"{user} on {where}",
            f"old session since {session.started.isoformat()}",
            f"{user} has been signed in for {roughly(age)} on {where}.",
            "Sign out of sessions you are not using; a forgotten session is an open door.",
            terminal=where,
        )


def _is_remote(host: str) -> bool:
    return bool(host) and not _LOCAL_HOST.match(host)
