from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from agent.checks.base import Check, CheckContext, CheckParams
from agent.errors import CheckSkipped
from agent.models import Finding, Severity
from agent.probes.browsers import (
    BasicStoreFlag,
    ChromiumProfile,
    FirefoxProfile,
    Unreadable,
    basic_store_flags,
    chromium_profiles,
    firefox_profiles,
    firefox_protection,
)
from agent.wording import clip

if TYPE_CHECKING:
    from agent.probes._nss import Protection

# Where each browser keeps its saved passwords' page, for the advice.
_PASSWORD_PAGES = {
    "Chromium": "chrome://password-manager/passwords",
    "Chrome": "chrome://password-manager/passwords",
    "Brave": "brave://password-manager/passwords",
    "Edge": "edge://wallet/passwords",
    "Vivaldi": "vivaldi://settings/passwords",
}


def primary_password(ctx: CheckContext, profile: Path) -> Protection:
    """Whether the Firefox profile's key store needs a Primary Password, asked once per run
    for every check that wants to know (privacy_settings asks it of saved-card autofill)."""
    return ctx.facts.once(
        ("firefox primary password", str(profile)), lambda: firefox_protection(profile)
    )


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


class BrowserPasswordsCheck(Check[CheckParams]):
    """Passwords your browser saved are only as safe as the key they are locked with.

    Firefox (and LibreWolf, Waterfox, Floorp, Zen) encrypts saved passwords with a key that
    anyone can use unless you set a Primary Password: a copy of your profile folder, a
    backup, or any program you run can read every saved password. Chromium, Chrome, Brave,
    Edge and Vivaldi on Linux lock saved passwords and cookies (which keep you signed in)
    with a key from your desktop keyring; without one ("basic" store) they use a fixed key
    written into the browser itself, the same on every computer. The check counts what is
    stored and how it is locked; it never decrypts a saved password or cookie.
    """

    id = "browser_passwords"
    topic = "browser passwords"
    title = "Your browsers' saved passwords are locked"
    severity = Severity.high
    rationale = (
        "A saved password without a Primary Password or a keyring is readable by anyone who "
        "copies the profile folder, and by any program you run."
    )
    advice = (
        "Set a Primary Password in Firefox, run Chromium-based browsers with the desktop "
        "keyring, and remove saved passwords you no longer need."
    )
    reads = (
        "Firefox profiles (profiles.ini, also Flatpak and Snap): the number of entries in "
        "logins.json, and in key4.db (or key3.db) only the password-check entry, decrypted "
        "with the empty password to tell whether a Primary Password is set",
        "Chromium, Chrome, Brave, Edge and Vivaldi profiles: Login Data and Cookies opened "
        "read-only, entries counted by their first three bytes (v10: fixed key, v11: "
        "keyring) inside SQLite, so no value reaches the agent",
        "those browsers' flags files and your desktop files, for --password-store=basic",
    )
    keeps = (
        "the profile folder, the browser's name, counts of saved passwords and cookies by "
        "how they are locked, and yes/no for a Primary Password; never a value"
    )
    alert = "A browser's saved passwords are not locked"
    alert_many = "{n} problems with browsers' saved passwords"
    alerts = (
        (
            "no primary password",
            "Saved passwords with no Primary Password",
            "{n} profiles have no Primary Password",
        ),
        (
            "basic password store",
            "A browser locks data with a fixed key",
            "{n} browser profiles use a fixed key",
        ),
        (
            "basic store flag",
            "A browser is told not to use the keyring",
            "{n} files keep browsers off the keyring",
        ),
    )

    def run(self, ctx: CheckContext) -> list[Finding]:
        if not sys.platform.startswith("linux"):
            raise CheckSkipped("browsers' stores are checked on Linux only, for now")
        home = ctx.paths.home
        foxes, fox_problems = firefox_profiles(home, lambda path: primary_password(ctx, path))
        chromes, chrome_problems = chromium_profiles(home)
        flags, flag_problems = basic_store_flags(home)
        for problem in [*fox_problems, *chrome_problems, *flag_problems]:
            self._unreadable(ctx, problem)
        findings: list[Finding] = []
        for fox in foxes:
            findings.extend(self._firefox(ctx, fox))
        for chrome in chromes:
            findings.extend(self._chromium(ctx, chrome))
        findings.extend(self._flag(ctx, flag) for flag in flags)
        if not foxes and not chromes and not flags:
            self.passed = "no browser profile with saved passwords or cookies was found"
        return findings

    def _unreadable(self, ctx: CheckContext, problem: Unreadable) -> None:
        shown = ctx.paths.display(problem.path)
        self.note(f"{problem.browser}: {shown} could not be checked: {problem.reason}.")

    def _firefox(self, ctx: CheckContext, fox: FirefoxProfile) -> list[Finding]:
        if fox.protection is None or fox.protection.protected:
            return []
        shown = ctx.paths.display(fox.path)
        saved = _plural(fox.logins, "saved password")
        where = f"{fox.browser}: Settings > Privacy & Security > Passwords"
        found = self.finding(
            ctx,
            shown,
            "no primary password",
            f"{fox.browser} keeps {saved} in {shown} with no Primary Password: anyone "
            "who copies this folder, or any program you run, can read "
            + ("it." if fox.logins == 1 else "them."),
            f"Set a Primary Password in {where} > 'Use a Primary Password', with a "
            "strong password you do not use elsewhere. Then open about:logins and remove "
            "the saved passwords you no longer need.",
            notice=f"{fox.browser} keeps {saved} with no Primary Password "
            f"({clip(shown, 60)}). Set one: Settings > Privacy & Security.",
            browser=fox.browser,
            saved_passwords=fox.logins,
            primary_password=False,
        )
        # Graded like the others: the engine takes the worst graded finding as the result's.
        return [replace(found, severity=Severity.high)]

    def _chromium(self, ctx: CheckContext, chrome: ChromiumProfile) -> list[Finding]:
        shown = ctx.paths.display(chrome.path)
        for store, counts in (("Login Data", chrome.passwords), ("Cookies", chrome.cookies)):
            if counts is not None and counts.in_use:
                self.note(
                    f"{chrome.browser}: {shown} {store} was in use by the browser; it was "
                    "counted as it is on disk."
                )
        passwords = chrome.passwords.basic if chrome.passwords else 0
        cookies = (chrome.cookies.basic + chrome.cookies.plain) if chrome.cookies else 0
        if not passwords and not cookies:
            return []
        what = " and ".join(
            words
            for count, words in (
                (passwords, _plural(passwords, "saved password")),
                (cookies, _plural(cookies, "cookie")),
            )
            if count
        )
        page = _PASSWORD_PAGES.get(chrome.browser, "its Settings > Passwords")
        forget = (
            f"remove the saved passwords you no longer need ({page}) and save the others "
            "again, and "
            if passwords
            else ""
        )
        found = self.finding(
            ctx,
            shown,
            "basic password store",
            f"{chrome.browser} keeps {what} in {shown} locked with its fixed built-in "
            "key (the 'basic' store), not your desktop keyring: any program you run, or "
            "anyone with a copy of the folder, can read "
            + ("it" if passwords + cookies == 1 else "them")
            + ("." if passwords else ", and so use your signed-in sessions."),
            f"Run {chrome.browser} with the desktop keyring: remove --password-store=basic "
            "from how it is started, and have GNOME Keyring or KWallet unlocked when you "
            "sign in (or start it with --password-store=gnome-libsecret). What is stored "
            f"already keeps the old key: {forget}sign out of websites and back in "
            "(Settings > Privacy and security > Delete browsing data > Cookies).",
            notice=f"{chrome.browser} locks {what} with a fixed key, not your keyring "
            f"({clip(shown, 50)}). Run it with the desktop keyring.",
            browser=chrome.browser,
            saved_passwords_fixed_key=passwords,
            cookies_fixed_key=cookies,
            saved_passwords_keyring=chrome.passwords.keyring if chrome.passwords else 0,
            cookies_keyring=chrome.cookies.keyring if chrome.cookies else 0,
        )
        # Saved passwords are the worse loss; cookies alone are sessions, not passwords.
        return [replace(found, severity=Severity.high if passwords else Severity.medium)]

    def _flag(self, ctx: CheckContext, flag: BasicStoreFlag) -> Finding:
        shown = ctx.paths.display(flag.path)
        admin = " (a file under /etc needs an administrator)" if shown.startswith("/etc") else ""
        found = self.finding(
            ctx,
            shown,
            "basic store flag",
            f"{shown} starts {flag.browser} with --password-store=basic: it then locks saved "
            "passwords and cookies with a fixed key anyone can use, not your desktop keyring.",
            f"Remove --password-store=basic from {shown}{admin}, then restart {flag.browser}.",
            notice=f"{clip(shown, 60)} starts {flag.browser} without the keyring. Remove "
            "--password-store=basic from it.",
            browser=flag.browser,
        )
        return replace(found, severity=Severity.medium)
