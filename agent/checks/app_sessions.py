from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, get_args

from agent.checks._disks import volumes
from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.checks.ssh_keys import opened_to, shell_quote
from agent.models import Finding, Severity
from agent.probes.app_sessions import (
    FolderFacts,
    SignalFacts,
    TelegramFacts,
    folder_facts,
    reason,
    signal,
    telegram,
)
from agent.settings import Doc, Limit, settings

AppName = Literal["telegram", "signal"]


@dataclass(frozen=True)
class _App:
    name: str  # as a person knows it
    # Where it keeps its session, from the home folder: the usual install, Flatpak, Snap,
    # macOS and Windows.
    folders: tuple[str, ...]


APPS: dict[str, _App] = {
    "telegram": _App(
        "Telegram Desktop",
        (
            ".local/share/TelegramDesktop/tdata",
            ".var/app/org.telegram.desktop/data/TelegramDesktop/tdata",
            "snap/telegram-desktop/current/.local/share/TelegramDesktop/tdata",
            "Library/Application Support/Telegram Desktop/tdata",
            "AppData/Roaming/Telegram Desktop/tdata",
        ),
    ),
    "signal": _App(
        "Signal Desktop",
        (
            ".config/Signal",
            ".var/app/org.signal.Signal/config/Signal",
            "snap/signal-desktop/current/.config/Signal",
            "Library/Application Support/Signal",
            "AppData/Roaming/Signal",
        ),
    ),
}

_TELEGRAM_PASSCODE = (
    "In Telegram Desktop: Settings > Privacy and Security > Local passcode > Turn on local "
    "passcode, and choose an auto-lock time. On a computer others use, log out when you are "
    "done (Settings > Log out), or end the session from your phone: Settings > Devices."
)
_SIGNAL_KEY = (
    "Let Signal keep the key in your system's keyring: current Signal Desktop moves it there "
    "by itself when a keyring is running (GNOME Keyring or KWallet on Linux, the Keychain on "
    "macOS), so update it and start it once; on Linux do not start it with "
    "--password-store=basic. On a computer others use, unlink it when you are done: Signal on "
    "your phone > Settings > Linked devices."
)


def _known_app_or_path(value: str) -> str:
    if "/" in value or "\\" in value or value.startswith("~"):
        if value.startswith("~") and value != "~" and not value.startswith("~/"):
            raise ValueError(f"only ~/ is understood, not another user's ~, got {value!r}")
        return value
    if value not in APPS:
        raise ValueError(
            f"ignore names {value!r}, which is neither a path nor an app; the apps are "
            + ", ".join(APPS)
        )
    return value


@settings
class AppSessionsParams(CheckParams):
    # A few stat calls and a read of two small files, under a millisecond.
    every: Every = timedelta(hours=1)
    apps: Annotated[
        list[AppName],
        Limit(max_length=len(APPS)),
        Doc("Which messengers to look at: telegram (Telegram Desktop), signal (Signal Desktop)."),
    ] = field(default_factory=lambda: list(get_args(AppName)))
    ignore: Annotated[
        list[Annotated[str, Limit(max_length=4096)]],
        Limit(max_length=64),
        Doc(
            "Apps (telegram, signal) or session folders (~/ and relative paths start at the "
            "home directory) not to report."
        ),
    ] = field(default_factory=list)

    def __post_init__(self) -> None:
        for value in self.ignore:
            _known_app_or_path(value)


