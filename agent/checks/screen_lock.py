from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Annotated

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.durations import format_duration, spoken
from agent.errors import CheckSkipped, ProbeUnavailable
from agent.models import Finding, Severity
from agent.probes import ScreenLock, screen_lock
from agent.settings import STRICT, Doc, Duration, Rule, settings

_GSETTINGS = {"gnome": "org.gnome.desktop", "cinnamon": "org.cinnamon.desktop"}
_OTHER = (
    "start an idle locker in your session, for example for sway: swayidle -w timeout {secs} "
    "'swaylock -f' before-sleep 'swaylock -f'; for X11: xss-lock -- i3lock with xset s {secs}"
)


def advice(found: ScreenLock, most: timedelta, waking: bool = False) -> str:
    """Where to change it, for this desktop or locker, with the policy's figure filled in."""
    secs = int(most.total_seconds())
    mins = max(1, secs // 60)
    kind, source = found.desktop.kind, found.source
    if found.disabled_by_admin:
        schema = f"{_GSETTINGS.get(kind, 'org.gnome.desktop')}.lockdown"
        return (
            "Ask whoever manages this computer to allow the lock screen; if you turned it off "
            f"yourself: gsettings reset {schema} disable-lock-screen"
        )
    if kind in _GSETTINGS:
        prefix = _GSETTINGS[kind]
        where = (
            "Settings > Privacy (Privacy & Security in newer GNOME) > Screen Lock"
            if kind == "gnome"
            else "System Settings > Screensaver"
        )
        return (
            f"{where}: turn automatic locking on, lock at once, blank after at most "
            f"{spoken(most)}; or run: gsettings set {prefix}.screensaver lock-enabled true; "
            f"gsettings set {prefix}.screensaver lock-delay 0; "
            f"gsettings set {prefix}.session idle-delay {secs}"
        )
    if kind == "mate":
        return (
            "Control Center > Screensaver: 'Lock screen when screensaver is active', idle "
            f"after at most {mins} minutes; or run: gsettings set org.mate.screensaver "
            f"lock-enabled true; gsettings set org.mate.session idle-delay {mins}"
        )
    if kind == "kde":
        if waking:
            return (
                "System Settings > Screen Locking: tick 'After waking from sleep' (or run: "
                "kwriteconfig5 --file kscreenlockerrc --group Daemon --key LockOnResume true)"
            )
        return (
            f"System Settings > Screen Locking: 'Lock screen automatically' after {mins} "
            "minutes (or run: kwriteconfig5 --file kscreenlockerrc --group Daemon --key "
            f"Autolock true; kwriteconfig5 --file kscreenlockerrc --group Daemon --key Timeout "
            f"{mins})"
        )
    if source.startswith("Xfce settings"):
        if waking:
            return (
                "Settings > Power Manager > Security: tick 'Lock screen when system is going "
                "to sleep'"
            )
        return (
            "Settings > Xfce Screensaver: on the Screensaver tab activate it when idle after "
            f"at most {mins} minutes; on the Lock Screen tab turn on 'Enable Lock Screen' and "
            "'Lock Screen with Screensaver'"
        )
    if kind == "macos":
        return (
            "System Settings > Lock Screen: 'Start Screen Saver when inactive' or 'Turn "
            f"display off when inactive' at most {spoken(most)}, and 'Require password after "
            "screen saver begins or display is turned off' Immediately"
        )
    if kind == "windows":
        if waking:
            return (
                "Settings > Accounts > Sign-in options: 'If you've been away, when should "
                "Windows require you to sign in again?' When PC wakes up from sleep"
            )
        return (
            "Settings > Personalization > Lock screen > Screen saver: pick a screen saver, set "
            f"Wait to at most {mins} minutes and tick 'On resume, display logon screen'"
        )
    lockers = {
        "xautolock": f"restart xautolock with -time {mins} and a locker, e.g. "
        f"xautolock -time {mins} -locker i3lock",
        "xscreensaver": f"in xscreensaver-settings set 'Blank After' to {mins} minutes and tick "
        f"'Lock Screen After' 0 minutes (~/.xscreensaver: timeout: 0:{mins:02d}:00, lock: True, "
        "lockTimeout: 0:00:00)",
        "xss-lock": f"let the X screen saver start sooner: xset s {secs}",
        "swayidle": f"run swayidle -w timeout {secs} 'swaylock -f' before-sleep 'swaylock -f'",
        "xidlehook": f"give xidlehook a timer that locks: --timer {secs} 'i3lock' ''",
    }
    if source in lockers:
        return lockers[source]
    if source in ("light-locker", "hypridle") or source.endswith("-screensaver"):
        return f"shorten the lock delay in {source}'s own settings to at most {spoken(most)}"
    return _OTHER.format(secs=secs)


def where(found: ScreenLock, most: timedelta, waking: bool = False) -> str:
    """The one place to change it, for a notice: a settings path or one command."""
    secs = int(most.total_seconds())
    mins = max(1, secs // 60)
    kind, source = found.desktop.kind, found.source
    if found.disabled_by_admin:
        return "ask whoever manages this computer to allow the lock screen"
    if source.startswith("Xfce settings"):
        return (
            "Settings > Power Manager > Security"
            if waking
            else "Settings > Xfce Screensaver > Lock Screen"
        )
    places = {
        "gnome": "Settings > Privacy > Screen Lock",
        "cinnamon": "System Settings > Screensaver",
        "mate": "Control Center > Screensaver",
        "kde": "System Settings > Screen Locking",
        "macos": "System Settings > Lock Screen",
        "windows": "Settings > Accounts > Sign-in options"
        if waking
        else "Settings > Personalization > Lock screen > Screen saver",
    }
    if kind in places:
        return places[kind]
    commands = {
        "xautolock": f"xautolock -time {mins} -locker i3lock",
        "xscreensaver": "xscreensaver-settings",
        "xss-lock": f"xset s {secs}",
        "swayidle": f"swayidle -w timeout {secs} 'swaylock -f' before-sleep 'swaylock -f'",
        "xidlehook": f"xidlehook --timer {secs} 'i3lock' ''",
    }
    if source in commands:
        return commands[source]
    if source in ("light-locker", "hypridle") or source.endswith("-screensaver"):
        return f"{source}'s own settings"
    return f"start an idle locker, e.g. swayidle -w timeout {secs} 'swaylock -f'"


def _a_minute_at_least(value: timedelta) -> timedelta:
    if value < timedelta(minutes=1):
        raise ValueError(
            f"desktops lock after a minute at the soonest, got {format_duration(value)!r}"
        )
    return value


@settings
class ScreenLockParams(CheckParams):
    # Reading the settings runs gsettings (a few milliseconds); a changed setting is
    # told within this.
    every: Every = timedelta(minutes=5)
    max_lock_delay: Annotated[
        Duration,
        Rule(_a_minute_at_least),
        Doc("The longest a computer left alone may stay unlocked."),
    ] = timedelta(minutes=5)
    require_lock_on_resume: Annotated[
        bool,
        STRICT,
        Doc("Also ask that the screen locks when the computer wakes from sleep."),
    ] = True


class ScreenLockCheck(Check[ScreenLockParams]):
    """A computer left alone locks itself within minutes.

    A screen that stays unlocked while you fetch a coffee hands your mail, files and
    signed-in accounts to whoever sits down. The check reads your desktop's own lock
    settings (GNOME, Cinnamon, MATE, KDE Plasma, Xfce, or the idle locker you run on
    other desktops; System Settings on macOS, the screen saver on Windows) and asks that
    the screen locks by itself within max_lock_delay, and when the computer wakes up.
    """

    id = "screen_lock"
    topic = "screen lock"
    title = "The screen locks by itself when you step away"
    severity = Severity.medium
    rationale = "An unlocked screen gives whoever sits down everything you are signed in to."
    advice = (
        "Let the screen lock by itself after a few minutes without use, and whenever the "
        "computer wakes from sleep; lock it yourself when you step away."
    )
    reads = (
        "your desktop's screen lock settings (GSettings, ~/.config/kscreenlockerrc, Xfce's "
        "settings files; on other desktops the command line of a running idle locker and "
        "~/.xscreensaver), the names of the programs you run (to know the desktop; no other "
        "program's command line is read)",
    )
    keeps = "whether the screen locks, after how long, and on waking"
    alert = "Your screen does not lock when you step away"
    alert_many = "Your screen does not lock when you step away ({n} problems)"
    alerts = (
        ("locking off", "Screen locking is off", "Screen locking is off ({n} problems)"),
        ("too late", "Your screen locks too late", "Your screen locks too late ({n} problems)"),
        (
            "no lock on resume",
            "Your screen does not lock on waking",
            "Your screen does not lock on waking ({n} problems)",
        ),
    )
    Params = ScreenLockParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        try:
            found = screen_lock(ctx.env)
        except ProbeUnavailable as err:
            raise CheckSkipped(str(err)) from None
        if found is None:
            raise CheckSkipped("this computer has no graphical desktop, so no screen to lock")
        most = self.params.max_lock_delay
        how = advice(found, most)
        place = where(found, most)
        name = found.desktop.name
        facts = {"desktop": found.desktop.name, "source": found.source, "detail": found.detail}
        findings = []
        if not found.enabled:
            findings.append(
                dataclasses.replace(
                    self.finding(
                        ctx,
                        "screen lock",
                        "locking off",
                        f"Your screen never locks ({found.desktop.name}: {found.detail}): anyone "
                        "at your computer while you are away is signed in as you.",
                        how + "." if found.disabled_by_admin else f"Turn screen locking on: {how}.",
                        notice=f"Your screen never locks ({name}). "
                        + (
                            f"To turn it on, {place}."
                            if found.disabled_by_admin
                            else f"Turn locking on: {place}"
                        ),
                        **facts,
                    ),
                    severity=Severity.high,
                )
            )
        elif found.locks_after is None and found.delay_known:
            findings.append(
                self.finding(
                    ctx,
                    "screen lock",
                    "never by itself",
                    f"Your screen does not lock by itself ({found.desktop.name}: "
                    f"{found.detail}): it stays unlocked until you lock it.",
                    f"Let it lock after a few minutes idle: {how}.",
                    notice=f"Your screen does not lock by itself ({name}). Let it lock after "
                    f"{spoken(most)}: {place}",
                    **facts,
                )
            )
        elif found.locks_after is not None and found.locks_after > most:
            findings.append(
                self.finding(
                    ctx,
                    "screen lock",
                    "too late",
                    f"Your screen locks only after {spoken(found.locks_after)} without use "
                    f"({found.desktop.name}: {found.detail}); your policy asks for at most "
                    f"{spoken(most)}.",
                    f"Shorten the delay: {how}.",
                    notice=f"Your screen locks only after {spoken(found.locks_after)} idle "
                    f"({name}); at most {spoken(most)} is asked. Shorten it: {place}",
                    locks_after=int(found.locks_after.total_seconds()),
                    max_lock_delay=int(most.total_seconds()),
                    **facts,
                )
            )
        elif not found.delay_known:
            self.note(f"{found.detail}; the delay could not be checked.")
        if found.enabled and self.params.require_lock_on_resume and found.on_resume is False:
            findings.append(
                self.finding(
                    ctx,
                    "lock on waking",
                    "no lock on resume",
                    f"Your screen does not lock when the computer wakes from sleep "
                    f"({found.desktop.name}): opening the lid opens your session.",
                    f"Turn on locking when waking from sleep: {advice(found, most, waking=True)}.",
                    notice=f"Your screen does not lock when the computer wakes ({name}). Turn "
                    f"it on: {where(found, most, waking=True)}",
                    **facts,
                )
            )
        return findings
