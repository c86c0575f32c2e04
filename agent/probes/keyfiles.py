"""Facts about private key files: format, type, size, whether a passphrase protects them.

Files of up to 1 MiB are read; of a key, at most the first 6 KiB of its decoded body is
looked at, in memory, to find the header and the size of the key. No key material is
kept, logged or returned. Formats: OpenSSH (openssh-key-v1), traditional PEM (RSA/DSA/EC),
PKCS#8 (plain and encrypted) and PuTTY .ppk.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.files import FileTooLarge, NotRegularFile, read_small_file

# A key is a few KiB; a bundle with certificates and padding is still far below this.
MAX_KEY_FILE = 1024 * 1024
MAX_PUBLIC_FILE = 64 * 1024
# Enough base64 for the header and the public key of any key type.
_PREFIX_CHARS = 8192
_BEGIN = re.compile(r"^-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----\s*$", re.MULTILINE)

_OPENSSH_MAGIC = b"openssh-key-v1\x00"
_OIDS = {
    bytes.fromhex("2a864886f70d010101"): "rsa",
    bytes.fromhex("2a864886f70d01010a"): "rsa",  # RSASSA-PSS
    bytes.fromhex("2a8648ce380401"): "dsa",
    bytes.fromhex("2a8648ce3d0201"): "ecdsa",
    bytes.fromhex("2b6570"): "ed25519",
    bytes.fromhex("2b6571"): "ed448",
}
_CURVE_OIDS = {
    bytes.fromhex("2a8648ce3d030107"): 256,
    bytes.fromhex("2b81040022"): 384,
    bytes.fromhex("2b81040023"): 521,
}
_EC_PRIVATE_LENGTH_BITS = {32: 256, 48: 384, 66: 521}
_SSH_TYPES = {
    "ssh-rsa": "rsa",
    "ssh-dss": "dsa",
    "ssh-ed25519": "ed25519",
    "ssh-ed448": "ed448",
    "sk-ssh-ed25519@openssh.com": "ed25519-sk",
    "sk-ecdsa-sha2-nistp256@openssh.com": "ecdsa-sk",
}


@dataclass(frozen=True)
class KeyFile:
    path: Path
    format: str  # openssh, pem, pkcs8, putty
    key_type: str  # rsa, dsa, ecdsa, ed25519, ed25519-sk, ... or "unknown"
    bits: int | None
    encrypted: bool
    mode: int | None  # permission bits; None where the platform does not use them


@dataclass(frozen=True)
class Unreadable:
    path: Path
    reason: str
    missing: bool = False


class _Truncated(Exception):
    pass


class DamagedKey(ValueError):
    """The file says it is a private key, but its contents cannot be understood."""


def permission_bits(path: Path) -> int | None:
    """The file's permission bits, or None on Windows where access is set by ACLs."""
    if os.name != "posix":
        return None
    return stat.S_IMODE(path.stat().st_mode)


def find_key_files(locations: Iterable[Path]) -> tuple[list[KeyFile], list[Unreadable]]:
    """Private keys among the files in each location (a folder, not descended, or a file)."""
    keys: list[KeyFile] = []
    problems: list[Unreadable] = []
    seen: set[Path] = set()
    for path in _candidates(locations, problems):
        if path in seen:
            continue
        seen.add(path)
        try:
            key = read_key_file(path)
        except OSError as err:
            problems.append(Unreadable(path, _reason(err)))
            continue
        except DamagedKey:
            problems.append(
                Unreadable(path, "it looks like a private key but its contents are damaged")
            )
            continue
        if key is not None:
            keys.append(key)
    return keys, problems


def _candidates(locations: Iterable[Path], problems: list[Unreadable]) -> Iterator[Path]:
    for location in locations:
        try:
            if not stat.S_ISDIR(location.stat().st_mode):
                yield location
                continue
            entries = sorted(location.iterdir())
        except OSError as err:
            problems.append(Unreadable(location, _reason(err), missing=err.errno == errno.ENOENT))
            continue
        for entry in entries:
            if entry.suffix != ".pub":
                yield entry


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOENT:
        return "it does not exist"
    if err.errno == errno.ELOOP:
        return "it is a symbolic link loop"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (err.strerror or type(err).__name__).lower()


