"""Facts about messengers that keep their session in a folder: whether a copy of the folder
is enough to be signed in. Facts only; agent/checks/app_sessions.py judges them.

Telegram Desktop (tdata/key_datas, the format of tdesktop's storage_domain.cpp and
storage/details/storage_file_utilities.cpp, read from its source; no code copied):
- the file is "TDF$", a little-endian int32 version, a Qt data stream, and the MD5 of
  (stream, its size, version, magic) as its last 16 bytes;
- the stream holds three byte arrays (a big-endian uint32 length, then the bytes): a 32-byte
  salt, the local key encrypted with the passcode key, and the accounts' list encrypted with
  the local key;
- the passcode key is PBKDF2-HMAC-SHA512 of SHA512(salt + passcode + salt) over the salt, 256
  bytes; 100,000 iterations with a passcode, ONE without ("Don't slow down for no password",
  CreateLocalKey), which is what lets this probe try the empty passcode in microseconds;
- an encrypted block is a 16-byte check (the first 16 bytes of the SHA1 of the plain block)
  and AES-256-IGE data whose key and IV come from the passcode key and that check (MTProto
  1.0's derivation, "x = 8"). Telegram itself opens the file by trying the passcode given and
  comparing the check: the empty passcode passing it means there is no passcode.
Only the local-key block is decrypted, in memory, to compare its check; what it yields is
dropped at once. The accounts' list, the MTP auth keys and messages are never read.
Telegram writes key_datas at its first start, before anyone signs in (seen with Telegram
Desktop 4.6.5: tests/data/app_sessions/README.md); an account is there once its MTP data
file is, named from the account's data name (see _account_file), not from any file of that
shape: a fresh tdata already holds one such file with a random name.

Signal Desktop (config.json beside its database): a JSON object whose "key" is the
database key in plain text and whose "encryptedKey" is that key wrapped by the system's
keyring (Electron's safeStorage). Only the names of the top-level members are looked at.

Every read is bounded (size, entries listed) and refuses FIFOs and devices (agent.files);
a missing, unreadable or damaged file is a reason in words, never an exception.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.files import FileTooLarge, NotRegularFile, json_value, read_small_file

# A key_datas file is under 1 KiB (salt, a 288-byte key block, a short list of accounts).
MAX_KEY_DATAS = 64 * 1024
# Signal's config.json is a few hundred bytes.
MAX_SIGNAL_CONFIG = 256 * 1024
# tdata holds a few dozen entries; a folder of more is looked at this far.
MAX_ENTRIES = 4096

_TDF_MAGIC = b"TDF$"
_SALT_SIZE = 32
_LOCAL_KEY_SIZE = 256
# Telegram Desktop keeps up to 6 accounts (main_domain.h, kPremiumMaxAccounts).
_MAX_ACCOUNTS = 6
# Before key_datas (Telegram Desktop 2.1, 2020) the passcode lived in the map file of the
# first account's folder (named as its data file, without the "s"); that folder without a
# key_datas beside it is that older layout.
_LEGACY_FOLDER = "D877F783D5D3EF8C"


@dataclass(frozen=True)
class FolderFacts:
    path: Path
    mode: int | None  # permission bits; None where access is set by ACLs (Windows)
    device: int  # st_dev: the file system it is on


@dataclass(frozen=True)
class TelegramFacts:
    folder: FolderFacts
    # An account's MTP data file is there (written at sign-in; kept, with no user, after a
    # sign-out).
    signed_in: bool
    # True: the empty passcode opens the local key; False: it does not (a passcode is set);
    # None: could not tell, `problem` says why.
    no_passcode: bool | None
    problem: str | None = None


@dataclass(frozen=True)
class SignalFacts:
    folder: FolderFacts
    config: Path
    plain_key: bool | None  # "key" is in config.json; None: could not tell (see problem)
    wrapped_key: bool = False  # "encryptedKey" is in it
    # Wrapped with Chromium's fixed key ("basic" store: its ciphertext starts with v10, hex
    # 763130) rather than the keyring's (v11): no safer in a copy than the key in plain text.
    basic_wrapped: bool = False
    problem: str | None = None


def folder_facts(path: Path) -> FolderFacts | None:
    """The folder's permissions and file system; None when it is not there (or not a folder).
    Raises OSError when it cannot be looked at (a symlink loop, permission denied)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None
    mode = stat.S_IMODE(info.st_mode) if os.name == "posix" else None
    return FolderFacts(path, mode, info.st_dev)


