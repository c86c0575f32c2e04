from __future__ import annotations

from dataclasses import field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated

from agent.checks._sessions import end_command, shown, terminal_of, user_of
from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.durations import roughly
from agent.errors import CheckSkipped, ProbeUnavailable
from agent.models import Finding, Severity
from agent.probes import Session, desktop_idle, sessions
from agent.settings import Doc, Duration, settings
from agent.wording import clip


@settings
class IdleSessionsParams(CheckParams):
    # Reading utmp and a few device times costs well under a millisecond.
    every: Every = timedelta(seconds=15)
    max_idle: Annotated[
        Duration,
        Doc("A session with no input for longer than this, still signed in, is reported."),
    ] = timedelta(minutes=15)
    ignore_users: Annotated[list[str], Doc("User names whose sessions are not reported.")] = field(
        default_factory=list
    )
    ignore_terminals: Annotated[
        list[str],
        Doc('Terminals not reported, as names or patterns such as "tty1" or "pts/*".'),
    ] = field(default_factory=list)
    include_graphical: Annotated[
        bool,
        Doc(
            "Also report the desktop session this agent runs in when it is idle and "
            "its screen is not locked."
        ),
    ] = True


class IdleSessionsCheck(Check[IdleSessionsParams]):
    """Sign out when you are done: a session left open is open to whoever holds the device.

    A terminal or SSH session nobody has typed into for a long time, and a desktop left
    unlocked, let anyone who sits down, or who takes over the connection, act as you.
    """

    id = "idle_sessions"
    topic = "idle sessions"
    title = "No session is left signed in and idle"
    severity = Severity.high
    rationale = "A session left open is open to whoever holds the device."
    advice = "Sign out of sessions you have finished with, and lock the screen when you step away."
    reads = (
        "who is signed in, from the login records (utmp): user, terminal, remote host, "
        "login time, process id",
        "when each terminal was last typed at (the device's access time, as `w` shows)",
        "how long the desktop has had no keyboard or mouse input, and whether it is locked",
    )
    keeps = "the user, terminal and remote host of an idle session, and roughly how long"
    # Typing into a terminal again is not a fix to thank anyone for.
    thanks_when_fixed = False
    alert = "A session is signed in and idle"
    alert_many = "{n} sessions are signed in and idle"
    alerts = (
        (
            "idle and unlocked",
            "Your desktop is idle and unlocked",
            "{n} desktops are idle and unlocked",
        ),
    )
    Params = IdleSessionsParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        now = datetime.now(UTC)
        limit = self.params.max_idle
        try:
            signed_in = sessions(now)
            no_records = None
        except ProbeUnavailable as err:
            signed_in, no_records = [], str(err)
        findings = [
            self._terminal(ctx, session)
            for session in signed_in
            if session.idle is not None
            and session.idle > limit
            and not _is_desktop(session.terminal)
            and session.user not in self.params.ignore_users
            and not any(fnmatchcase(session.terminal, p) for p in self.params.ignore_terminals)
        ]
        desktop = desktop_idle(ctx.env) if self.params.include_graphical else None
        if no_records is not None:
            if desktop is None:
                raise CheckSkipped(no_records)
            self.note(f"terminal sessions were not checked: {no_records}")
        # An idle desktop that is locked is what should happen; one whose lock state cannot
        # be told is left to the screen_lock check rather than guessed at.
        if desktop is not None and desktop.idle > limit and desktop.locked is None:
            self.note(
                f"the desktop has had no input for {roughly(desktop.idle)}; whether its screen "
                f"is locked cannot be told here ({desktop.source} does not say)"
            )
        if desktop is not None and desktop.idle > limit and desktop.locked is False:
            display = ctx.env.get("DISPLAY") or ctx.env.get("WAYLAND_DISPLAY") or "desktop"
            findings.append(
                self.finding(
                    ctx,
                    f"the desktop ({display})",
                    "idle and unlocked",
                    f"Your desktop session has had no input for {roughly(desktop.idle)} "
                    "and its screen is not locked.",
                    "Lock the screen when you step away (Super+L or Ctrl+Alt+L on most "
                    "desktops), and let it lock by itself after a few minutes.",
                    notice=f"Your desktop has had no input for {roughly(desktop.idle)} and is "
                    "not locked. Lock it when you step away: Super+L (Ctrl+Alt+L on some).",
                    idle_seconds=int(desktop.idle.total_seconds()),
                    source=desktop.source,
                )
            )
        return findings

    def _terminal(self, ctx: CheckContext, session: Session) -> Finding:
        idle = session.idle or timedelta(0)
        user, where = user_of(session), terminal_of(session)
        origin = f" from {shown(session.host)}" if session.host else ""
        command = end_command(session)
        also = f", or `{command}` from another session" if command else ""
        brief = f"{clip(user, 30)} on {clip(where, 30)}"
        if session.host:
            brief += f" from {clip(shown(session.host), 40)}"
        end = f"end it: {command}" if command else "type exit in it."
        return self.finding(
            ctx,
            f"{user} on {where}",
            f"idle session since {session.started.isoformat()}",
            f"{user} is signed in on {where}{origin} and nothing has been typed there for "
            f"{roughly(idle)}.",
            f"If you are done there, sign out (type `exit` in it{also}).",
            notice=f"{brief} has had no input for {roughly(idle)}. If you are done there, {end}",
            idle_seconds=int(idle.total_seconds()),
            terminal=where,
        )


def _is_desktop(terminal: str) -> bool:
    # The graphical login ("console" on macOS and Windows, ":0" on Linux) is judged below with
    # its lock state: an idle desktop that is locked is fine, an idle terminal is not.
    return terminal == "console" or terminal.startswith(":")
