"""ssh_authorized_keys on authorized_keys files holding keys made by the real ssh-keygen.

The check is run as a class with a CheckContext here; a test through `hygiene check`
comes with its registration in ALL_CHECKS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.checks.base import CheckContext
from agent.checks.ssh_authorized_keys import SshAuthorizedKeysCheck, SshAuthorizedKeysParams
from agent.fingerprint import Fingerprinter
from agent.models import Finding, Severity
from agent.paths import Paths
from agent.policy import validated
from agent.probes.authorized_keys import parse_key_line, read_authorized_keys
from tests.conftest import Machine
from tests.test_policy_errors import as_nobody

FILE = "~/.ssh/authorized_keys"


@pytest.fixture
def ctx(machine: Machine) -> CheckContext:
    return CheckContext(
        paths=Paths.from_environment(), fingerprint=Fingerprinter(b"k" * 32), env={}
    )


@pytest.fixture
def public_key(machine: Machine, make_key: Callable[..., Path]) -> Callable[..., str]:
    """The .pub line of a new key made by ssh-keygen, with this comment."""
    keys = machine.home / "made-keys"
    keys.mkdir(exist_ok=True)
    made = iter(range(1000))

    def make(key_type: str = "ed25519", bits: int | None = None, comment: str = "") -> str:
        path = make_key(keys / f"key{next(made)}", key_type, bits=bits)
        fields = path.with_name(path.name + ".pub").read_text().split()
        return " ".join([*fields[:2], comment] if comment else fields[:2])

    return make


def write_keys(machine: Machine, *lines: str, name: str = "authorized_keys") -> Path:
    path = machine.ssh / name
    path.write_text("".join(line + "\n" for line in lines))
    path.chmod(0o600)
    return path


def audit(ctx: CheckContext, **params: Any) -> tuple[list[Finding], list[str]]:
    check = SshAuthorizedKeysCheck(validated(SshAuthorizedKeysParams, params))
    findings = check.run(ctx)
    return findings, check.notes


def reasons(findings: list[Finding]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in findings:
        found.setdefault(finding.subject, []).append(str(finding.evidence["reason"]))
    return found


def blob(line: str) -> str:
    return next(word for word in line.split() if word.startswith("AAAA"))


def shown(findings: list[Finding], notes: list[str]) -> str:
    """Everything the check lets out of the process, as text."""
    return json.dumps([f.as_json() for f in findings]) + json.dumps(notes)


# What passes.


def test_ed25519_and_rsa_3072_pass(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    write_keys(
        machine,
        "# my machines",
        "",
        public_key("ed25519", comment="ann@laptop"),
        public_key("rsa", 3072, comment="ann@desktop"),
        public_key("ecdsa", 384, comment="ann@phone"),
    )
    assert audit(ctx) == ([], [])


def test_no_file_at_all_passes(machine: Machine, ctx: CheckContext) -> None:
    assert audit(ctx) == ([], [])  # no ~/.ssh
    machine.ssh.chmod(0o700)
    assert audit(ctx) == ([], [])  # ~/.ssh without authorized_keys
    (machine.ssh / "authorized_keys").symlink_to(machine.ssh / "gone")
    assert audit(ctx) == ([], [])  # a link to nothing: sshd reads no key either
    (machine.ssh / "authorized_keys").unlink()
    write_keys(machine)
    assert audit(ctx) == ([], [])  # an empty file


# Weak keys: each named by line, comment, type and size; never by the key itself.


def test_rsa_1024_is_flagged_with_its_bits(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    weak = public_key("rsa", 1024, comment="bob@old-server")
    write_keys(machine, public_key(comment="ann@laptop"), "# kept for the backup job", weak)
    findings, notes = audit(ctx)
    assert notes == []
    (finding,) = findings
    assert finding.subject == FILE
    assert finding.severity == Severity.medium
    assert finding.evidence == {
        "reason": "short RSA key",
        "line": 3,
        "type": "rsa",
        "bits": 1024,
        "keys": 2,
    }
    assert finding.message == (
        "~/.ssh/authorized_keys, line 3 (bob@old-server): a 1024-bit RSA key, shorter than "
        "the 2048 bits needed to resist attack."
    )
    assert "ssh-keygen -t ed25519" in finding.advice
    assert "delete line 3 of ~/.ssh/authorized_keys" in finding.advice
    assert blob(weak) not in shown(findings, notes)
    assert blob(weak)[:24] not in shown(findings, notes)


def test_min_rsa_bits_comes_from_the_policy(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    write_keys(machine, public_key("rsa", 3072, comment="ann@desktop"))
    assert audit(ctx) == ([], [])
    findings, _ = audit(ctx, min_rsa_bits=4096)
    assert [(f.evidence["reason"], f.evidence["bits"]) for f in findings] == [
        ("short RSA key", 3072)
    ]


def test_dsa_is_flagged(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    # ssh-keygen here still makes DSA keys (OpenSSH 9.2); OpenSSH 10 no longer does.
    weak = public_key("dsa", comment="carol@2009-laptop")
    write_keys(machine, weak, public_key(comment="ann@laptop"))
    findings, notes = audit(ctx)
    assert notes == []
    (finding,) = findings
    assert finding.severity == Severity.high
    assert finding.evidence == {
        "reason": "DSA key",
        "line": 1,
        "type": "dsa",
        "bits": 1024,
        "keys": 2,
    }
    assert finding.message.startswith(
        "~/.ssh/authorized_keys, line 1 (carol@2009-laptop): a 1024-bit DSA key: current "
        "OpenSSH refuses it"
    )
    assert blob(weak) not in shown(findings, notes)


def test_a_key_without_a_comment_is_named_by_its_line(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    write_keys(machine, public_key("rsa", 1024))
    (finding,) = audit(ctx)[0]
    assert finding.message.startswith("~/.ssh/authorized_keys, line 1 (no comment): ")


def test_weak_keys_have_stable_distinct_ids_that_do_not_follow_the_line(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    first, second = public_key("rsa", 1024, comment="a"), public_key("rsa", 1024, comment="b")
    write_keys(machine, first, second, first)  # the same key twice is one problem
    findings = audit(ctx)[0]
    ids = [f.id for f in findings]
    assert len(ids) == len(set(ids)) == 2
    assert findings[0].message.startswith(f"{FILE}, lines 1 and 3 (a): ")
    assert "then delete lines 1 and 3 of ~/.ssh/authorized_keys." in findings[0].advice
    write_keys(machine, "# a new first line", public_key(), second, first)
    moved = audit(ctx)[0]
    assert [f.evidence["line"] for f in moved] == [3, 4]
    assert [f.id for f in moved] == ids[::-1]


def test_a_certificate_and_a_certificate_authority_are_judged_by_their_key(
    machine: Machine,
    ctx: CheckContext,
    make_key: Callable[..., Path],
    public_key: Callable[..., str],
    ssh_keygen: str,
) -> None:
    ca = make_key(machine.home / "ca", "ed25519")
    user = make_key(machine.home / "old", "rsa", bits=1024)
    subprocess.run(
        [ssh_keygen, "-q", "-s", str(ca), "-I", "old", "-n", "ann", str(user) + ".pub"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    certificate = (machine.home / "old-cert.pub").read_text().strip()
    authority = 'cert-authority,principals="ann" ' + public_key("dsa", comment="old-ca")
    write_keys(machine, certificate, authority)
    findings, notes = audit(ctx)
    assert notes == []
    assert [f.message.split(": ", 1)[1] for f in findings] == [
        "a 1024-bit RSA key, shorter than the 2048 bits needed to resist attack "
        "(in a certificate).",
        "a 1024-bit DSA key: current OpenSSH refuses it, and where an older one accepts it, "
        "it can be broken, trusted to sign keys for you.",
    ]
    # The certified key, plain as well: the same key, one finding naming both lines.
    write_keys(machine, certificate, authority, (machine.home / "old.pub").read_text().strip())
    findings, _ = audit(ctx)
    assert findings[0].message == (
        "~/.ssh/authorized_keys, lines 1 and 3 (test): a 1024-bit RSA key, shorter than the "
        "2048 bits needed to resist attack."
    )
    # The same fingerprint ssh-keygen -l shows: of a certificate, the key it certifies.
    listed = subprocess.run(
        [ssh_keygen, "-l", "-f", str(machine.ssh / "authorized_keys")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    found = read_authorized_keys(machine.ssh / "authorized_keys")
    assert found is not None
    assert [k.fingerprint for k in found.keys] == [w for w in listed if w.startswith("SHA256:")]


def test_comments_cannot_forge_report_lines(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    write_keys(machine, public_key("rsa", 1024, comment="x\x1b[2K\rPASS all good " + "y" * 90))
    (finding,) = audit(ctx)[0]
    assert "\x1b" not in finding.message and "\r" not in finding.message
    assert "(x\\x1b[2K\\rPASS all good yyy" in finding.message
    assert len(finding.message) < 200


# Lines sshd would not read: notes by line number, never their text.


def test_options_with_quoted_commas_and_blanks_are_parsed(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    line = 'from="10.0.0.1,10.0.0.2",command="echo hi" ' + public_key(comment="c")
    key = parse_key_line(line, 7)
    assert key is not None
    assert (key.line, key.kind, key.options, key.comment) == (
        7,
        "ed25519",
        ("from", "command"),
        "c",
    )
    write_keys(
        machine,
        line,
        'restrict,command="echo \\"a, b\\"; logger x y",no-pty ' + public_key(comment="backup job"),
        'from="10.0.0.1, 10.0.0.2" ' + public_key("rsa", 1024, comment="deploy"),
    )
    findings, notes = audit(ctx)
    assert notes == []
    assert [(f.evidence["line"], f.evidence["keys"]) for f in findings] == [(3, 3)]
    assert "deploy" in findings[0].message


def test_a_garbage_line_is_a_note_with_its_line_number(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    good = public_key(comment="ann@laptop")
    write_keys(
        machine,
        good,
        "hunter2 is my password",
        "ssh-ed25519 !!!notbase64!!! me",
        'from="10.0.0.1 ' + good,
        "frobnicate " + good,
        "ssh-rsa " + blob(good) + " lies about its type",
        "ssh-ed25519",
    )
    findings, notes = audit(ctx)
    assert findings == []
    assert notes == [
        f"{FILE}, line 2 could not be checked: it names no key type this check knows.",
        f"{FILE}, line 3 could not be checked: its key is not valid base64.",
        f"{FILE}, line 4 could not be checked: it has a quote that is never closed.",
        f"{FILE}, line 5 could not be checked: it has an option sshd does not know, so sshd "
        "ignores the line.",
        f"{FILE}, line 6 could not be checked: its key is not of the type the line names.",
        f"{FILE}, line 7 could not be checked: it has no key after its type.",
    ]
    assert "hunter2" not in shown(findings, notes)


def test_many_bad_lines_are_counted_not_listed(machine: Machine, ctx: CheckContext) -> None:
    write_keys(machine, *(f"not a key {n}" for n in range(40)))
    findings, notes = audit(ctx)
    assert findings == []
    assert len(notes) == 11
    assert (
        notes[0] == f"{FILE}, line 1 could not be checked: it names no key type this check knows."
    )
    assert notes[-1] == f"{FILE}: 30 more lines could not be checked."


def test_a_key_in_windows_line_endings_and_after_a_byte_order_mark(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    path = machine.ssh / "authorized_keys"
    text = public_key("rsa", 1024, comment="a") + "\r\n" + public_key("rsa", 1024) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    findings, notes = audit(ctx)
    assert notes == []
    assert [f.evidence["line"] for f in findings] == [1, 2]
    assert findings[0].message.startswith(f"{FILE}, line 1 (a): ")


# The file itself.


@pytest.mark.parametrize("mode", [0o666, 0o646, 0o620, 0o660])
def test_a_file_others_can_change_is_flagged(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str], mode: int
) -> None:
    path = write_keys(machine, public_key(comment="a"), public_key(comment="b"))
    path.chmod(mode)
    findings, notes = audit(ctx)
    assert notes == []
    assert reasons(findings) == {FILE: ["writable by others"]}
    (finding,) = findings
    assert finding.severity is None  # the check's: high
    assert SshAuthorizedKeysCheck.severity == Severity.high
    assert finding.evidence["mode"] == f"{mode:04o}"
    assert finding.evidence["keys"] == 2
    assert "add their own key" in finding.message
    assert finding.advice.startswith("Run: chmod 600 ~/.ssh/authorized_keys;")


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o400])
def test_a_file_others_can_only_read_passes(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str], mode: int
) -> None:
    write_keys(machine, public_key()).chmod(mode)
    assert audit(ctx) == ([], [])


def test_a_file_of_another_account_is_flagged(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another account needs root")
    path = write_keys(machine, public_key())
    os.chown(path, 65534, 65534)
    findings, _ = audit(ctx)
    assert reasons(findings) == {FILE: ["owned by another account"]}
    assert findings[0].evidence["owner"] == 65534


@pytest.mark.parametrize("kind", ["symlink-loop", "fifo", "folder", "huge"])
def test_a_strange_authorized_keys_is_a_note_not_an_error(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str], kind: str
) -> None:
    path = machine.ssh / "authorized_keys"
    if kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_text((public_key() + "\n") * 20_000)
    write_keys(machine, public_key("rsa", 1024, comment="old"), name="authorized_keys2")
    findings, notes = audit(ctx)
    why = {
        "symlink-loop": "it is a symbolic link loop",
        "fifo": "it is not a regular file (a pipe, socket or device)",
        "folder": "it is a folder",
        "huge": "it is larger than 1024 KiB",
    }[kind]
    assert notes == [f"{FILE} could not be checked: {why}."]
    # The other file is still checked.
    assert reasons(findings) == {"~/.ssh/authorized_keys2": ["short RSA key"]}


def test_authorized_keys2_and_extra_files_are_read(
    machine: Machine, ctx: CheckContext, public_key: Callable[..., str]
) -> None:
    write_keys(machine, public_key("dsa", comment="old"), name="authorized_keys2")
    managed = machine.home / "keys" / "ann.pub"
    managed.parent.mkdir()
    managed.write_text(public_key("rsa", 1024, comment="ci") + "\n")
    assert reasons(audit(ctx)[0]) == {"~/.ssh/authorized_keys2": ["DSA key"]}
    for extra in ("~/keys/ann.pub", "keys/ann.pub", str(managed)):
        findings, notes = audit(
            ctx, extra_files=[extra, "~/keys/missing", "~/.ssh/authorized_keys2"]
        )
        assert notes == []
        assert reasons(findings) == {
            "~/.ssh/authorized_keys2": ["DSA key"],
            "~/keys/ann.pub": ["short RSA key"],
        }


def test_params_are_checked() -> None:
    assert SshAuthorizedKeysParams().every.total_seconds() == 60
    for bad in ({"min_rsa_bits": 512}, {"extra_files": ["~bob/.ssh/authorized_keys"]}):
        with pytest.raises(ValueError, match=r"min_rsa_bits|another user"):
            validated(SshAuthorizedKeysParams, bad)


# A file you cannot read: sshd reads it as you, so its keys cannot log in either.


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A home in a folder every user can reach: as root (CI), the test reads it as nobody,
    so the kernel refuses, not the test."""
    home = Path(tempfile.mkdtemp(prefix="hygiene-authorized-", dir="/tmp"))
    home.chmod(0o755)
    (home / ".ssh").mkdir(mode=0o755)
    try:
        yield home
    finally:
        for path in (home / ".ssh", home / ".ssh" / "authorized_keys"):
            if path.exists():
                path.chmod(0o700)
        shutil.rmtree(home)


