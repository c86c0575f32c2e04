from __future__ import annotations

import shlex
import stat
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.errors import ProbeUnavailable
from agent.models import Finding, Severity
from agent.probes.keyfiles import KeyFile, find_key_files, permission_bits
from agent.settings import Doc, HomePath, Limit, settings

# A key size setting: RSA keys shorter than this are reported.
RsaBits = Annotated[
    int,
    Limit(ge=1024, le=16384, strict=True),
    Doc("RSA keys shorter than this are reported."),
]


@settings
class SshKeysParams(CheckParams):
    # Cheap (a few stat calls and small reads, under a millisecond), so often: a key
    # left unprotected is told about within seconds (bench/latency.py).
    every: Every = timedelta(seconds=5)
    extra_paths: Annotated[
        list[HomePath],
        Doc(
            "More files or folders (not descended) to look for private keys in; "
            "~/ and relative paths start at the home directory."
        ),
    ] = field(default_factory=list)

    min_rsa_bits: RsaBits = 2048


class SshKeysCheck(Check[SshKeysParams]):
    """Your SSH private keys are the keys to every machine that trusts them.

    A key with no passphrase is a password stored in plain text: anyone who copies the
    file, a thief, a backup, a program you ran, can log in as you. A key folder other
    people can read hands them the same. DSA keys and RSA keys shorter than 2048 bits can
    be broken or are refused by current servers.
    """

    id = "ssh_keys"
    topic = "SSH keys"
    title = "SSH private keys are protected"
    severity = Severity.high
    rationale = (
        "A key without a passphrase is a password anyone who copies the file can use; "
        "a short key can be broken."
    )
    advice = (
        "Protect every private key with a strong passphrase and keep it readable by you "
        "alone; replace weak keys with ed25519 ones."
    )
    reads = (
        "regular files of up to 1 MiB in ~/.ssh and in the policy's extra_paths, as far as "
        "a private key's header and public part (format, type, size, whether it is encrypted)",
        "the permissions of those files and of ~/.ssh",
    )
    keeps = "the file name, key type and size, and what is wrong; never key material"
    alert = "An SSH key is not protected"
    alert_many = "{n} problems with your SSH keys"
    alerts = (
        ("no passphrase", "An SSH key has no passphrase", "{n} SSH keys have no passphrase"),
        (
            "readable by others",
            "Others can read an SSH key",
            "Others can read {n} of your SSH keys",
        ),
        ("weak key", "An SSH key is too weak", "{n} SSH keys are too weak"),
        (
            "folder open to others",
            "Your SSH folder is open to others",
            "{n} SSH folders are open to others",
        ),
    )
    Params = SshKeysParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        home = ctx.paths.home
        ssh_dir = home / ".ssh"
        extra = [
            home / p.removeprefix("~").lstrip("/") if p.startswith("~") else home / p
            for p in self.params.extra_paths
        ]
        keys, unreadable = find_key_files([ssh_dir, *extra])
        for problem in unreadable:
            shown = ctx.paths.display(problem.path)
            if problem.path != ssh_dir:
                self.note(f"{shown} could not be checked: {problem.reason}.")
            elif not problem.missing:
                # Without ~/.ssh the audit would read as clean when it saw nothing.
                raise ProbeUnavailable(f"{shown} could not be read: {problem.reason}")
        findings = self._folder(ctx, ssh_dir)
        for key in keys:
            findings.extend(self._key(ctx, key))
        return findings

    def _folder(self, ctx: CheckContext, ssh_dir: Path) -> list[Finding]:
        try:
            mode = permission_bits(ssh_dir)
        except FileNotFoundError:
            return []
        if mode is None or not mode & 0o066:
            return []
        shown = ctx.paths.display(ssh_dir)
        if mode & 0o022:
            harm = "others can replace your keys and the list of machines you trust"
        else:
            harm = "others can see which keys you have and which machines you trust"
        return [
            self.finding(
                ctx,
                shown,
                "folder open to others",
                f"{shown} can be {opened_to(mode)} (mode {mode:04o}): {harm}.",
                f"Run: chmod 700 {shell_quote(shown)}",
                notice=f"Others can open {shown}. Run: chmod 700 {shell_quote(shown)}",
                mode=f"{mode:04o}",
            )
        ]

    def _key(self, ctx: CheckContext, key: KeyFile) -> list[Finding]:
        shown = ctx.paths.display(key.path)
        facts = {"format": key.format, "type": key.key_type, "bits": key.bits}
        found: list[Finding] = []
        # A security-key (-sk) file is a handle; the secret stays on the hardware token.
        if not key.encrypted and not key.key_type.endswith("-sk"):
            found.append(
                self.finding(
                    ctx,
                    shown,
                    "no passphrase",
                    f"{shown} has no passphrase: anyone who copies this file can use it.",
                    f"Add a passphrase: ssh-keygen -p -f {shell_quote(shown)} "
                    "(ssh-agent then asks for it once per session).",
                    notice=f"{shown} has no passphrase. Add one: "
                    f"ssh-keygen -p -f {shell_quote(shown)}",
                    **facts,
                )
            )
        if key.mode is not None and key.mode & 0o077:
            found.append(
                self.finding(
                    ctx,
                    shown,
                    "readable by others",
                    f"{shown} can be {opened_to(key.mode)} (mode {key.mode:04o}); "
                    "a private key must be yours alone.",
                    f"Run: chmod 600 {shell_quote(shown)}",
                    notice=f"Others can read {shown}. Run: chmod 600 {shell_quote(shown)}",
                    mode=f"{key.mode:04o}",
                    **facts,
                )
            )
        weak = self._weakness(key)
        if weak:
            kind = "DSA" if key.key_type == "dsa" else f"{key.bits}-bit RSA"
            found.append(
                self.finding(
                    ctx,
                    shown,
                    "weak key",
                    f"{shown} is {weak}.",
                    "Make a new key with ssh-keygen -t ed25519, put its .pub where the old "
                    "key is accepted, then remove the old key from those machines and here.",
                    notice=f"{shown} is a {kind} key, too weak today. Make a new one: "
                    "ssh-keygen -t ed25519",
                    **facts,
                )
            )
        return found

    def _weakness(self, key: KeyFile) -> str | None:
        if key.key_type == "dsa":
            return "a DSA key: DSA is limited to 1024 bits and current OpenSSH refuses it"
        if key.key_type == "rsa" and key.bits is not None and key.bits < self.params.min_rsa_bits:
            return (
                f"a {key.bits}-bit RSA key, shorter than the {self.params.min_rsa_bits} bits "
                "needed to resist attack"
            )
        return None


def opened_to(mode: int) -> str:
    groups = [
        (stat.S_IRGRP, "read by your group"),
        (stat.S_IWGRP, "changed by your group"),
        (stat.S_IROTH, "read by every user"),
        (stat.S_IWOTH, "changed by every user"),
        (stat.S_IXOTH | stat.S_IXGRP, "opened by others"),
    ]
    parts = [words for bit, words in groups if mode & bit]
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else "reached by others"


def shell_quote(shown: str) -> str:
    """A displayed path as a shell word: ~/ stays outside the quotes so the shell expands it."""
    if shown == "~":
        return shown
    if shown.startswith("~/"):
        return "~/" + shlex.quote(shown[2:])
    return shlex.quote(shown)
