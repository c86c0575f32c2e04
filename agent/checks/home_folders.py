from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import field, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.checks.ssh_keys import shell_quote
from agent.errors import CheckSkipped
from agent.models import Finding, Severity
from agent.probes.access import (
    GROUP,
    GROUP_OBJ,
    MASK,
    OTHER,
    PASS,
    READ,
    USER,
    WRITE,
    Account,
    FolderAccess,
    accounts,
    folder_access,
)
from agent.settings import STRICT, Doc, HomePath, settings
from agent.text import printable

# ~/.ssh is ssh_keys' to report (its "folder open to others"), with the keys inside it.
_FOLDERS = ["~", "~/.gnupg", "~/.config", "~/.local/share"]


@settings
class HomeFoldersParams(CheckParams):
    # A few stat calls: cheap, and a folder opened by a chmod is told within minutes.
    every: Every = timedelta(minutes=5)
    folders: Annotated[
        list[HomePath],
        Doc("The folders no one else should list; ~/ starts at the home directory."),
    ] = field(default_factory=lambda: list(_FOLDERS))
    allow_pass: Annotated[
        bool,
        STRICT,
        Doc(
            "Let others pass through a folder to a file you share by its name (mode 711) "
            "as long as they cannot list it."
        ),
    ] = True


class HomeFoldersCheck(Check[HomeFoldersParams]):
    """Other people on this computer cannot look through your home folder.

    Debian and Ubuntu make home folders that every account on the computer can list (mode
    755), and so can ~/.config and ~/.local/share, where programs keep your settings,
    histories and tokens: anyone with an account, or a service running as one, learns
    the name of every file and can read each one not closed itself. The check looks at
    the folders' modes, their groups (your own group, which no one else is in, is fine)
    and their access lists (setfacl), and at whether others can reach them at all.
    """

    id = "home_folders"
    topic = "home folder"
    title = "Your home folder is closed to others"
    severity = Severity.medium
    rationale = (
        "A home folder others can list shows them every file name and opens every file "
        "not closed itself."
    )
    advice = "Close your home folder to others: chmod 700 ~ (and the same for the folders named)."
    reads = (
        "the permissions, group and access list (setfacl) of your home folder, ~/.gnupg, "
        "~/.config, ~/.local/share and the policy's folders; the group list, to tell your "
        "own group from a shared one",
    )
    keeps = "the folder's name, its mode and who can open it; never a file in it"
    alert = "Others can open your home folder"
    alert_many = "Others can open {n} of your folders"
    alerts = (
        (
            "changed by others",
            "Others can change a folder of yours",
            "Others can change {n} of your folders",
        ),
        (
            "listed by others",
            "Others can list a folder of yours",
            "Others can list {n} of your folders",
        ),
    )
    Params = HomeFoldersParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        if sys.platform == "win32":
            raise CheckSkipped("Windows keeps home folders with its own access lists")
        home = ctx.paths.home
        seen: dict[Path, FolderAccess] = {}
        me = os.geteuid()
        if me == 0:  # root auditing a person's home judges it as theirs
            me = home.stat().st_uid if home.exists() else 0
        listed: list[list[Account]] = []

        def others() -> list[Account]:
            # Listing the accounts loads the system's account modules (half a MB for
            # systemd's): asked only when a group or an access list lets someone in.
            if not listed:
                listed.append([a for a in accounts() if a.uid not in (me, 0)])
            return listed[0]

        findings = []
        for name in dict.fromkeys(self.params.folders):
            path = _folder(home, name)
            access = self._look(ctx, path, seen, asked=name not in _FOLDERS)
            if access is None:
                continue
            above = [self._look(ctx, folder, seen) for folder in _between(home, path)]
            reached = [a for a in above if a is not None]
            findings += self._judge(
                ctx, access, above=reached, home=path == home, me=me, others=others
            )
        return findings

    def _look(
        self, ctx: CheckContext, path: Path, seen: dict[Path, FolderAccess], *, asked: bool = False
    ) -> FolderAccess | None:
        if path in seen:
            return seen[path]
        try:
            access = folder_access(path)
        except FileNotFoundError:
            if asked:
                self.note(f"{ctx.paths.display(path)} was not found, so it was not checked.")
            return None
        except NotADirectoryError:
            self.note(f"{ctx.paths.display(path)} is not a folder, so it was not checked.")
            return None
        except OSError as err:
            reason = printable(err.strerror or type(err).__name__).lower()
            self.note(f"{ctx.paths.display(path)} could not be checked: {reason}.")
            return None
        seen[path] = access
        return access

    def _judge(
        self,
        ctx: CheckContext,
        access: FolderAccess,
        *,
        above: list[FolderAccess],
        home: bool,
        me: int,
        others: Callable[[], list[Account]],
    ) -> list[Finding]:
        shown = ctx.paths.display(access.path)
        named = "Your home folder (~)" if home else shown
        if access.link is not None:
            named += f" (a link to {printable(access.link)})"
        mode = f"{access.mode:04o}"
        if access.uid not in (me, 0):
            owner = next((a.name for a in others() if a.uid == access.uid), str(access.uid))
            return [
                replace(
                    self.finding(
                        ctx,
                        shown,
                        "owned by another account",
                        f"{named} belongs to another account ({printable(owner)}): it can "
                        "change or replace everything in it.",
                        'Make it yours again (sudo chown -R "$USER:" PATH), or, if it is a '
                        "link, remove the link and make the folder anew.".replace(
                            "PATH", shell_quote(shown)
                        ),
                        notice=f"{shown} belongs to another account. Make it yours: "
                        f'sudo chown -R "$USER:" {shell_quote(shown)}',
                        mode=mode,
                    ),
                    severity=Severity.high,
                )
            ]
        levels = [
            ("changed by others", "changed", WRITE | PASS),
            ("listed by others", "listed", READ),
        ]
        if not self.params.allow_pass:
            levels.append(("passed by others", "passed through", PASS))
        chosen = None
        for level in levels:
            bits = level[2]
            if _everyone(access, bits) and all(_everyone(f, PASS) for f in above):
                chosen, whom, count = level, "every account on this computer", None
                break
            if not _someone(access, bits):
                continue
            # Only those who can get through every folder above it can open this one.
            who = [
                a
                for a in others()
                if _can(access, a, bits) and all(_can(f, a, PASS) for f in above)
            ]
            if who:
                chosen, whom, count = level, _names(who), len(who)
                break
        if chosen is None:
            return []
        reason, did, _ = chosen
        if did == "changed":
            harm = "they can add, remove or replace your files, your shell's start-up files too"
        elif did == "listed":
            harm = "they see every file's name and can read any file that is not closed itself"
        else:
            harm = "they can open any file in it whose name they know and that is not closed"
        fix = f"chmod 700 {shell_quote(shown)}"
        if access.acl:
            fix += f" && setfacl -b {shell_quote(shown)}"
        advice = f"Run: {fix}"
        if home and self.params.allow_pass and not access.acl:
            advice += " (or chmod 711 ~, if others must reach a file you share by its name)"
        found = self.finding(
            ctx,
            shown,
            reason,
            f"{named} can be {did} by {whom} (mode {mode}"
            f"{', with an access list' if access.acl else ''}): {harm}.",
            advice,
            notice=f"{whom[0].upper()}{whom[1:]} can {'change' if did == 'changed' else 'open'} "
            f"{'your home folder' if home else shown}. Run: {fix}",
            mode=mode,
            **({"accounts": count} if count is not None else {}),
        )
        return [replace(found, severity=Severity.high) if did == "changed" else found]


