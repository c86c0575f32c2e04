from __future__ import annotations

import sys
from dataclasses import field, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.checks.ssh_keys import shell_quote
from agent.errors import CheckSkipped
from agent.models import Finding, Severity
from agent.probes.access import PASS, READ, WRITE, FolderAccess, Opener, folder_access
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
        findings = []
        for name in self.params.folders:
            path = home if name in ("~", "") else home / name.removeprefix("~").lstrip("/")
            access = self._look(ctx, path, seen)
            if access is None:
                continue
            above = [self._look(ctx, folder, seen) for folder in _between(home, path)]
            found = self._judge(ctx, access, [a for a in above if a is not None], path == home)
            if found is not None:
                findings.append(found)
        return findings

    def _look(
        self, ctx: CheckContext, path: Path, seen: dict[Path, FolderAccess]
    ) -> FolderAccess | None:
        if path in seen:
            return seen[path]
        try:
            access = folder_access(path)
        except FileNotFoundError:
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
        self, ctx: CheckContext, access: FolderAccess, above: list[FolderAccess], home: bool
    ) -> Finding | None:
        # Only those who can get through every folder above it can open this one.
        reach = [o for o in access.openers if all(_allowed(a, o) & PASS for a in above)]
        if any(o.perm & WRITE and o.perm & PASS for o in reach):
            reason, did = "changed by others", "changed"
        elif any(o.perm & READ for o in reach):
            reason, did = "listed by others", "listed"
        elif reach and not self.params.allow_pass:
            reason, did = "passed by others", "passed through"
        else:
            return None
        shown = ctx.paths.display(access.path)
        named = "Your home folder (~)" if home else shown
        who = _who([o for o in reach if o.perm & (WRITE if did == "changed" else READ | PASS)])
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
            f"{named} can be {did} by {who} (mode {access.mode:04o}"
            f"{', with an access list' if access.acl else ''}): {harm}.",
            advice,
            notice=f"{who[0].upper()}{who[1:]} can {'open' if did != 'changed' else 'change'} "
            f"{'your home folder' if home else shown}. Run: {fix}",
            mode=f"{access.mode:04o}",
        )
        return replace(found, severity=Severity.high) if did == "changed" else found


def _between(home: Path, path: Path) -> list[Path]:
    """The folders from the home folder down to the one above `path`, when it is inside
    the home folder; none otherwise (what is above home is the system's)."""
    try:
        parts = path.relative_to(home).parts
    except ValueError:
        return []
    return [home.joinpath(*parts[:depth]) for depth in range(len(parts))]


def _allowed(access: FolderAccess, opener: Opener) -> int:
    """What `access` lets the same account or group do: its own entry there, or what it
    lets every account do."""
    everyone = next((o.perm for o in access.openers if o.kind == "others"), 0)
    if opener.kind == "others":
        return everyone
    groups = ("group", "acl_group") if opener.kind in ("group", "acl_group") else ("acl_user",)
    own = [o.perm for o in access.openers if o.kind in groups and o.ident == opener.ident]
    return own[0] if own else everyone


def _who(openers: list[Opener]) -> str:
    kinds = {o.kind for o in openers}
    if "others" in kinds:
        return "every account on this computer"
    parts = []
    if "group" in kinds:
        parts.append("the members of its group")
    named = sum(1 for o in openers if o.kind.startswith("acl_"))
    if named:
        several = "accounts or groups" if named > 1 else "account or group"
        parts.append(f"{named} {several} in its access list")
    return " and ".join(parts) or "other accounts"
