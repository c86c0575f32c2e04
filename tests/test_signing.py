"""Signed policy files: `hygiene policy keygen | sign | verify` as an admin runs them, and the
signatures checked by the real openssl so that they are standard Ed25519, not only ours."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from agent.signing import Anchors, Verdict, load_anchors, verify, verify_file
from tests.conftest import Machine, Outcome, require_tool

Hygiene = Callable[..., Outcome]

POLICY = b"schema: 1\nname: acme-baseline\nrevision: 7\nchecks:\n  vpn: {require: untrusted}\n"
HEADER = "hygiene-agent signature 1"


def one_sentence(outcome: Outcome) -> str:
    """The error, after checking it is one line from hygiene and no traceback."""
    assert outcome.err.startswith("hygiene: "), outcome.err
    assert outcome.err.count("\n") == 1, outcome.err
    assert "Traceback" not in outcome.err
    return outcome.err


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "admin-desk"
    path.mkdir()
    return path


@pytest.fixture
def keys(machine: Machine) -> Path:
    path = machine.admin / "keys"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def outputs() -> list[Outcome]:
    """Everything the commands of a test printed, to look for the private key in."""
    return []


@pytest.fixture
def run(hygiene: Hygiene, outputs: list[Outcome]) -> Hygiene:
    def call(*argv: str) -> Outcome:
        outcome = hygiene(*argv)
        outputs.append(outcome)
        return outcome

    return call


@pytest.fixture
def admin_key(run: Hygiene, workdir: Path, keys: Path, outputs: list[Outcome]) -> Iterator[Path]:
    """A key made with `hygiene policy keygen`, its .pub trusted as keys/admin.pub. After the
    test, no output of any command may contain the private key."""
    private = workdir / "acme-key"
    assert run("policy", "keygen", "--out", str(private)).code == 0
    shutil.copy(f"{private}.pub", keys / "admin.pub")
    yield private
    secret_lines = [
        line for line in private.read_text().splitlines() if line and not line.startswith("---")
    ]
    raw = serialization.load_pem_private_key(private.read_bytes(), None)
    assert isinstance(raw, Ed25519PrivateKey)
    seed = raw.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    for outcome in outputs:
        said = outcome.out + outcome.err
        assert "PRIVATE KEY" not in said
        for secret in [*secret_lines, seed.hex(), base64.b64encode(seed).decode()]:
            assert secret not in said


@pytest.fixture
def policy(workdir: Path) -> Path:
    path = workdir / "acme.yaml"
    path.write_bytes(POLICY)
    return path


def key_id_of(public_pem: Path) -> str:
    """The documented key id, computed here without the agent: SHA-256 of the raw key."""
    der = serialization.load_pem_public_key(public_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der[-32:]).hexdigest()[:16]


def raw_signature(sig: Path) -> bytes:
    """The 64-byte signature out of a .sig file, read by the documented format."""
    header, key_line, sig_line = sig.read_text(encoding="ascii").splitlines()
    assert header == HEADER
    assert key_line.startswith("key: ")
    assert sig_line.startswith("signature: ")
    raw = base64.b64decode(sig_line.removeprefix("signature: "), validate=True)
    assert len(raw) == 64
    return raw


# --- keygen ------------------------------------------------------------------------


def test_keygen_writes_a_key_pair_with_the_right_modes(
    run: Hygiene, machine: Machine, workdir: Path, outputs: list[Outcome]
) -> None:
    private = workdir / "acme-key"
    old_umask = os.umask(0o077)  # a strict umask must not make the public key unreadable
    try:
        outcome = run("policy", "keygen", "--out", str(private))
    finally:
        os.umask(old_umask)
    assert outcome.code == 0, outcome.err
    public = workdir / "acme-key.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    assert isinstance(
        serialization.load_pem_private_key(private.read_bytes(), None), Ed25519PrivateKey
    )
    key_id = key_id_of(public)
    assert f"key id:      {key_id}\n" in outcome.out
    assert str(private) in outcome.out
    assert f"copy {public} to {machine.admin / 'keys'}/ on each device" in outcome.out
    assert outcome.err == ""
    assert "PRIVATE KEY" not in outcome.out
    assert private.read_text().splitlines()[1] not in outcome.out


def test_keygen_defaults_to_the_current_folder(
    run: Hygiene, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    assert run("policy", "keygen").code == 0
    assert (workdir / "hygiene-policy-key").is_file()
    assert (workdir / "hygiene-policy-key.pub").is_file()


def test_keygen_never_overwrites_a_file(run: Hygiene, workdir: Path) -> None:
    private = workdir / "acme-key"
    private.write_text("precious\n")
    outcome = run("policy", "keygen", "--out", str(private))
    assert outcome.code == 2
    assert f"{private} already exists" in one_sentence(outcome)
    assert private.read_text() == "precious\n"
    assert not (workdir / "acme-key.pub").exists()


def test_keygen_leaves_no_private_key_when_the_public_one_exists(
    run: Hygiene, workdir: Path
) -> None:
    (workdir / "acme-key.pub").write_text("someone else's\n")
    outcome = run("policy", "keygen", "--out", str(workdir / "acme-key"))
    assert outcome.code == 2
    assert "acme-key.pub already exists" in one_sentence(outcome)
    assert not (workdir / "acme-key").exists()
    assert (workdir / "acme-key.pub").read_text() == "someone else's\n"


def test_keygen_does_not_follow_a_dangling_symbolic_link(run: Hygiene, workdir: Path) -> None:
    (workdir / "acme-key").symlink_to(workdir / "elsewhere")
    assert run("policy", "keygen", "--out", str(workdir / "acme-key")).code == 2
    assert not (workdir / "elsewhere").exists()


def test_keygen_into_a_missing_folder_is_one_sentence(run: Hygiene, workdir: Path) -> None:
    outcome = run("policy", "keygen", "--out", str(workdir / "nowhere" / "key"))
    assert outcome.code == 2
    assert "cannot write" in one_sentence(outcome)


# --- sign and verify ---------------------------------------------------------------


def test_a_signed_policy_verifies_with_the_trusted_key(
    run: Hygiene, admin_key: Path, policy: Path
) -> None:
    key_id = key_id_of(Path(f"{admin_key}.pub"))
    signed = run("policy", "sign", str(policy), "--key", str(admin_key))
    assert signed.code == 0, signed.err
    sig = policy.with_name("acme.yaml.sig")
    assert signed.out == f"{sig}: signed by key {key_id}\n"
    assert sig.read_text() == (
        f"{HEADER}\nkey: {key_id}\nsignature: {base64.b64encode(raw_signature(sig)).decode()}\n"
    )
    assert stat.S_IMODE(sig.stat().st_mode) == 0o644
    assert sorted(p.name for p in policy.parent.iterdir()) == [
        "acme-key",
        "acme-key.pub",
        "acme.yaml",
        "acme.yaml.sig",
    ], "no temporary file is left behind"

    verified = run("policy", "verify", str(policy))
    assert verified.code == 0, verified
    assert verified.out == f"{policy}: signed by key {key_id} (admin.pub)\n"
    assert verified.err == ""


def test_signing_again_replaces_the_signature(run: Hygiene, admin_key: Path, policy: Path) -> None:
    assert run("policy", "sign", str(policy), "--key", str(admin_key)).code == 0
    policy.write_bytes(POLICY.replace(b"revision: 7", b"revision: 8"))
    assert run("policy", "sign", str(policy), "--key", str(admin_key)).code == 0
    assert run("policy", "verify", str(policy)).code == 0


def test_one_changed_byte_breaks_the_signature(run: Hygiene, admin_key: Path, policy: Path) -> None:
    assert run("policy", "sign", str(policy), "--key", str(admin_key)).code == 0
    data = bytearray(policy.read_bytes())
    data[data.index(b"7")] = ord("9")
    policy.write_bytes(bytes(data))
    outcome = run("policy", "verify", str(policy))
    assert outcome.code == 1
    assert outcome.out == (
        f"{policy}: the signature does not match the file (tampered, or signed by another key)\n"
    )
    assert b"acme-baseline" not in outcome.out.encode()


def test_a_file_without_a_signature(run: Hygiene, admin_key: Path, policy: Path) -> None:
    outcome = run("policy", "verify", str(policy))
    assert outcome.code == 1
    assert outcome.out == f"{policy}: no signature (no acme.yaml.sig)\n"


def test_a_key_that_is_not_trusted(
    run: Hygiene, machine: Machine, admin_key: Path, policy: Path, workdir: Path
) -> None:
    stranger = workdir / "stranger-key"
    assert run("policy", "keygen", "--out", str(stranger)).code == 0
    assert run("policy", "sign", str(policy), "--key", str(stranger)).code == 0
    outcome = run("policy", "verify", str(policy))
    assert outcome.code == 1
    stranger_id = key_id_of(Path(f"{stranger}.pub"))
    assert outcome.out == (
        f"{policy}: signed by key {stranger_id}, which is not among the trusted keys in "
        f"{machine.admin / 'keys'}\n"
    )
    # Trusted with --keys, the same signature is good.
    other = workdir / "other-keys"
    other.mkdir()
    shutil.copy(f"{stranger}.pub", other / "stranger.pub")
    assert run("policy", "verify", str(policy), "--keys", str(other)).code == 0


def test_a_signature_that_names_a_trusted_key_but_was_made_by_another(
    run: Hygiene, admin_key: Path, policy: Path, workdir: Path
) -> None:
    assert run("policy", "sign", str(policy), "--key", str(admin_key)).code == 0
    sig = policy.with_name("acme.yaml.sig")
    forged = Ed25519PrivateKey.generate().sign(POLICY)
    header, key_line, _ = sig.read_text().splitlines()
    sig.write_text(f"{header}\n{key_line}\nsignature: {base64.b64encode(forged).decode()}\n")
    outcome = run("policy", "verify", str(policy))
    assert outcome.code == 1
    assert "the signature does not match the file" in outcome.out


def test_no_trusted_keys_at_all(run: Hygiene, machine: Machine, policy: Path) -> None:
    assert not (machine.admin / "keys").exists()
    private = policy.parent / "key"
    assert run("policy", "keygen", "--out", str(private)).code == 0
    assert run("policy", "sign", str(policy), "--key", str(private)).code == 0
    outcome = run("policy", "verify", str(policy))
    assert outcome.code == 1
    assert "which is not among the trusted keys in" in outcome.out
    assert outcome.err == ""


GARBAGE: dict[str, bytes] = {
    "binary": bytes(range(256)),
    "empty": b"",
    "another header": b"hygiene-agent signature 2\nkey: 0123456789abcdef\nsignature: AAAA\n",
    "bad base64": f"{HEADER}\nkey: 0123456789abcdef\nsignature: not*base64!\n".encode(),
    "short signature": (
        f"{HEADER}\nkey: 0123456789abcdef\nsignature: {base64.b64encode(bytes(63)).decode()}\n"
    ).encode(),
    "bad key id": (
        f"{HEADER}\nkey: 0123-not-hex\nsignature: {base64.b64encode(bytes(64)).decode()}\n"
    ).encode(),
    "extra line": (
        f"{HEADER}\nkey: 0123456789abcdef\nsignature: {base64.b64encode(bytes(64)).decode()}\n"
        "by: mallory\n"
    ).encode(),
    "huge": b"x" * (1024 * 1024),
}


@pytest.mark.parametrize("content", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_garbage_signature_file_is_named_as_such(
    run: Hygiene, admin_key: Path, policy: Path, content: bytes
) -> None:
    policy.with_name("acme.yaml.sig").write_bytes(content)
    outcome = run("policy", "verify", str(policy))
    assert outcome.code == 1
    assert outcome.out == f"{policy}: the signature file is not one hygiene-agent wrote\n"
    assert outcome.err == ""


def test_a_signature_that_went_through_windows_still_verifies(
    run: Hygiene, admin_key: Path, policy: Path
) -> None:
    assert run("policy", "sign", str(policy), "--key", str(admin_key)).code == 0
    sig = policy.with_name("acme.yaml.sig")
    sig.write_bytes(sig.read_bytes().replace(b"\n", b"\r\n"))
    assert run("policy", "verify", str(policy)).code == 0


def test_files_in_the_keys_folder_that_are_not_public_keys_are_named_and_skipped(
    run: Hygiene, admin_key: Path, policy: Path, keys: Path
) -> None:
    (keys / "notes.pub").write_text("ask Ann for the real key\n")
    rsa = generate_private_key(public_exponent=65537, key_size=2048)
    (keys / "old-rsa.pub").write_bytes(
        rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    shutil.copy(admin_key, keys / "oops.pub")  # the private key, copied by mistake
    (keys / "folder.pub").mkdir()
    (keys / "README").write_text("not a .pub: not read\n")
    assert run("policy", "sign", str(policy), "--key", str(admin_key)).code == 0

    outcome = run("policy", "verify", str(policy))
    assert outcome.code == 0, outcome
    assert "(admin.pub)" in outcome.out
    warnings = outcome.err.splitlines()
    assert warnings == [
        f"hygiene: warning: {keys / 'folder.pub'} is a folder, not a public key; it is skipped",
        f"hygiene: warning: {keys / 'notes.pub'} is not an Ed25519 public key in PEM form; "
        "it is skipped",
        f"hygiene: warning: {keys / 'old-rsa.pub'} is a public key of another kind, not Ed25519; "
        "it is skipped",
        f"hygiene: warning: {keys / 'oops.pub'} holds a private key, which must not be on "
        "devices: remove it; it is skipped",
    ]
    assert "ask Ann" not in outcome.err


# --- the format is standard Ed25519 ------------------------------------------------


def test_openssl_verifies_the_signature_and_makes_the_same_one(
    run: Hygiene, admin_key: Path, policy: Path, workdir: Path
) -> None:
    openssl = require_tool("openssl")
    assert run("policy", "sign", str(policy), "--key", str(admin_key)).code == 0
    raw = workdir / "acme.raw-sig"
    raw.write_bytes(raw_signature(policy.with_name("acme.yaml.sig")))
    public = f"{admin_key}.pub"

    def openssl_verify(data: Path) -> subprocess.CompletedProcess[str]:
        argv = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", public, "-rawin"]
        return subprocess.run(
            [*argv, "-in", str(data), "-sigfile", str(raw)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    good = openssl_verify(policy)
    assert good.returncode == 0, good.stderr
    assert "Signature Verified Successfully" in good.stdout
    tampered = workdir / "tampered.yaml"
    tampered.write_bytes(POLICY.replace(b"revision: 7", b"revision: 6"))
    assert openssl_verify(tampered).returncode != 0

    # Ed25519 is deterministic: openssl, given the same PKCS#8 key, signs identically.
    made = subprocess.run(
        [openssl, "pkeyutl", "-sign", "-inkey", str(admin_key), "-rawin", "-in", str(policy)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert made.stdout == raw.read_bytes()
    # And openssl's idea of the public key is the one keygen wrote.
    derived = subprocess.run(
        [openssl, "pkey", "-in", str(admin_key), "-pubout"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert derived.stdout == Path(public).read_bytes()


# --- sign: refusals ----------------------------------------------------------------


def test_sign_refuses_a_file_over_one_mebibyte(
    run: Hygiene, admin_key: Path, workdir: Path
) -> None:
    big = workdir / "big.yaml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    outcome = run("policy", "sign", str(big), "--key", str(admin_key))
    assert outcome.code == 2
    assert "is larger than 1 MiB" in one_sentence(outcome)
    assert not big.with_name("big.yaml.sig").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("missing.yaml", "cannot read"), ("folder.yaml", "is a folder, not a file")],
)
def test_sign_refuses_a_file_it_cannot_read(
    run: Hygiene, admin_key: Path, workdir: Path, name: str, expected: str
) -> None:
    (workdir / "folder.yaml").mkdir()
    outcome = run("policy", "sign", str(workdir / name), "--key", str(admin_key))
    assert outcome.code == 2
    assert expected in one_sentence(outcome)


def test_sign_refuses_what_is_not_an_ed25519_private_key(
    run: Hygiene, admin_key: Path, policy: Path, workdir: Path
) -> None:
    public = run("policy", "sign", str(policy), "--key", f"{admin_key}.pub")
    assert public.code == 2
    assert "is a public key; sign with the private key beside it" in one_sentence(public)

    encrypted = workdir / "encrypted-key"
    encrypted.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"correct horse"),
        )
    )
    rsa = workdir / "rsa-key"
    rsa.write_bytes(
        generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for key in (encrypted, rsa, policy, workdir / "no-such-key"):
        outcome = run("policy", "sign", str(policy), "--key", str(key))
        assert outcome.code == 2, key
        one_sentence(outcome)
    assert not policy.with_name("acme.yaml.sig").exists()


def test_sign_without_a_key_is_a_usage_error(run: Hygiene, policy: Path) -> None:
    outcome = run("policy", "sign", str(policy))
    assert outcome.code == 2
    assert "--key" in outcome.err


# --- verify: usage errors ----------------------------------------------------------


def test_verify_usage_errors(run: Hygiene, workdir: Path, policy: Path) -> None:
    missing = run("policy", "verify", str(workdir / "missing.yaml"))
    assert missing.code == 2
    assert "missing.yaml does not exist" in one_sentence(missing)
    folder = run("policy", "verify", str(workdir))
    assert folder.code == 2
    assert "is not a file" in one_sentence(folder)
    no_keys = run("policy", "verify", str(policy), "--keys", str(workdir / "no-keys"))
    assert no_keys.code == 2
    assert "is not a folder" in one_sentence(no_keys)


# --- the library, for the policy loader --------------------------------------------


def test_verify_never_raises(tmp_path: Path) -> None:
    anchors = load_anchors(tmp_path / "missing")
    assert anchors == Anchors(folder=tmp_path / "missing")
    assert verify(POLICY, None, anchors) == Verdict(False, None, "no signature")
    assert not verify(POLICY, b"\xff" * 10, anchors).ok
    assert not verify_file(tmp_path, anchors).ok  # a folder
    assert not verify_file(tmp_path / "missing.yaml", anchors).ok
    fifo = tmp_path / "policy.yaml"
    fifo.write_bytes(POLICY)
    os.mkfifo(tmp_path / "policy.yaml.sig")
    assert verify_file(fifo, anchors).reason == "the signature file is not one hygiene-agent wrote"


def test_a_keys_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("")
    anchors = load_anchors(tmp_path / "keys")
    assert anchors.keys == {}
    assert anchors.warnings == (f"{tmp_path / 'keys'} is a file, not a folder of keys",)