def _folder(home: Path, name: str) -> Path:
    """A folder of the policy: ~/ and relative paths start at the home folder, absolute ones
    do not; `..` is resolved, so that the folders above it are the real ones."""
    if name.startswith("/"):
        return Path(os.path.normpath(name))
    inside = name.removeprefix("~").lstrip("/")
    return Path(os.path.normpath(home / inside)) if inside else home


def _between(home: Path, path: Path) -> list[Path]:
    """The folders from the home folder down to the one above `path`, when it is inside
    the home folder; none otherwise (what is above home is the system's)."""
    try:
        parts = path.relative_to(home).parts
    except ValueError:
        return []
    return [home.joinpath(*parts[:depth]) for depth in range(len(parts))]


def _grants(access: FolderAccess, account: Account) -> list[int]:
    """The permission sets the kernel checks a request of `account` against (acl(5)): its
    own entry, else those of its groups that match (any one may grant), else others'."""
    if account.uid == access.uid:
        return [(access.mode >> 6) & 7]
    if not access.acl:
        return [(access.mode >> 3) & 7 if access.gid in account.groups else access.mode & 7]
    mask = next((p for t, p, _ in access.acl if t == MASK), 7)
    for tag, perm, ident in access.acl:
        if tag == USER and ident == account.uid:
            return [perm & mask]
    groups = [
        perm & mask
        for tag, perm, ident in access.acl
        if (tag == GROUP_OBJ and access.gid in account.groups)
        or (tag == GROUP and ident in account.groups)
    ]
    return groups or [next((p for t, p, _ in access.acl if t == OTHER), 0)]


def _can(access: FolderAccess, account: Account, bits: int) -> bool:
    return any(granted & bits == bits for granted in _grants(access, account))


def _someone(access: FolderAccess, bits: int) -> bool:
    """Whether the folder's group or an entry of its access list could let `bits` through."""
    if not access.acl:
        return (access.mode >> 3) & bits == bits
    mask = next((p for t, p, _ in access.acl if t == MASK), 7)
    return any(
        t in (USER, GROUP, GROUP_OBJ) and (p & mask) & bits == bits for t, p, _ in access.acl
    )


def _everyone(access: FolderAccess, bits: int) -> bool:
    """Whether any account at all, in no group of the folder's and named nowhere, gets in."""
    other = next((p for t, p, _ in access.acl if t == OTHER), None) if access.acl else None
    return ((access.mode & 7) if other is None else other) & bits == bits


def _names(accounts: list[Account]) -> str:
    names = [printable(a.name) for a in accounts[:3]]
    more = f" and {len(accounts) - 3} more" if len(accounts) > 3 else ""
    if len(accounts) == 1:
        return f"the account {names[0]}"
    return f"{len(accounts)} other accounts ({', '.join(names)}{more})"
