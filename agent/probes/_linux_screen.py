"""Which Linux desktop the person uses, when its screen locks, and the settings it keeps.

Desktop: XDG_CURRENT_DESKTOP (a colon-separated list, "ubuntu:GNOME"), else
XDG_SESSION_DESKTOP / DESKTOP_SESSION, else the session programs this user runs (an agent
started as a user service may not have the desktop's variables): gnome-shell, cinnamon,
mate-session, plasmashell / ksmserver, xfce4-session, or a Wayland compositor or window
manager by name. Nothing of that and no DISPLAY or WAYLAND_DISPLAY: no desktop (None).

Screen lock, by desktop:
- GNOME (and Ubuntu, Budgie, Unity, Pantheon, which keep GNOME's keys), Cinnamon and MATE:
  GSettings, read with the real `gsettings` program in the agent's environment, so the
  backend (dconf, or the keyfile backend), the admin's dconf locks and the schema defaults
  are the desktop's own. The screen blanks after session idle-delay and locks lock-delay
  later, when lock-enabled and not lockdown disable-lock-screen; idle-delay 0 = never.
  MATE counts its delays in minutes, GNOME and Cinnamon in seconds.
- KDE Plasma: kscreenlockerrc [Daemon]: Autolock (true), Timeout (5 minutes; 0 = never),
  LockGrace (5 seconds during which input unlocks without a password; a grace longer than
  30 seconds counts as part of the delay), LockOnResume (true); defaults as Plasma ships
  them, files layered as KDE does (agent.probes.kconfig).
- Xfce: the xfce4-screensaver channel when that locker is installed or running: the saver
  starts after /saver/idle-activation/delay minutes (5) when /saver/enabled and
  /saver/idle-activation/enabled, and locks /lock/saver-activation/delay minutes (0) later
  when /lock/enabled and /lock/saver-activation/enabled; on sleep it locks when
  xfce4-power-manager's /xfce4-power-manager/lock-screen-suspend-hibernate (true).
  Defaults are xfce4-screensaver's (gs-prefs.h). Without it Xfce uses another locker
  (light-locker, xscreensaver): the running-locker rule below.
- Any other desktop (sway, Hyprland, i3, ...): a running idle locker of this user, read from
  its command line or its own settings file: swayidle (`timeout N 'swaylock'`, and
  `before-sleep` for sleep; arguments, else ~/.config/swayidle/config), xidlehook (chained
  --timer), xautolock (-time minutes, 10 by default), xscreensaver (~/.xscreensaver, else
  the app-defaults: timeout, lock, lockTimeout), xss-lock (locks when the X server's own
  saver starts: its timeout, as `xset q` shows it). Lockers whose delay lives elsewhere
  (light-locker, hypridle, the desktops' own screensavers run alone) count as locking with
  a delay not known.

Settings: `gsettings get SCHEMA KEY` for exactly the keys asked for, eight at a time
(about 16 ms each, mostly GLib starting); never a whole schema, since GNOME keeps the HTTP
proxy password in one. KDE files through agent.probes.kconfig, Xfce channels through
agent.probes.xfconf. A store this platform does not have answers with a problem, not a value.

Processes: this user's, by the kernel's short name (/proc/PID/comm, 15 characters); the
command line is read only of an idle locker, never of another program.

Failures: no desktop is None; a desktop whose settings cannot be read (gsettings missing,
its schema not installed, a broken file) raises ProbeUnavailable with one sentence.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from agent.durations import spoken
from agent.errors import ProbeUnavailable
from agent.files import read_small_file
from agent.probes import Desktop, ScreenLock, Setting, SettingRead, SettingValue

TIMEOUT_SECONDS = 5
# gsettings children at once, and the time all of a call's reads may take together.
PARALLEL_READS = 8
ALL_READS_SECONDS = 10
_COMM_LENGTH = 15  # the kernel keeps this much of a program's name (TASK_COMM_LEN - 1)
_SHORT_GRACE = 30  # seconds
_MAX_CONFIG = 1 << 20

# XDG_CURRENT_DESKTOP names (lower case) and what keeps their lock settings.
_DESKTOPS: dict[str, Desktop] = {
    "gnome": Desktop("gnome", "GNOME"),
    "ubuntu": Desktop("gnome", "GNOME (Ubuntu)"),
    "gnome-classic": Desktop("gnome", "GNOME Classic"),
    "gnome-flashback": Desktop("gnome", "GNOME Flashback"),
    "budgie": Desktop("gnome", "Budgie"),
    "budgie-desktop": Desktop("gnome", "Budgie"),
    "unity": Desktop("gnome", "Unity"),
    "pantheon": Desktop("gnome", "Pantheon"),
    "pop": Desktop("gnome", "GNOME (Pop!_OS)"),
    "x-cinnamon": Desktop("cinnamon", "Cinnamon"),
    "cinnamon": Desktop("cinnamon", "Cinnamon"),
    "mate": Desktop("mate", "MATE"),
    "kde": Desktop("kde", "KDE Plasma"),
    "plasma": Desktop("kde", "KDE Plasma"),
    "xfce": Desktop("xfce", "Xfce"),
}
# Session programs, for an agent started without the desktop's variables.
_SESSION_PROGRAMS: dict[str, Desktop] = {
    "gnome-shell": _DESKTOPS["gnome"],
    "cinnamon": _DESKTOPS["cinnamon"],
    "cinnamon-session": _DESKTOPS["cinnamon"],
    "mate-session": _DESKTOPS["mate"],
    "plasmashell": _DESKTOPS["kde"],
    "ksmserver": _DESKTOPS["kde"],
    "xfce4-session": _DESKTOPS["xfce"],
    "sway": Desktop("other", "sway"),
    "hyprland": Desktop("other", "Hyprland"),
    "i3": Desktop("other", "i3"),
    "openbox": Desktop("other", "Openbox"),
    "lxqt-session": Desktop("other", "LXQt"),
    "lxsession": Desktop("other", "LXDE"),
    "labwc": Desktop("other", "labwc"),
    "river": Desktop("other", "river"),
    "niri": Desktop("other", "niri"),
    "wayfire": Desktop("other", "Wayfire"),
}


@dataclass(frozen=True)
class _Keys:
    """Where a GSettings desktop keeps its lock settings."""

    saver: str
    session: str
    lockdown: str
    unit: int  # seconds per unit of the delays
    idle_activation: bool  # whether saver idle-activation-enabled gates the idle start


_GSETTINGS_KEYS = {
    "gnome": _Keys(
        "org.gnome.desktop.screensaver",
        "org.gnome.desktop.session",
        "org.gnome.desktop.lockdown",
        1,
        False,  # gnome-shell ignores the old gnome-screensaver key
    ),
    "cinnamon": _Keys(
        "org.cinnamon.desktop.screensaver",
        "org.cinnamon.desktop.session",
        "org.cinnamon.desktop.lockdown",
        1,
        True,
    ),
    "mate": _Keys("org.mate.screensaver", "org.mate.session", "org.mate.lockdown", 60, True),
}

# Programs that lock the screen when an idle daemon runs them.
_LOCK_COMMANDS = (
    "swaylock", "gtklock", "waylock", "hyprlock", "i3lock", "slock", "xsecurelock",
    "physlock", "xlock", "betterlockscreen", "multilockscreen", "light-locker-command",
    "xscreensaver-command", "gnome-screensaver-command", "xdg-screensaver lock",
    "loginctl lock-session", "dm-tool lock", "xflock4",
)  # fmt: skip
# Idle lockers whose delay is not read here: they lock, after a time set elsewhere.
_OPAQUE_LOCKERS = {
    "light-locker": "light-locker",
    "hypridle": "hypridle",
    "gnome-screensaver": "gnome-screensaver",
    "mate-screensaver": "mate-screensaver",
    "cinnamon-screensaver": "cinnamon-screensaver",
    "xfce4-screensaver": "xfce4-screensaver",
}
_LOCKERS = ("swayidle", "xidlehook", "xautolock", "xscreensaver", "xss-lock", *_OPAQUE_LOCKERS)
_XSCREENSAVER_DEFAULTS = (
    "/etc/X11/app-defaults/XScreenSaver",
    "/usr/share/X11/app-defaults/XScreenSaver",
)


# --- desktop -----------------------------------------------------------------------------


def desktop(env: Mapping[str, str]) -> Desktop | None:
    for variable in ("XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION"):
        for name in env.get(variable, "").lower().split(":"):
            if name.strip() in _DESKTOPS:
                return _DESKTOPS[name.strip()]
    processes = _own_processes()
    for program, found in _SESSION_PROGRAMS.items():
        if any(p.named(program) for p in processes):
            return found
    for variable in ("XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION"):
        named = env.get(variable, "").split(":")[0].strip()
        if named:
            return Desktop("other", named)
    if env.get("WAYLAND_DISPLAY") or env.get("DISPLAY"):
        return Desktop("other", "an unnamed desktop")
    return None


@dataclass(frozen=True)
class _Process:
    name: str  # the kernel's name for it (/proc/PID/comm): at most 15 characters
    pid: int

    def named(self, program: str) -> bool:
        return self.name == program[:_COMM_LENGTH]

    def argv(self) -> tuple[str, ...]:
        """Asked only of an idle locker: other programs' command lines can hold secrets."""
        try:
            raw = Path(f"/proc/{self.pid}/cmdline").read_bytes()[:_MAX_CONFIG]
        except OSError:
            return ()
        return tuple(os.fsdecode(part) for part in raw.split(b"\0") if part)