def reason(err: OSError) -> str:
    """An OSError in a few words, for a note."""
    if isinstance(err, NotRegularFile):
        return "it is not a regular file (a FIFO or a device), so it was not opened"
    if isinstance(err, FileTooLarge):
        return "it is larger than such a file ever is, so it was not read"
    if err.errno == errno.ELOOP:
        return "it is a symbolic link loop"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.EISDIR:
        return "it is a folder"
    return (err.strerror or type(err).__name__).lower()


# --- Telegram Desktop -------------------------------------------------------------------


def telegram(folder: FolderFacts) -> TelegramFacts:
    """Whether Telegram Desktop's tdata folder opens without a passcode."""
    tdata = folder.path
    try:
        names = _names(tdata)
    except OSError as err:
        return TelegramFacts(folder, False, None, f"its files could not be listed: {reason(err)}")
    signed_in = not _ACCOUNT_FILES.isdisjoint(names)
    key_file = _key_file(tdata, names)
    if key_file is None:
        problem = None
        if _LEGACY_FOLDER in names:
            problem = "it is in the layout of Telegram Desktop before 2.1, which is not read"
        return TelegramFacts(folder, signed_in, None, problem)
    try:
        data = read_small_file(key_file, MAX_KEY_DATAS)
    except OSError as err:
        return TelegramFacts(folder, signed_in, None, f"{key_file.name}: {reason(err)}")
    try:
        opens = empty_passcode_opens(data)
    except ValueError as err:
        return TelegramFacts(folder, signed_in, None, f"{key_file.name} {err}")
    return TelegramFacts(folder, signed_in, opens)


def _names(folder: Path) -> set[str]:
    names: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            names.add(entry.name)
            if len(names) >= MAX_ENTRIES:
                break
    return names


def _account_file(data_name: str) -> str:
    """The name of an account's MTP data file in tdata (Storage::Account::writeMtpData): the
    first 8 bytes of the MD5 of its data name as a little-endian number, written 4 bits at a
    time from the lowest (ToFilePart), then "s". Only the account's data name gives it: other
    files of the same shape (a background, a theme: random names from GenerateKey) are in
    tdata before anyone signs in."""
    digest = hashlib.md5(data_name.encode(), usedforsecurity=False).digest()
    digits = "".join(f"{byte & 0xF:X}{byte >> 4:X}" for byte in digest[:8])
    return digits + "s"


# The accounts' data names: "data" for the first, "data#2" to "data#6" for the others
# (ComposeDataString; "data" is the default data name, another is given with -key).
# D877F783D5D3EF8Cs is the first's.
_ACCOUNT_FILES = frozenset(
    _account_file("data" if index == 1 else f"data#{index}")
    for index in range(1, _MAX_ACCOUNTS + 1)
)


def _key_file(tdata: Path, names: set[str]) -> Path | None:
    # ReadFile: "key_datas", else the newer of the older writer's "key_data0" and "key_data1".
    if "key_datas" in names:
        return tdata / "key_datas"
    older = [tdata / n for n in ("key_data0", "key_data1") if n in names]
    if not older:
        return None

    def modified(path: Path) -> float:
        try:
            return path.lstat().st_mtime
        except OSError:
            return 0.0

    return max(older, key=modified)


def empty_passcode_opens(data: bytes) -> bool:
    """Whether the empty passcode opens the local key in a key_datas file's contents.
    ValueError (a sentence) when the file is not one, or is damaged."""
    salt, key_block = _key_datas_fields(data)
    passcode_key = _passcode_key(salt, b"")
    return _opens(key_block, passcode_key)


