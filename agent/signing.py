"""Ed25519 detached signatures for policy files, so a device can tell an admin's file from
anyone else's.

Keys. `hygiene policy keygen` writes an Ed25519 private key (PKCS#8 PEM, unencrypted, 0600)
and its public key (SubjectPublicKeyInfo PEM, 0644) beside it as KEY.pub. A key is named by
its key id: the first 16 hex digits of the SHA-256 of the raw 32-byte public key. Admins
copy KEY.pub into the admin folder's keys/ (/etc/hygiene-agent/keys); every `*.pub` there
is a trusted key.

Signatures. FILE.sig sits beside FILE and signs its exact bytes (at most 1 MiB). It is
ASCII text: a header line, then one pair of lines per signing key (at most 8 keys):

    hygiene-agent signature 1
    key: <key id>
    signature: <base64 of the 64-byte Ed25519 signature of FILE>
    key: <another key id>
    signature: <...>

A device accepts the file when any signature is by a key it trusts and matches, so an admin
rotating keys signs with the old key and the new one while devices learn the new one: no
day when every device must change at once. (A file with one signature is the three lines
every version has written.)

The signature is plain RFC 8032 Ed25519, so other tools can check it: decode the base64
to a file RAW, then `openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin -in FILE
-sigfile RAW`.

Verifying never raises for bad input: a `Verdict` says whether the file is signed by a
trusted key and, in one clause, why not. No reason ever quotes the file or the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.errors import AgentError
from agent.files import FileTooLarge, NotRegularFile, read_small_file, write_whole
from agent.paths import Paths
from agent.text import printable

# The same bound as a policy file's (agent.policy.MAX_POLICY_BYTES); kept here so that the
# policy loader can import this module without a cycle.
MAX_SIGNED_BYTES = 1024 * 1024
_MAX_KEY_BYTES = 16 * 1024
_MAX_SIGNATURE_BYTES = 4 * 1024

SIGNATURE_SUFFIX = ".sig"
PUBLIC_SUFFIX = ".pub"
_HEADER = "hygiene-agent signature 1"
_KEY_ID_DIGITS = 16
_SIGNATURE_BYTES = 64
MAX_SIGNERS = 8


class SigningError(AgentError):
    """A key or signature that cannot be made; the message names the file and why."""


@dataclass(frozen=True)
class KeyPair:
    """Where `keygen` put a new key, and its id."""

    private: Path
    public: Path
    key_id: str


@dataclass(frozen=True)
class TrustedKey:
    key: Ed25519PublicKey
    file: str  # the file name in the keys folder, as shown to a person


@dataclass(frozen=True)
class Anchors:
    """The trusted public keys, by key id, and what was wrong with the rest of the folder."""

    folder: Path
    keys: Mapping[str, TrustedKey] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    key_id: str | None
    reason: str  # one short clause for a person; never quotes the file


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:_KEY_ID_DIGITS]


def keys_folder(paths: Paths) -> Path:
    """The trusted keys: keys/ in the admin folder (HYGIENE_ADMIN_DIR or /etc/hygiene-agent)."""
    return paths.admin_policies.parent / "keys"


def signature_path(file: Path) -> Path:
    return file.with_name(file.name + SIGNATURE_SUFFIX)


# --- keygen ------------------------------------------------------------------------


def keygen(private_path: Path) -> KeyPair:
    """A new key pair at `private_path` and `private_path`.pub; never overwrites a file."""
    if os.path.lexists(private_path) or not private_path.name:
        raise SigningError(
            f"{_shown(private_path)} already exists; choose another path for the key"
        )
    public_path = private_path.with_name(private_path.name + PUBLIC_SUFFIX)
    if os.path.lexists(public_path):
        raise SigningError(f"{_shown(public_path)} already exists; choose another path for the key")
    private_key = Ed25519PrivateKey.generate()
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_key = private_key.public_key()
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _create(private_path, private_pem, 0o600)
    try:
        _create(public_path, public_pem, 0o644)
    except SigningError:
        # Half a key pair is of no use, and a stray private key is a liability.
        with contextlib.suppress(OSError):
            private_path.unlink()
        raise
    return KeyPair(private=private_path, public=public_path, key_id=key_id(public_key))


def _create(path: Path, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise SigningError(
            f"{_shown(path)} already exists; choose another path for the key"
        ) from None
    except OSError as err:
        raise SigningError(f"cannot write {_shown(path)}: {_os_reason(err)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if sys.platform != "win32":
                # The umask may have taken bits away; the modes are part of the contract.
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        with contextlib.suppress(OSError):
            path.unlink()
        raise SigningError(f"cannot write {_shown(path)}: {_os_reason(err)}") from None


# --- sign --------------------------------------------------------------------------


def sign(file: Path, private_keys: Sequence[Path]) -> Path:
    """Sign the exact bytes of `file` with each key in `private_keys`; returns FILE.sig."""
    if not 1 <= len(private_keys) <= MAX_SIGNERS:
        raise SigningError(f"sign with 1 to {MAX_SIGNERS} keys, not {len(private_keys)}")
    data = _read_signed_file(file)
    lines = [_HEADER]
    signers: set[str] = set()
    for path in private_keys:
        key = _load_private_key(path)
        signer = key_id(key.public_key())
        if signer in signers:
            raise SigningError(f"{_shown(path)} is key {signer} again; give each key once")
        signers.add(signer)
        signature = base64.b64encode(key.sign(data)).decode("ascii")
        lines += [f"key: {signer}", f"signature: {signature}"]
    target = signature_path(file)
    _replace(target, ("\n".join(lines) + "\n").encode("ascii"))
    return target


def private_key_id(private_key: Path) -> str:
    """The key id of the private key in `private_key` (the id of its public half)."""
    return key_id(_load_private_key(private_key).public_key())


def _read_signed_file(file: Path) -> bytes:
    shown = _shown(file)
    try:
        return read_small_file(file, MAX_SIGNED_BYTES)
    except IsADirectoryError:
        raise SigningError(f"{shown} is a folder, not a file") from None
    except NotRegularFile:
        raise SigningError(f"{shown} is not a regular file") from None
    except FileTooLarge:
        raise SigningError(f"{shown} is larger than 1 MiB, too large for a policy file") from None
    except OSError as err:
        raise SigningError(f"cannot read {shown}: {_os_reason(err)}") from None


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    shown = _shown(path)
    try:
        blob = read_small_file(path, _MAX_KEY_BYTES)
    except FileTooLarge:
        raise SigningError(f"{shown} is too large to be an Ed25519 private key") from None
    except OSError as err:
        raise SigningError(f"cannot read the key {shown}: {_os_reason(err)}") from None
    not_a_key = SigningError(
        f"{shown} is not an unencrypted Ed25519 private key in PEM form "
        "(`hygiene policy keygen` makes one)"
    )
    if b"PRIVATE KEY-----" not in blob and b"PUBLIC KEY-----" in blob:
        raise SigningError(f"{shown} is a public key; sign with the private key beside it")
    try:
        key = serialization.load_pem_private_key(blob, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Never chain: the library's message may describe the key's contents.
        raise not_a_key from None
    if not isinstance(key, Ed25519PrivateKey):
        raise not_a_key
    return key


def _replace(target: Path, data: bytes) -> None:
    """Write `target` whole or not at all: a reader never sees half a signature."""
    try:
        write_whole(target, data, 0o644)  # devices read it as any user
    except OSError as err:
        raise SigningError(f"cannot write {_shown(target)}: {_os_reason(err)}") from None


# --- trust anchors -----------------------------------------------------------------


def load_anchors(folder: Path) -> Anchors:
    """Every Ed25519 public key in `folder`/*.pub. A file that is not one is named in
    `warnings` and skipped; a missing folder means no trusted keys."""
    shown = _shown(folder)
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".pub"))
    except FileNotFoundError:
        return Anchors(folder=folder)
    except NotADirectoryError:
        return Anchors(folder=folder, warnings=(f"{shown} is a file, not a folder of keys",))
    except OSError as err:
        return Anchors(folder=folder, warnings=(f"cannot read {shown}: {_os_reason(err)}",))
    keys: dict[str, TrustedKey] = {}
    warnings: list[str] = []
    for name in names:
        loaded = _load_public_key(folder / name)
        if isinstance(loaded, str):
            warnings.append(f"{_shown(folder / name)} {loaded}; it is skipped")
        else:
            keys.setdefault(key_id(loaded), TrustedKey(key=loaded, file=printable(name)))
    return Anchors(folder=folder, keys=keys, warnings=tuple(warnings))


def _load_public_key(path: Path) -> Ed25519PublicKey | str:
    """The key, or what is wrong with the file (a clause without its contents)."""
    try:
        blob = read_small_file(path, _MAX_KEY_BYTES)
    except IsADirectoryError:
        return "is a folder, not a public key"
    except NotRegularFile:
        return "is not a regular file"
    except FileTooLarge:
        return "is too large to be a public key"
    except OSError as err:
        return f"cannot be read: {_os_reason(err)}"
    if b"PRIVATE KEY-----" in blob:
        return "holds a private key, which must not be on devices: remove it"
    try:
        key = serialization.load_pem_public_key(blob)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "is not an Ed25519 public key in PEM form"
    if not isinstance(key, Ed25519PublicKey):
        return "is a public key of another kind, not Ed25519"
    return key


# --- verify ------------------------------------------------------------------------


def verify(data: bytes, signature: bytes | None, anchors: Anchors) -> Verdict:
    """Whether `signature` (the bytes of a .sig file) signs `data` with a trusted key: any
    one of its signatures by a trusted key that matches is enough."""
    if signature is None:
        return Verdict(False, None, "no signature")
    parsed = _parse_signature(signature)
    if parsed is None:
        return Verdict(False, None, "the signature file is not one hygiene-agent wrote")
    mismatched: str | None = None
    for signer, raw in parsed:
        trusted = anchors.keys.get(signer)
        if trusted is None:
            continue
        try:
            trusted.key.verify(raw, data)
        except InvalidSignature:
            mismatched = mismatched or signer
            continue
        return Verdict(True, signer, f"signed by key {signer} ({trusted.file})")
    if mismatched is not None:
        return Verdict(
            False,
            mismatched,
            "the signature does not match the file (tampered, or signed by another key)",
        )
    signers = [signer for signer, _ in parsed]
    if len(signers) == 1:
        named = f"key {signers[0]}, which is not"
    else:
        named = f"keys {', '.join(signers)}, none of which is"
    return Verdict(
        False,
        signers[0],
        f"signed by {named} among the trusted keys in {_shown(anchors.folder)}",
    )


def verify_file(path: Path, anchors: Anchors) -> Verdict:
    """`verify` on the bytes of `path` and of `path`.sig beside it."""
    try:
        data = read_small_file(path, MAX_SIGNED_BYTES)
    except FileTooLarge:
        return Verdict(False, None, f"{_shown(path)} is larger than 1 MiB")
    except OSError as err:
        return Verdict(False, None, f"cannot read {_shown(path)}: {_os_reason(err)}")
    sig_path = signature_path(path)
    try:
        signature = read_small_file(sig_path, _MAX_SIGNATURE_BYTES)
    except FileNotFoundError:
        return Verdict(False, None, f"no signature (no {printable(sig_path.name)})")
    except (FileTooLarge, NotRegularFile, IsADirectoryError):
        signature = b""  # not something `sign` writes: reported as such below
    except OSError as err:
        return Verdict(False, None, f"cannot read {_shown(sig_path)}: {_os_reason(err)}")
    return verify(data, signature, anchors)


def _parse_signature(blob: bytes) -> list[tuple[str, bytes]] | None:
    """[(key id, raw signature), ...] from a .sig file, or None when it is not in our
    format (a key given twice included)."""
    try:
        text = blob.decode("ascii")
    except UnicodeDecodeError:
        return None
    # Tolerate CRLF line ends and a missing final newline (a file passed through Windows).
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    pairs = (len(lines) - 1) // 2
    if lines[0] != _HEADER or len(lines) % 2 != 1 or not 1 <= pairs <= MAX_SIGNERS:
        return None
    found: list[tuple[str, bytes]] = []
    for n in range(pairs):
        one = _parse_pair(lines[1 + 2 * n], lines[2 + 2 * n])
        if one is None or one[0] in (signer for signer, _ in found):
            return None
        found.append(one)
    return found


def _parse_pair(key_line: str, signature_line: str) -> tuple[str, bytes] | None:
    key_prefix, sig_prefix = "key: ", "signature: "
    if not (key_line.startswith(key_prefix) and signature_line.startswith(sig_prefix)):
        return None
    signer = key_line.removeprefix(key_prefix)
    if len(signer) != _KEY_ID_DIGITS or any(c not in "0123456789abcdef" for c in signer):
        return None
    try:
        raw = base64.b64decode(signature_line.removeprefix(sig_prefix), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _SIGNATURE_BYTES:
        return None
    return signer, raw


def _shown(path: Path) -> str:
    return printable(str(path))


def _os_reason(err: OSError) -> str:
    if err.errno == errno.ENOENT:
        return "no such file or folder"
    return (err.strerror or type(err).__name__).rstrip(".").lower()