def read_key_file(path: Path) -> KeyFile | None:
    """The facts of one private key file, or None when the file is not a private key."""
    try:
        data = read_small_file(path, MAX_KEY_FILE)
    except (NotRegularFile, FileTooLarge, IsADirectoryError):
        return None
    mode = permission_bits(path)
    # Comments may be in any language; only the ASCII structure around them matters.
    text = data.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    try:
        if text.startswith("PuTTY-User-Key-File-"):
            return _putty(path, text, mode)
        begin = _BEGIN.search(text)
        if begin is None:
            return None
        return _pem_family(path, begin.group(1), text[begin.end() :], mode)
    except (_Truncated, binascii.Error, ValueError, IndexError) as err:
        raise DamagedKey(str(path)) from err


def _pem_family(path: Path, label: str, rest: str, mode: int | None) -> KeyFile:
    headers, body = _split_pem(rest.splitlines())
    if label == "OPENSSH PRIVATE KEY":
        cipher, key_type, bits = _openssh(_decode_prefix(body))
        return KeyFile(path, "openssh", key_type, bits, cipher != "none", mode)
    if label == "ENCRYPTED PRIVATE KEY":
        key_type, bits = _from_public_file(path)
        return KeyFile(path, "pkcs8", key_type, bits, encrypted=True, mode=mode)
    if label == "PRIVATE KEY":
        key_type, bits = _pkcs8(_decode_prefix(body))
        return KeyFile(path, "pkcs8", key_type, bits, encrypted=False, mode=mode)
    if label not in _PEM_LABEL_TYPES:
        raise ValueError("not a private key label this probe knows")
    if "Proc-Type: 4,ENCRYPTED" in headers:
        key_type, bits = _from_public_file(path)
        if key_type == "unknown":
            key_type = _PEM_LABEL_TYPES[label]
        return KeyFile(path, "pem", key_type, bits, encrypted=True, mode=mode)
    key_type = _PEM_LABEL_TYPES[label]
    bits = _traditional_bits(key_type, _decode_prefix(body))
    return KeyFile(path, "pem", key_type, bits, encrypted=False, mode=mode)


_PEM_LABEL_TYPES = {"RSA PRIVATE KEY": "rsa", "DSA PRIVATE KEY": "dsa", "EC PRIVATE KEY": "ecdsa"}


def _split_pem(lines: list[str]) -> tuple[list[str], list[str]]:
    headers: list[str] = []
    body: list[str] = []
    for line in lines:
        if line.startswith("-----END"):
            break
        if ":" in line and not body:
            headers.append(line.strip())
        elif line.strip():
            body.append(line.strip())
    return headers, body


def _decode_prefix(body: list[str]) -> bytes:
    joined = "".join(body)
    if len(joined) > _PREFIX_CHARS:
        joined = joined[:_PREFIX_CHARS]
    joined = joined[: len(joined) - len(joined) % 4]
    return base64.b64decode(joined, validate=True)


# --- SSH wire format -------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise _Truncated
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def uint32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self) -> bytes:
        return self.take(self.uint32())


def _openssh(blob: bytes) -> tuple[str, str, int | None]:
    if not blob.startswith(_OPENSSH_MAGIC):
        raise ValueError("not openssh-key-v1")
    reader = _Reader(blob, len(_OPENSSH_MAGIC))
    cipher = reader.string().decode("ascii", "replace")
    reader.string()  # kdf name
    reader.string()  # kdf options
    if reader.uint32() < 1:
        raise ValueError("no keys")
    key_type, bits = _ssh_public_blob(reader.string())
    return cipher, key_type, bits


def _ssh_public_blob(blob: bytes) -> tuple[str, int | None]:
    reader = _Reader(blob)
    name = reader.string().decode("ascii", "replace")
    if name == "ssh-rsa":
        reader.string()  # e
        return "rsa", _mpint_bits(reader.string())
    if name == "ssh-dss":
        return "dsa", _mpint_bits(reader.string())
    if name.startswith("ecdsa-sha2-nistp"):
        return "ecdsa", int(name.removeprefix("ecdsa-sha2-nistp"))
    if name in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        return _SSH_TYPES[name], 256
    if name == "ssh-ed448":
        return "ed448", 456
    if name == "sk-ecdsa-sha2-nistp256@openssh.com":
        return "ecdsa-sk", 256
    return _SSH_TYPES.get(name, "unknown"), None