def _own_processes() -> list[_Process]:
    """This user's processes by the kernel's short name. Not psutil: to name a process whose
    short name is cut at 15 characters it reads the command line, which may hold a secret."""
    found = []
    uid = os.getuid()
    try:
        entries = [e for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    for entry in entries:
        try:
            if entry.stat().st_uid != uid:
                continue
            name = Path(entry.path, "comm").read_text(errors="replace").rstrip("\n")
        except OSError:
            continue  # gone meanwhile
        found.append(_Process(name, int(entry.name)))
    return found


# --- screen lock -------------------------------------------------------------------------


def screen_lock(env: Mapping[str, str]) -> ScreenLock | None:
    found = desktop(env)
    if found is None:
        return None
    if found.kind in _GSETTINGS_KEYS:
        return _gsettings_lock(found, _GSETTINGS_KEYS[found.kind], env)
    if found.kind == "kde":
        return _kde_lock(found, env)
    processes = _own_processes()
    if found.kind == "xfce" and (
        any(p.named("xfce4-screensaver") for p in processes)
        or shutil.which("xfce4-screensaver", path=env.get("PATH"))
    ):
        return _xfce_lock(found, env)
    return _locker(found, processes, env)


def _gsettings_lock(found: Desktop, keys: _Keys, env: Mapping[str, str]) -> ScreenLock:
    wanted = [
        (keys.saver, "lock-enabled"),
        (keys.saver, "lock-delay"),
        (keys.session, "idle-delay"),
        (keys.lockdown, "disable-lock-screen"),
    ]
    if keys.idle_activation:
        wanted.append((keys.saver, "idle-activation-enabled"))
    values = _gsettings(wanted, env)
    for needed in wanted[:3]:
        problem = values[needed].problem
        if problem:
            raise ProbeUnavailable(
                f"{found.name}'s screen lock settings could not be read: {problem}."
            )
    lock_enabled = values[wanted[0]].value is True
    disabled = values[wanted[3]].value is True  # an older schema without the key: not locked
    idle = _count(values[wanted[2]].value) * keys.unit
    delay = _count(values[wanted[1]].value) * keys.unit
    starts = not keys.idle_activation or values[wanted[-1]].value is not False
    enabled = lock_enabled and not disabled
    if not lock_enabled or disabled:
        detail = (
            f"an administrator has turned the lock screen off with {keys.lockdown} "
            "disable-lock-screen"
            if disabled
            else "locking is turned off"
        )
    elif not (idle and starts):
        detail = "the screen never blanks by itself, so it never locks by itself"
    else:
        detail = f"the screen blanks after {_words(idle)} idle; " + (
            "it locks at once" if delay == 0 else f"it locks {_words(delay)} later"
        )
    return ScreenLock(
        desktop=found,
        source=f"GSettings ({keys.saver}, {keys.session})",
        enabled=enabled,
        locks_after=timedelta(seconds=idle + delay) if enabled and idle and starts else None,
        on_resume=enabled,
        detail=detail,
        disabled_by_admin=disabled and lock_enabled,
    )


def _kde_lock(found: Desktop, env: Mapping[str, str]) -> ScreenLock:
    from agent.probes import kconfig  # noqa: PLC0415 - only KDE needs it

    config = kconfig.read("kscreenlockerrc", env)
    autolock = config.boolean("Daemon", "Autolock")
    timeout = config.integer("Daemon", "Timeout")
    grace = config.integer("Daemon", "LockGrace")
    on_resume = config.boolean("Daemon", "LockOnResume")
    autolock = True if autolock is None else autolock
    minutes = 5 if timeout is None else max(timeout, 0)
    grace_seconds = 5 if grace is None else max(grace, 0)
    on_resume = True if on_resume is None else on_resume
    automatic = autolock and minutes > 0
    # Plasma's own 5 seconds are an "are you still there" moment; a longer grace leaves
    # the screen open to any key for that long, so it counts as delay.
    counted = grace_seconds if grace_seconds > _SHORT_GRACE else 0
    locks_after = timedelta(minutes=minutes, seconds=counted) if automatic else None
    detail = (
        f"it locks after {_words(minutes * 60)} idle"
        + (f", with {_words(grace_seconds)} in which any key unlocks it" if grace_seconds else "")
        if automatic
        else "it never locks by itself"
    )
    return ScreenLock(
        desktop=found,
        source=", ".join(config.sources) or "KDE's defaults (no kscreenlockerrc)",
        enabled=automatic or on_resume,
        locks_after=locks_after,
        on_resume=on_resume,
        detail=detail + ("" if on_resume else "; it does not lock when waking from sleep"),
    )


def _xfce_lock(found: Desktop, env: Mapping[str, str]) -> ScreenLock:
    from agent.probes import xfconf  # noqa: PLC0415 - only Xfce needs it

    saver = xfconf.read("xfce4-screensaver", env)
    power = xfconf.read("xfce4-power-manager", env)

    def flag(values: Mapping[str, SettingValue], name: str, default: bool) -> bool:
        value = values.get(name)
        return value if isinstance(value, bool) else default

    def minutes(name: str, default: int) -> int:
        value = saver.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    starts = flag(saver, "/saver/enabled", True) and flag(
        saver, "/saver/idle-activation/enabled", True
    )
    idle = max(minutes("/saver/idle-activation/delay", 5), 0) * 60
    lock = flag(saver, "/lock/enabled", True)
    with_saver = flag(saver, "/lock/saver-activation/enabled", True)
    delay = max(minutes("/lock/saver-activation/delay", 0), 0) * 60
    on_sleep = flag(power, "/xfce4-power-manager/lock-screen-suspend-hibernate", True)
    automatic = lock and with_saver and starts and idle > 0
    return ScreenLock(
        desktop=found,
        source="Xfce settings (xfce4-screensaver, xfce4-power-manager)",
        enabled=lock,
        locks_after=timedelta(seconds=idle + delay) if automatic else None,
        on_resume=lock and on_sleep,
        detail=(
            ("the screen saver starts after " + _words(idle) if starts and idle else
             "the screen saver never starts by itself")
            + ("; locking is turned off" if not lock else
               "; it does not lock when the saver starts" if not with_saver else
               "; it locks at once" if delay == 0 else f"; it locks {_words(delay)} later")
        ),
    )  # fmt: skip


# --- idle lockers of other desktops ------------------------------------------------------


@dataclass(frozen=True)
class _LockerFacts:
    name: str
    locks_after: timedelta | None
    on_resume: bool | None
    delay_known: bool
    detail: str
    enabled: bool = True


def _locker(found: Desktop, processes: Sequence[_Process], env: Mapping[str, str]) -> ScreenLock:
    seen: list[_LockerFacts] = []
    for process in processes:
        facts = _locker_facts(process, env)
        if facts is not None:
            seen.append(facts)
    if not seen:
        return ScreenLock(
            desktop=found,
            source="the programs you run",
            enabled=False,
            locks_after=None,
            detail="no screen locker is running; looked for "
            + ", ".join(n for n in _LOCKERS if n != "xfce4-screensaver"),
        )
    known = [f for f in seen if f.enabled and f.delay_known and f.locks_after is not None]
    best = min(known, key=lambda f: f.locks_after or timedelta.max) if known else seen[0]
    return ScreenLock(
        desktop=found,
        source=best.name,
        enabled=any(f.enabled for f in seen),
        locks_after=best.locks_after,
        on_resume=True if any(f.on_resume for f in seen) else best.on_resume,
        delay_known=best.delay_known,
        detail=best.detail,
    )


def _locker_facts(process: _Process, env: Mapping[str, str]) -> _LockerFacts | None:
    name = next((n for n in _LOCKERS if process.named(n)), None)
    if name is None:
        return None
    if name == "swayidle":
        return _swayidle(process.argv()[1:], env)
    if name == "xidlehook":
        return _xidlehook(process.argv()[1:])
    if name == "xautolock":
        return _xautolock(process.argv()[1:])
    if name == "xscreensaver":
        return _xscreensaver(env)
    if name == "xss-lock":
        from agent.probes._desktop_linux import x11_saver_timeout  # noqa: PLC0415

        timeout = x11_saver_timeout(env)
        if timeout is None:
            return _LockerFacts(name, None, True, False, "xss-lock locks when the X screen "
                                "saver starts, whose timeout could not be read")  # fmt: skip
        return _LockerFacts(
            name,
            timeout or None,
            True,
            True,
            f"xss-lock locks when the X screen saver starts, after {_words(timeout)}"
            if timeout
            else "xss-lock runs, but the X screen saver is off (xset s off), so it locks "
            "only on sleep",
        )
    if name in _OPAQUE_LOCKERS:
        return _LockerFacts(name, None, None, False, f"{name} runs; its delay is set in its "
                            "own settings, which hygiene-agent does not read")  # fmt: skip
    return None


def _locks(command: str) -> bool:
    return any(word in command for word in _LOCK_COMMANDS)


def _swayidle(argv: Sequence[str], env: Mapping[str, str]) -> _LockerFacts:
    words = list(argv)
    config = None
    if "-C" in words and words.index("-C") + 1 < len(words):
        config = Path(words[words.index("-C") + 1]).expanduser()
    events = [w for w in words if not w.startswith("-") and w != str(config)]
    if not events:  # no events given: swayidle reads its config file
        home = Path(env.get("HOME", "~")).expanduser()
        path = config or Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "swayidle/config"
        text = _small_text(path)
        try:
            events = shlex.split(text, comments=True) if text else []
        except ValueError:  # an unclosed quote
            events = []
    after: int | None = None
    on_sleep = False
    for i, word in enumerate(events):
        following = events[i + 1 : i + 3]
        if word == "timeout" and len(following) == 2 and _locks(following[1]):
            seconds = _int(following[0])
            if seconds is not None and (after is None or seconds < after):
                after = seconds
        elif word == "before-sleep" and following and _locks(following[0]):
            on_sleep = True
    if after is None:
        detail = "swayidle runs, but none of its timeouts starts a screen locker"
        return _LockerFacts("swayidle", None, on_sleep, True, detail, enabled=on_sleep)
    return _LockerFacts(
        "swayidle", timedelta(seconds=after), on_sleep, True,
        f"swayidle starts the locker after {_words(after)} idle",
    )  # fmt: skip


def _xidlehook(argv: Sequence[str]) -> _LockerFacts:
    total = 0
    words = list(argv)
    i = 0
    while i < len(words):
        if words[i] == "--timer" and i + 2 < len(words):
            seconds = _int(words[i + 1])
            if seconds is not None:
                total += seconds  # timers run one after another
                if _locks(words[i + 2]):
                    return _LockerFacts(
                        "xidlehook", timedelta(seconds=total), None, True,
                        f"xidlehook starts the locker after {_words(total)} idle",
                    )  # fmt: skip
            i += 4
            continue
        i += 1
    return _LockerFacts("xidlehook", None, None, True,
                        "xidlehook runs, but none of its timers starts a screen locker",
                        enabled=False)  # fmt: skip


def _xautolock(argv: Sequence[str]) -> _LockerFacts:
    minutes, locker = 10, "xlock"  # xautolock's own defaults
    words = list(argv)
    for i, word in enumerate(words[:-1]):
        if word in ("-time", "-t"):
            minutes = _int(words[i + 1]) or minutes
        elif word == "-locker":
            locker = words[i + 1]
    if not _locks(locker):
        return _LockerFacts("xautolock", None, None, True,
                            "xautolock runs, but what it starts is not a screen locker",
                            enabled=False)  # fmt: skip
    return _LockerFacts(
        "xautolock", timedelta(minutes=minutes), None, True,
        f"xautolock starts the locker after {_words(minutes * 60)} idle",
    )  # fmt: skip


def _xscreensaver(env: Mapping[str, str]) -> _LockerFacts:
    settings: dict[str, str] = {}
    for default in _XSCREENSAVER_DEFAULTS:
        text = _small_text(Path(default))
        if text:
            for line in text.splitlines():
                name, colon, value = line.partition(":")
                if colon and name.strip().startswith("*"):
                    settings[name.strip()[1:].lower()] = value.strip()
            break
    home = Path(env.get("HOME", "~")).expanduser()
    for line in (_small_text(home / ".xscreensaver") or "").splitlines():
        name, colon, value = line.partition(":")
        if colon and not name.startswith(("#", "!")):
            settings[name.strip().lower()] = value.strip()
    timeout = _clock(settings.get("timeout", "0:10:00"))
    lock = settings.get("lock", "False").strip().lower() in ("true", "on", "yes")
    lock_timeout = _clock(settings.get("locktimeout", "0:00:00")) or 0
    if settings.get("mode", "").strip().lower() == "off":
        return _LockerFacts("xscreensaver", None, False, True,
                            "xscreensaver is set to 'Disable Screen Saver' (mode: off), so it "
                            "never starts or locks", enabled=False)  # fmt: skip
    if not lock:
        return _LockerFacts("xscreensaver", None, False, True,
                            "xscreensaver runs, but its 'Lock screen after' is off",
                            enabled=False)  # fmt: skip
    if not timeout:
        return _LockerFacts("xscreensaver", None, True, True,
                            "xscreensaver never starts by itself")  # fmt: skip
    total = timeout + lock_timeout
    return _LockerFacts(
        "xscreensaver", timedelta(seconds=total), True, True,
        f"xscreensaver starts after {_words(timeout)} and locks "
        + ("at once" if not lock_timeout else f"{_words(lock_timeout)} later"),
    )  # fmt: skip


# --- settings ----------------------------------------------------------------------------


def read_settings(
    settings: Iterable[Setting], env: Mapping[str, str]
) -> dict[Setting, SettingRead]:
    wanted = list(dict.fromkeys(settings))
    keys = [(s.path[0], s.path[1]) for s in wanted if s.store == "gsettings" and len(s.path) == 2]
    values: dict[tuple[str, str], SettingRead] = {}
    problem = None
    if keys:
        try:
            values = _gsettings(keys, env)
        except ProbeUnavailable as err:
            problem = str(err)
    answers: dict[Setting, SettingRead] = {}
    for setting in wanted:
        if setting.store == "gsettings" and len(setting.path) == 2:
            pair = (setting.path[0], setting.path[1])
            answers[setting] = SettingRead(None, problem) if problem else values[pair]
        else:
            answers[setting] = _file_setting(setting, env)
    return answers


def _file_setting(setting: Setting, env: Mapping[str, str]) -> SettingRead:
    try:
        if setting.store == "kconfig" and len(setting.path) == 3:
            from agent.probes import kconfig  # noqa: PLC0415

            return SettingRead(kconfig.read(setting.path[0], env).get(*setting.path[1:]))
        if setting.store == "xfconf" and len(setting.path) == 2:
            from agent.probes import xfconf  # noqa: PLC0415

            return SettingRead(xfconf.read(setting.path[0], env).get(setting.path[1]))
    except ProbeUnavailable as err:
        return SettingRead(None, str(err))
    return SettingRead(None, f"{setting.store} settings are not kept on Linux")


def _gsettings(
    keys: Sequence[tuple[str, str]], env: Mapping[str, str]
) -> dict[tuple[str, str], SettingRead]:
    """Each (schema, key) as `gsettings get` says it, in the person's environment: exactly
    the keys named, never a whole schema (GNOME keeps a proxy password in one).

    At most PARALLEL_READS run at once (a policy may list hundreds of keys, and each child
    holds pipes), and all of them within ALL_READS_SECONDS: a key not started by then is
    answered with a problem, not a wait."""
    program = shutil.which("gsettings", path=env.get("PATH") or os.defpath)
    if program is None:
        raise ProbeUnavailable("GSettings cannot be read: the gsettings program is not installed.")
    # English messages, so that "No such schema" can be told from "No such key".
    child_env = {**env, "LC_ALL": "C"}
    wanted = list(dict.fromkeys(keys))
    deadline = time.monotonic() + ALL_READS_SECONDS

    def get(pair: tuple[str, str]) -> SettingRead:
        return _gsettings_get(program, pair, child_env, deadline)

    with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        try:
            answers = list(pool.map(get, wanted))
        except OSError as err:
            pool.shutdown(cancel_futures=True)
            raise ProbeUnavailable(f"gsettings could not be started ({err.strerror}).") from None
    return dict(zip(wanted, answers, strict=True))


def _gsettings_get(
    program: str, pair: tuple[str, str], env: Mapping[str, str], deadline: float
) -> SettingRead:
    schema, key = pair
    left = min(TIMEOUT_SECONDS, deadline - time.monotonic())
    if left <= 0:
        return SettingRead(None, f"gsettings did not answer within {ALL_READS_SECONDS} seconds")
    try:
        done = subprocess.run(
            [program, "get", schema, key],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=left,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return SettingRead(None, f"gsettings did not answer within {TIMEOUT_SECONDS} seconds")
    said = done.stderr
    if done.returncode == 0:
        return SettingRead(parse_gvariant(done.stdout))
    if "No such schema" in said or "No schemas installed" in said:
        return SettingRead(None, f"the GSettings schema {schema} is not installed")
    if "No such key" in said:
        return SettingRead(None, f"the GSettings schema {schema} has no key {key}")
    return SettingRead(None, f"gsettings could not read {schema} {key}")


_TYPED_NUMBER = re.compile(r"^(?:u?int(?:16|32|64)|byte|double|handle)\s+")
_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


def parse_gvariant(text: str) -> SettingValue:
    """A value as gsettings prints it (GVariant text): booleans, numbers with or without a
    type word, strings, arrays of strings or numbers; anything else is kept as its text."""
    text = _TYPED_NUMBER.sub("", text.strip())
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*(?:e-?\d+)?", text):
        return float(text)
    whole = _STRING.fullmatch(text)
    if whole:
        return _unescape(whole.group(1) if whole.group(1) is not None else whole.group(2))
    array = text.removeprefix("@as ").strip()
    if array.startswith("[") and array.endswith("]"):
        inner = array[1:-1].strip()
        items = [_unescape(a if a is not None else b) for a, b in _STRING.findall(inner)]
        if items or not inner:
            return tuple(items)
        return tuple(item.strip() for item in inner.split(","))
    return text


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


# --- small helpers -----------------------------------------------------------------------


def _count(value: SettingValue | None) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def _clock(text: str) -> int | None:
    """xscreensaver's "H:MM:SS" (or plain minutes) in seconds."""
    parts = text.strip().split(":")
    if not all(p.strip().isdigit() for p in parts) or len(parts) > 3:
        return None
    if len(parts) == 1:
        return int(parts[0]) * 60
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def _small_text(path: Path) -> str | None:
    """A locker's settings file; None when absent, unreadable, not a file or over 1 MiB."""
    try:
        return read_small_file(path, _MAX_CONFIG).decode("utf-8", errors="replace")
    except OSError:  # FileTooLarge and NotRegularFile (a FIFO would block) are OSErrors
        return None


def _words(seconds: int | timedelta) -> str:
    return spoken(seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds))
