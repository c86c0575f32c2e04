from __future__ import annotations

import dataclasses
import os
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.checks.ssh_keys import RsaBits, opened_to, shell_quote
from agent.models import Finding, Severity
from agent.probes.authorized_keys import AuthorizedKey, AuthorizedKeysFile, read_authorized_keys
from agent.settings import Doc, HomePath, settings
from agent.text import printable
from agent.wording import clip

# The files sshd reads by default (AuthorizedKeysFile in sshd_config(5)).
DEFAULT_FILES = (".ssh/authorized_keys", ".ssh/authorized_keys2")
# Lines of one file that could not be read, noted one by one; the rest are counted.
_MAX_LINE_NOTES = 10
_MAX_COMMENT = 60


@settings
class SshAuthorizedKeysParams(CheckParams):
    # Cheap (a stat and a read of a few KiB per file, well under a millisecond), and a file
    # that others can write is a way in: told within a minute.
    every: Every = timedelta(minutes=1)
    extra_files: Annotated[
        list[HomePath],
        Doc(
            "More authorized_keys files to read (as named by AuthorizedKeysFile in "
            "sshd_config); ~/ and relative paths start at the home directory."
        ),
    ] = field(default_factory=list)
    min_rsa_bits: RsaBits = 2048


class SshAuthorizedKeysCheck(Check[SshAuthorizedKeysParams]):
    """Every key in ~/.ssh/authorized_keys can log in to this computer as you.

    Whoever holds the private half of one of those keys needs no password. A DSA key or
    an RSA key shorter than 2048 bits can be broken or forged; a file other people can
    change lets them add their own key. Keys of machines you no longer use are doors
    left open: remove them.
    """

    id = "ssh_authorized_keys"
    topic = "SSH login keys"
    title = "Only strong keys you know can log in over SSH"
    severity = Severity.high
    rationale = (
        "Every key in authorized_keys logs in as you without a password; a weak key can be "
        "broken, and a file others can change lets them add their own."
    )
    advice = (
        "Remove the keys of machines you no longer use (ssh-keygen -l -f "
        "~/.ssh/authorized_keys lists them), replace DSA and short RSA keys with ed25519 "
        "ones, and keep the file yours alone: chmod 600 ~/.ssh/authorized_keys."
    )
    reads = (
        "~/.ssh/authorized_keys, ~/.ssh/authorized_keys2 and the policy's extra_files, up "
        "to 1 MiB each: of each line, the option names, the key's type and size, and its "
        "comment",
        "the permissions and owner of those files",
    )
    keeps = (
        "the file name, and of a weak key its line, type, size and comment (usually "
        "user@host); the number of keys; never key material or option values"
    )
    alert = "A problem with the keys that can log in as you"
    alert_many = "{n} problems with the keys that can log in as you"
    alerts = (
        (
            "writable by others",
            "Others can add keys that log in as you",
            "Others can add keys that log in as you ({n} files)",
        ),
        (
            "owned by another account",
            "Another account owns your authorized_keys",
            "Another account owns {n} of your authorized_keys files",
        ),
        ("unreadable", "sshd cannot read your authorized_keys", "sshd cannot read {n} key files"),
        ("DSA key", "A weak key can log in as you", "{n} weak keys can log in as you"),
        ("short RSA key", "A weak key can log in as you", "{n} weak keys can log in as you"),
    )
    Params = SshAuthorizedKeysParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        home = ctx.paths.home
        paths: list[Path] = []
        for name in [*DEFAULT_FILES, *self.params.extra_files]:
            path = (
                home / name.removeprefix("~").lstrip("/") if name.startswith("~") else home / name
            )
            if path not in paths:
                paths.append(path)
        findings: list[Finding] = []
        shut: set[Path] = set()
        for path in paths:
            found = read_authorized_keys(path)
            if found is None:
                continue
            if found.denied and found.mode is None:
                # Its folder cannot be opened: told once, for the first file in it.
                if path.parent in shut:
                    continue
                shut.add(path.parent)
            findings.extend(self._file(ctx, found))
        return findings

    def _file(self, ctx: CheckContext, found: AuthorizedKeysFile) -> list[Finding]:
        shown = ctx.paths.display(found.path)
        quoted = shell_quote(shown)
        keys: int | None = None if found.unreadable else len(found.keys)
        findings: list[Finding] = []
        mode = found.mode
        if mode is not None and mode & 0o022:
            findings.append(
                self.finding(
                    ctx,
                    shown,
                    "writable by others",
                    f"{shown} can be {opened_to(mode)} (mode {mode:04o}): anyone who can change "
                    "it can add their own key and log in as you.",
                    f"Run: chmod 600 {quoted}; then check that you know every key in it "
                    f"(ssh-keygen -l -f {quoted} lists them).",
                    notice=f"Others can change {shown} and add their own key. Run: chmod 600 "
                    f"{quoted}",
                    mode=f"{mode:04o}",
                    keys=keys,
                )
            )
        if found.owner is not None and found.owner not in (0, os.geteuid()):
            findings.append(
                self.finding(
                    ctx,
                    shown,
                    "owned by another account",
                    f"{shown} belongs to another account (user id {found.owner}), which can "
                    "add its own key and log in as you; sshd also refuses such a file.",
                    f'Run: sudo chown "$USER" {quoted}; then check that you know every key '
                    f"in it (ssh-keygen -l -f {quoted} lists them).",
                    notice=f"{shown} belongs to another account, which can add its own key. "
                    f'Run: sudo chown "$USER" {quoted}',
                    owner=found.owner,
                    keys=keys,
                )
            )
        if found.unreadable is not None:
            if found.denied:
                findings.append(self._unreadable(ctx, found, shown))
            else:
                self.note(f"{shown} could not be checked: {found.unreadable}.")
            return findings
        for bad in found.bad_lines[:_MAX_LINE_NOTES]:
            self.note(f"{shown}, line {bad.line} could not be checked: {bad.reason}.")
        if len(found.bad_lines) > _MAX_LINE_NOTES:
            more = len(found.bad_lines) - _MAX_LINE_NOTES
            self.note(f"{shown}: {more} more lines could not be checked.")
        # One finding per weak key, naming every line it is on (plain, or in a certificate).
        weak: dict[tuple[str, str], tuple[tuple[str, str, Severity], list[AuthorizedKey]]] = {}
        for key in found.keys:
            weakness = self._weakness(key)
            if weakness is not None:
                weak.setdefault((weakness[0], key.fingerprint), (weakness, []))[1].append(key)
        for weakness, lines in weak.values():
            findings.append(self._weak_key(ctx, shown, lines, weakness, len(found.keys)))
        return findings

    def _unreadable(self, ctx: CheckContext, found: AuthorizedKeysFile, shown: str) -> Finding:
        # sshd reads the file as you: a key in it cannot log in, and nothing is exposed.
        # A finding (low) rather than a note: it is a fault the person can fix, and a note
        # would leave the check passing while it saw none of the keys.
        folder = ctx.paths.display(found.path.parent)
        if found.mode is None:
            message = f"{shown} cannot be reached: you may not open {folder}."
            advice = f"Run: chmod 700 {shell_quote(folder)}"
            notice = f"sshd cannot reach {shown}: {folder} is closed to you. {advice}"
        else:
            message = f"{shown} cannot be read by you ({found.unreadable})."
            advice = (
                f"Run: chmod 600 {shell_quote(shown)} (if it belongs to another account, "
                f'first: sudo chown "$USER" {shell_quote(shown)})'
            )
            notice = (
                f"You cannot read {shown}, so sshd cannot either. Run: chmod 600 "
                f"{shell_quote(shown)}"
            )
        unreadable = self.finding(
            ctx,
            shown,
            "unreadable",
            f"{message} sshd reads it as you, so none of its keys lets you log in, and this "
            "check cannot see which keys it holds.",
            advice,
            notice=notice,
            keys=None,
        )
        return dataclasses.replace(unreadable, severity=Severity.low)

    def _weakness(self, key: AuthorizedKey) -> tuple[str, str, Severity] | None:
        """(reason, what the key is, how serious) for a weak key; None for a sound one."""
        bits = f"{key.bits}-bit " if key.bits else ""
        if key.kind == "dsa":
            return (
                "DSA key",
                f"a {bits}DSA key: current OpenSSH refuses it, and where an older one accepts "
                "it, it can be broken",
                Severity.high,
            )
        if key.kind == "rsa" and key.bits is not None and key.bits < self.params.min_rsa_bits:
            return (
                "short RSA key",
                f"a {bits}RSA key, shorter than the {self.params.min_rsa_bits} bits needed to "
                "resist attack",
                Severity.medium,
            )
        return None

    def _weak_key(
        self,
        ctx: CheckContext,
        shown: str,
        lines: list[AuthorizedKey],
        weak: tuple[str, str, Severity],
        count: int,
    ) -> Finding:
        reason, what, severity = weak
        key = lines[0]
        kind = f"{key.bits}-bit {key.kind.upper()}" if key.bits else key.kind.upper()
        named = _comment(key)
        if all(k.certificate for k in lines):
            what += " (in a certificate)"
        if any("cert-authority" in k.options for k in lines):
            what += ", trusted to sign keys for you"
        numbers = _and([str(k.line) for k in lines])
        where = f"line {numbers}" if len(lines) == 1 else f"lines {numbers}"
        quoted = shell_quote(shown)
        finding = self.finding(
            ctx,
            shown,
            reason,
            f"{shown}, {where} ({named}): {what}.",
            "If you still use this key, make a new one where it lives with ssh-keygen -t "
            f"ed25519 and add its .pub to {quoted}, then delete {where} of {quoted}. "
            "If you do not, just delete it.",
            notice=f"{shown}, {clip(where, 30)}, lets a weak {kind} key log in as you "
            f"({clip(named, 30)}). Replace it, or delete the line.",
            line=key.line,
            type=key.kind,
            bits=key.bits,
            keys=count,
        )
        # Per key: two weak keys in one file are two problems, each fixed on its own. The
        # key's fingerprint only enters the keyed hash; it is neither shown nor kept.
        key_id = ctx.fingerprint(self.id, shown, reason, key.fingerprint)
        return dataclasses.replace(finding, id=key_id, severity=severity)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _comment(key: AuthorizedKey) -> str:
    """The key's comment (usually user@host) as a person may read it, or what stands for it."""
    if not key.comment:
        return "no comment"
    comment = printable(key.comment)
    if len(comment) > _MAX_COMMENT:
        comment = comment[: _MAX_COMMENT - 1] + "…"
    return comment