def _key_datas_fields(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 8 + 16 or not data.startswith(_TDF_MAGIC):
        raise ValueError("is not a Telegram data file (no TDF$ header)")
    version = data[4:8]
    body, signature = data[8:-16], data[-16:]
    check = hashlib.md5(usedforsecurity=False)
    check.update(body)
    check.update(len(body).to_bytes(4, "little"))
    check.update(version)
    check.update(_TDF_MAGIC)
    if check.digest() != signature:
        raise ValueError("is damaged (its checksum does not match)")
    pos = 0
    fields: list[bytes] = []
    for _ in range(2):  # the salt and the local key's block; the accounts' list is not read
        if pos + 4 > len(body):
            raise ValueError("is cut short")
        size = int.from_bytes(body[pos : pos + 4], "big")
        pos += 4
        if size == 0xFFFFFFFF:
            size = 0
        if pos + size > len(body):
            raise ValueError("is cut short")
        fields.append(body[pos : pos + size])
        pos += size
    salt, key_block = fields
    if len(salt) != _SALT_SIZE:
        raise ValueError("has a salt of an unknown size")
    if len(key_block) <= 16 or len(key_block) % 16:
        raise ValueError("has a key block of an unknown size")
    return salt, key_block


def _passcode_key(salt: bytes, passcode: bytes) -> bytes:
    seed = hashlib.sha512(salt + passcode + salt).digest()
    # One iteration for the empty passcode, as Telegram does; a real passcode is never tried.
    iterations = 1 if not passcode else 100_000
    return hashlib.pbkdf2_hmac("sha512", seed, salt, iterations, _LOCAL_KEY_SIZE)


def _opens(block: bytes, key: bytes) -> bool:
    check, encrypted = block[:16], block[16:]
    aes_key, aes_iv = _aes_key_iv(key, check)
    plain = _ige_decrypt(encrypted, aes_key, aes_iv)
    try:
        return hashlib.sha1(plain, usedforsecurity=False).digest()[:16] == check
    finally:
        plain[:] = bytes(len(plain))


def _aes_key_iv(key: bytes, check: bytes) -> tuple[bytes, bytes]:
    # MTProto 1.0's key derivation for data read back (offset 8).
    x = 8

    def sha1(data: bytes) -> bytes:
        return hashlib.sha1(data, usedforsecurity=False).digest()

    a = sha1(check + key[x : x + 32])
    b = sha1(key[32 + x : 48 + x] + check + key[48 + x : 64 + x])
    c = sha1(key[64 + x : 96 + x] + check)
    d = sha1(check + key[96 + x : 128 + x])
    aes_key = a[:8] + b[8:20] + c[4:16]
    aes_iv = a[8:20] + b[:8] + c[16:20] + d[:8]
    return aes_key, aes_iv


def _ige_decrypt(data: bytes, key: bytes, iv: bytes) -> bytearray:
    """AES-256 in IGE mode, decrypting (the IV as OpenSSL takes it: the previous cipher
    block, then the previous plain block)."""
    from cryptography.hazmat.primitives.ciphers import (  # noqa: PLC0415 - only for Telegram
        Cipher,
        algorithms,
        modes,
    )

    # ECB is the block cipher alone here: IGE chains the blocks itself, below.
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    previous_cipher, previous_plain = iv[:16], iv[16:32]
    out = bytearray()
    for start in range(0, len(data), 16):
        block = data[start : start + 16]
        mixed = bytes(x ^ y for x, y in zip(block, previous_plain, strict=True))
        plain = bytes(x ^ y for x, y in zip(decryptor.update(mixed), previous_cipher, strict=True))
        out += plain
        previous_cipher, previous_plain = block, plain
    decryptor.finalize()
    return out


# --- Signal Desktop ---------------------------------------------------------------------


def signal(folder: FolderFacts) -> SignalFacts:
    """Whether Signal Desktop's config.json keeps the database key in plain text."""
    config = folder.path / "config.json"
    try:
        data = read_small_file(config, MAX_SIGNAL_CONFIG)
    except FileNotFoundError:
        return SignalFacts(folder, config, False)
    except OSError as err:
        return SignalFacts(folder, config, None, problem=f"config.json: {reason(err)}")
    try:
        value = json_value(data)
    except ValueError:
        return SignalFacts(folder, config, None, problem="config.json is not readable JSON")
    if not isinstance(value, dict):
        return SignalFacts(folder, config, None, problem="config.json is not a JSON object")
    names = set(value)
    wrapped = value.get("encryptedKey")
    # Only the store's version marker, the first three bytes (six hex digits): not the key.
    basic = isinstance(wrapped, str) and wrapped[:6].lower() == _BASIC_MARKER
    del value, data, wrapped  # the key's value is not kept past this line
    return SignalFacts(
        folder, config, "key" in names, wrapped_key="encryptedKey" in names, basic_wrapped=basic
    )


_BASIC_MARKER = b"v10".hex()


__all__ = [
    "FolderFacts",
    "SignalFacts",
    "TelegramFacts",
    "empty_passcode_opens",
    "folder_facts",
    "reason",
    "signal",
    "telegram",
]