def audit_as_nobody(ctx: CheckContext, home: Path) -> tuple[list[Finding], list[str]]:
    check = SshAuthorizedKeysCheck(SshAuthorizedKeysParams())
    ctx = replace(ctx, paths=ctx.paths._replace(home=home))
    with as_nobody():
        findings = check.run(ctx)
    return findings, check.notes


def test_an_unreadable_file_is_a_low_finding(
    ctx: CheckContext, public_key: Callable[..., str], open_home: Path
) -> None:
    path = open_home / ".ssh" / "authorized_keys"
    path.write_text(public_key("dsa") + "\n")
    path.chmod(0o000)
    findings, notes = audit_as_nobody(ctx, open_home)
    assert notes == []
    (finding,) = findings
    assert finding.evidence == {"reason": "unreadable", "keys": None}
    assert finding.severity == Severity.low
    assert finding.message.startswith(
        "~/.ssh/authorized_keys cannot be read by you (permission denied). sshd reads it as "
        "you, so none of its keys lets you log in"
    )
    assert finding.advice.startswith("Run: chmod 600 ~/.ssh/authorized_keys")


def test_an_ssh_folder_you_cannot_open_is_a_low_finding(
    ctx: CheckContext, public_key: Callable[..., str], open_home: Path
) -> None:
    (open_home / ".ssh" / "authorized_keys").write_text(public_key() + "\n")
    (open_home / ".ssh").chmod(0o600)
    findings, notes = audit_as_nobody(ctx, open_home)
    assert notes == []
    (finding,) = findings
    assert finding.severity == Severity.low
    assert finding.message.startswith(
        "~/.ssh/authorized_keys cannot be reached: you may not open ~/.ssh."
    )
    assert finding.advice == "Run: chmod 700 ~/.ssh"