class AppSessionsCheck(Check[AppSessionsParams]):
    """A copy of a messenger's folder should not sign anyone in as you.

    Telegram Desktop and Signal Desktop keep you signed in with files in your home folder.
    Without a local passcode (Telegram) or with its database key in plain text (Signal),
    whoever copies that folder, from a backup, a stolen or shared computer or a program you
    ran, opens your chats on their own computer, with no password and no code. The check
    asks whether Telegram's local passcode is set (the way Telegram itself does, by trying
    the empty passcode on its key file), whether Signal's key is wrapped by the system's
    keyring, and whether either folder is open to other users or on a disk that is not
    encrypted.
    """

    id = "app_sessions"
    topic = "messenger sessions"
    title = "Messenger sessions need more than a copy of a folder"
    severity = Severity.high
    rationale = (
        "A messenger folder with no passcode or a key in plain text signs in whoever copies it."
    )
    advice = (
        "Set a local passcode in Telegram Desktop, let Signal Desktop keep its key in your "
        "keyring, keep their folders yours alone, and sign out when you are done on a "
        "computer others use."
    )
    reads = (
        "the permissions of Telegram Desktop's tdata folder and Signal Desktop's folder "
        "(usual, Flatpak and Snap places) and the file system they are on",
        "the names of the files in tdata, and tdata/key_datas (up to 64 KiB): its salt and "
        "the block that tells whether a local passcode is set, tried with the empty passcode "
        "as Telegram does; never the accounts, their keys or messages",
        "the names of the fields of Signal's config.json (up to 256 KiB), never their values",
        "whether the disk holding your home folder is encrypted, as disk_encryption finds it "
        "(looked at once for both)",
    )
    keeps = (
        "the folder, the app and what is wrong (no passcode, key in plain text, mode, disk "
        "not encrypted); never a key or anything read from one"
    )
    alert = "A messenger session is not protected"
    alert_many = "{n} problems with messenger sessions"
    alerts = (
        (
            "no passcode",
            "Telegram opens without a passcode",
            "{n} Telegram folders lack a passcode",
        ),
        ("key in plain text", "Signal's key is in plain text", "{n} Signal keys are in plain text"),
        (
            "readable by others",
            "Others can open a messenger folder",
            "Others can open {n} messenger folders",
        ),
        (
            "disk not encrypted",
            "A messenger session is on a plain disk",
            "{n} messenger sessions are on plain disks",
        ),
    )
    Params = AppSessionsParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        home = ctx.paths.home
        ignored = [
            _home_path(home, value)
            for value in self.params.ignore
            if "/" in value or "\\" in value or value.startswith("~")
        ]
        findings: list[Finding] = []
        seen = 0
        for app_id, app in APPS.items():
            if app_id not in self.params.apps or app_id in self.params.ignore:
                continue
            for relative in app.folders:
                path = home / relative
                if any(path == i or i in path.parents for i in ignored):
                    continue
                shown = ctx.paths.display(path)
                try:
                    folder = folder_facts(path)
                except OSError as err:
                    self.note(f"{app.name} ({shown}) could not be looked at: {reason(err)}.")
                    continue
                if folder is None:
                    continue
                seen += 1
                if app_id == "telegram":
                    findings.extend(self._telegram(ctx, telegram(folder), shown))
                else:
                    findings.extend(self._signal(ctx, signal(folder), shown))
        if not seen:
            self.passed = "no Telegram Desktop or Signal Desktop folder is on this computer"
        return findings

    def _telegram(self, ctx: CheckContext, facts: TelegramFacts, shown: str) -> list[Finding]:
        if facts.problem is not None:
            self.note(
                f"Telegram Desktop ({shown}): whether a local passcode is set could not be "
                f"told: {facts.problem}."
            )
        if not facts.signed_in:
            return []
        found = []
        unprotected = facts.no_passcode is True
        if unprotected:
            found.append(
                self.finding(
                    ctx,
                    shown,
                    "no passcode",
                    f"Telegram Desktop has no local passcode: whoever copies {shown} is signed "
                    "in to your Telegram on their own computer, with no password and no code.",
                    _TELEGRAM_PASSCODE,
                    notice=f"Telegram opens from {shown} without a passcode. Set one: Settings "
                    "> Privacy and Security > Local passcode.",
                    app="telegram",
                )
            )
        found.extend(self._folder(ctx, facts.folder, shown, "Telegram Desktop", unprotected))
        return found

    def _signal(self, ctx: CheckContext, facts: SignalFacts, shown: str) -> list[Finding]:
        config = ctx.paths.display(facts.config)
        if facts.problem is not None:
            self.note(
                f"Signal Desktop ({shown}): where its key is kept could not be told: "
                f"{facts.problem}."
            )
        if not (facts.plain_key or facts.wrapped_key):
            return []  # no key yet: Signal was never linked here
        found = []
        unprotected = facts.plain_key is True or facts.basic_wrapped
        if facts.basic_wrapped and facts.plain_key is not True:
            found.append(
                self.finding(
                    ctx,
                    config,
                    "key under a fixed key",
                    f"Signal Desktop wraps the key to your messages in {config} with a key "
                    "every copy of Chromium knows (its basic store, not your keyring): whoever "
                    f"copies {shown} reads your messages and can use your account.",
                    _SIGNAL_KEY,
                    notice=f"Signal's key in {config} is not locked by your keyring. Start "
                    "Signal with your keyring running.",
                    app="signal",
                )
            )
        elif unprotected:
            found.append(
                self.finding(
                    ctx,
                    config,
                    "key in plain text",
                    f"Signal Desktop keeps the key to your messages in plain text in {config}: "
                    f"whoever copies {shown} reads your messages and can use your account.",
                    _SIGNAL_KEY,
                    notice=f"Signal's key is in plain text in {config}. Update Signal and "
                    "start it with your keyring running.",
                    app="signal",
                )
            )
        found.extend(self._folder(ctx, facts.folder, shown, "Signal Desktop", unprotected))
        return found

    def _folder(
        self, ctx: CheckContext, folder: FolderFacts, shown: str, app: str, unprotected: bool
    ) -> list[Finding]:
        found = []
        if folder.mode is not None and folder.mode & 0o077:
            found.append(
                self.finding(
                    ctx,
                    shown,
                    "readable by others",
                    f"{shown}, where {app} keeps you signed in, can be {opened_to(folder.mode)} "
                    f"(mode {folder.mode:04o}).",
                    f"Run: chmod 700 {shell_quote(shown)}",
                    notice=f"Others can open {shown}. Run: chmod 700 {shell_quote(shown)}",
                    mode=f"{folder.mode:04o}",
                )
            )
        # A session locked by its own passcode or the keyring is safe in a copy; one that is
        # not is as safe as the disk it is on.
        if unprotected and self._on_plain_disk(ctx, folder, shown, app):
            found.append(
                self.finding(
                    ctx,
                    shown,
                    "disk not encrypted",
                    f"{shown} is on a disk that is not encrypted: whoever holds this computer "
                    f"can copy it and be signed in to {app} as you.",
                    "Encrypt the disk (see disk_encryption) and protect the session itself "
                    "(the passcode or keyring above), so that a copy is worth nothing.",
                    notice=f"{app}'s session in {shown} is on a disk that is not encrypted. "
                    "See: hygiene status",
                )
            )
        return found

    def _on_plain_disk(self, ctx: CheckContext, folder: FolderFacts, shown: str, app: str) -> bool:
        home = next((v for v in volumes(ctx) if "~" in v.holds), None)
        if home is None or home.encrypted is not False:
            return False  # encrypted, or not known (disk_encryption says why)
        try:
            same = ctx.paths.home.stat().st_dev == folder.device
        except OSError:
            same = False
        if not same:
            self.note(
                f"Whether the disk holding {app}'s {shown} is encrypted could not be told: it "
                "is on another file system than your home folder."
            )
        return same


def _home_path(home: Path, value: str) -> Path:
    if value == "~":
        return home
    if value.startswith("~/"):
        return home / value[2:]
    return home / value
