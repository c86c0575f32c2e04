from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from agent.checks.base import Check, CheckContext, CheckParams
from agent.durations import Duration, format_duration, spoken
from agent.errors import CheckSkipped, ProbeUnavailable
from agent.models import Finding, Severity
from agent.probes import screen_lock

# Where each desktop keeps the setting, in the words its settings window uses.
_HOW = {
    "gnome": "Settings > Privacy & Security > Screen Lock: turn on Automatic Screen Lock and "
    "set Blank Screen Delay and Automatic Screen Lock Delay so that together they are at most "
    "{max} (or: gsettings set org.gnome.desktop.screensaver lock-enabled true; gsettings set "
    "org.gnome.desktop.session idle-delay 300)",
    "cinnamon": "System Settings > Screensaver: set 'Delay before starting the screensaver' "
    "and turn on 'Lock the computer after the screensaver starts', together at most {max}",
    "mate": "Control Center > Screensaver: 'Regard the computer as idle after' at most {max} "
    "and turn on 'Lock screen when screensaver is active'",
    "kde": "System Settings > Screen Locking: turn on 'Lock screen automatically' after at "
    "most {max}, and 'After waking from sleep'",
    "xfce": "Settings > Xfce Screensaver: on the Screensaver tab 'Activate screensaver when "
    "computer is idle' after at most {max}; on the Lock Screen tab turn on 'Enable Lock "
    "Screen' and 'Lock Screen with Screensaver'",
    "macos": "System Settings > Lock Screen: 'Start Screen Saver when inactive' or 'Turn "
    "display off when inactive' at most {max}, and 'Require password after screen saver "
    "begins or display is turned off' Immediately",
    "windows": "Settings > Personalization > Lock screen > Screen saver: pick a screen saver, "
    "set Wait to at most {max} and tick 'On resume, display logon screen'",
    "other": "start an idle locker in your session, for example for sway: swayidle -w "
    "timeout 300 'swaylock -f' before-sleep 'swaylock -f'; for X11: xss-lock with "
    "'xset s 300', or xautolock -time 5 -locker i3lock",
}


class ScreenLockParams(CheckParams):
    # Reading the settings runs gsettings (a few milliseconds); a changed setting is
    # told within this.
    every: Duration = timedelta(minutes=5)
    max_lock_delay: Duration = Field(
        default=timedelta(minutes=5),
        description="The longest a computer left alone may stay unlocked.",
    )
    require_lock_on_resume: bool = Field(
        default=True,
        strict=True,
        description="Also ask that the screen locks when the computer wakes from sleep.",
    )


class ScreenLockCheck(Check[ScreenLockParams]):
    """A computer left alone locks itself within minutes.

    A screen that stays unlocked while you fetch a coffee hands your mail, files and
    signed-in accounts to whoever sits down. The check reads your desktop's own lock
    settings (GNOME, Cinnamon, MATE, KDE Plasma, Xfce, or the idle locker you run on
    other desktops; System Settings on macOS, the screen saver on Windows) and asks that
    the screen locks by itself within max_lock_delay, and when the computer wakes up.
    """

    id = "screen_lock"
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
    alert = "Your screen does not lock soon enough"
    alert_many = "Your screen does not lock soon enough ({n} problems)"
    Params = ScreenLockParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        try:
            found = screen_lock(ctx.env)
        except ProbeUnavailable as err:
            raise CheckSkipped(str(err)) from None
        if found is None:
            raise CheckSkipped("this computer has no graphical desktop, so no screen to lock")
        most = self.params.max_lock_delay
        how = _HOW.get(found.desktop.kind, _HOW["other"]).format(max=format_duration(most))
        facts = {"desktop": found.desktop.name, "source": found.source, "detail": found.detail}
        findings = []
        if not found.enabled:
            findings.append(
                self.finding(
                    ctx,
                    "screen lock",
                    "locking off",
                    f"Your screen never locks ({found.desktop.name}: {found.detail}): anyone "
                    "at your computer while you are away is signed in as you.",
                    f"Turn screen locking on: {how}.",
                    **facts,
                ).model_copy(update={"severity": Severity.high})
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
                    f"Turn on locking when waking from sleep: {how}.",
                    **facts,
                )
            )
        return findings