def _mpint_bits(value: bytes) -> int:
    return int.from_bytes(value, "big").bit_length()


def _from_public_file(path: Path) -> tuple[str, int | None]:
    """Type and size of an encrypted key, from the .pub that ssh-keygen writes beside it."""
    try:
        public = read_small_file(path.with_name(path.name + ".pub"), MAX_PUBLIC_FILE)
        fields = public.decode("ascii", "replace").split()
        return _ssh_public_blob(base64.b64decode(fields[1]))
    except (OSError, IndexError, ValueError, _Truncated):
        return "unknown", None


# --- DER (just enough to find a key's size) ---------------------------------------


def _der(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, length, content start) of the element at pos; data may be a prefix."""
    if pos + 2 > len(data):
        raise _Truncated
    tag, first = data[pos], data[pos + 1]
    if first < 0x80:
        return tag, first, pos + 2
    size = first & 0x7F
    if pos + 2 + size > len(data):
        raise _Truncated
    return tag, int.from_bytes(data[pos + 2 : pos + 2 + size], "big"), pos + 2 + size


def _expect(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(length, content start) of the element at pos, which must carry this tag."""
    found, length, start = _der(data, pos)
    if found != tag:
        raise ValueError(f"expected DER tag {tag:#x}, found {found:#x}")
    return length, start


_SEQUENCE, _INTEGER, _OCTETS, _OID = 0x30, 0x02, 0x04, 0x06


def _integer_bits(data: bytes, pos: int) -> int:
    length, start = _expect(data, pos, _INTEGER)
    if length == 0:
        raise ValueError("empty INTEGER")
    while length > 1 and data[start] == 0:
        start += 1
        length -= 1
    return (length - 1) * 8 + data[start].bit_length()


def _skip(data: bytes, pos: int, tag: int) -> int:
    length, start = _expect(data, pos, tag)
    return start + length


def _traditional_bits(key_type: str, der: bytes) -> int | None:
    """RSAPrivateKey / DSAPrivateKey: SEQUENCE { version, n or p, ... }; EC: the scalar's size."""
    _, inner = _expect(der, 0, _SEQUENCE)
    after_version = _skip(der, inner, _INTEGER)
    if key_type in ("rsa", "dsa"):
        return _integer_bits(der, after_version)
    length, _ = _expect(der, after_version, _OCTETS)
    return _EC_PRIVATE_LENGTH_BITS.get(length)


def _pkcs8(der: bytes) -> tuple[str, int | None]:
    """PrivateKeyInfo: SEQUENCE { version, AlgorithmIdentifier { oid, params }, OCTET STRING }."""
    _, inner = _expect(der, 0, _SEQUENCE)
    algorithm = _skip(der, inner, _INTEGER)
    alg_length, alg_start = _expect(der, algorithm, _SEQUENCE)
    oid_length, oid_start = _expect(der, alg_start, _OID)
    key_type = _OIDS.get(der[oid_start : oid_start + oid_length], "unknown")
    params = oid_start + oid_length
    private = alg_start + alg_length
    _expect(der, private, _OCTETS)
    if key_type == "rsa":
        _, key_start = _expect(der, private, _OCTETS)
        return key_type, _traditional_bits("rsa", der[key_start:])
    if key_type == "dsa":
        _, dsa_params = _expect(der, params, _SEQUENCE)
        return key_type, _integer_bits(der, dsa_params)
    if key_type == "ecdsa":
        curve_length, curve_start = _expect(der, params, _OID)
        return key_type, _CURVE_OIDS.get(der[curve_start : curve_start + curve_length])
    if key_type == "ed25519":
        return key_type, 256
    if key_type == "ed448":
        return key_type, 456
    return key_type, None


# --- PuTTY ----------------------------------------------------------------------


def _putty(path: Path, text: str, mode: int | None) -> KeyFile:
    fields: dict[str, str] = {}
    lines = text.splitlines()
    public: list[str] = []
    for index, line in enumerate(lines):
        name, _, value = line.partition(": ")
        fields.setdefault(name, value.strip())
        if name == "Public-Lines":
            public = lines[index + 1 : index + 1 + int(value)]
            break
    key_type, bits = _ssh_public_blob(base64.b64decode("".join(public)))
    encrypted = fields.get("Encryption", "none") != "none"
    return KeyFile(path, "putty", key_type, bits, encrypted, mode)
