"""Whether an NSS key store (Firefox's key4.db, or the legacy key3.db) opens with the empty
password, which is what "no Primary Password" means.

NSS keeps, beside the keys, one entry made to test a password: the text "password-check"
encrypted with a key derived from the password. This module reads that one entry and tries
to decrypt it with the empty password, as NSS does when it asks whether a password is needed.
Nothing else in the store is read: not the private keys (nssPrivate), not a saved login. The
decrypted text is compared with the known "password-check" and dropped.

Formats (from NSS's softoken, lib/softoken/lowpbe.c and sftkpwd.c, and the legacy dbm):
- key4.db (SQLite), table metaData, row id 'password': item1 the global salt, item2 the DER
  of { AlgorithmIdentifier, OCTET STRING ciphertext }. NSS 3.x writes PBES2 (PBKDF2 with
  HMAC-SHA256, AES-256-CBC); older profiles have pbeWithSha1AndTripleDES-CBC.
- key3.db (Berkeley DB 1.85 hash): the records "global-salt" and "password-check", the
  latter a small header, the entry salt, the algorithm's OID and the 3DES ciphertext.
In both, the password given to the derivation is SHA-1(global salt + password).
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from agent.files import read_small_file
from agent.probes._sqlite import StoreUnreadable, open_read_only

CHECK_TEXT = b"password-check"
# A key store's password entry is a few hundred bytes; key3.db files are a few pages.
MAX_ENTRY = 4096
MAX_KEY3 = 1024 * 1024
# NSS uses 10000 rounds with a password and 1 without; more than this is not NSS's and would
# only cost time.
MAX_ITERATIONS = 1_000_000

_PBES2 = bytes.fromhex("2a864886f70d01050d")
_PBKDF2 = bytes.fromhex("2a864886f70d01050c")
_HMAC_SHA256 = bytes.fromhex("2a864886f70d0209")
_AES256_CBC = bytes.fromhex("60864801650304012a")
_SHA1_3DES = bytes.fromhex("2a864886f70d010c050103")


@dataclass(frozen=True)
class Protection:
    """What the password entry says: protected (a Primary Password is set) or not."""

    protected: bool
    form: str  # "key4 PBES2 AES-256", "key4 3DES", "key3 3DES"


def key4_protection(path: Path, timeout: float) -> Protection:
    """Whether key4.db at `path` is protected by a password; StoreUnreadable or OSError
    (sqlite3.Error included as StoreUnreadable) when it cannot be told."""
    try:
        with open_read_only(path, timeout) as db:
            row = db.execute(
                "SELECT item1, item2 FROM metaData WHERE id = 'password' "
                "AND length(item1) <= ? AND length(item2) <= ?",
                (MAX_ENTRY, MAX_ENTRY),
            ).fetchone()
    except sqlite3.Error as err:
        raise StoreUnreadable(f"its database cannot be read ({_sqlite_reason(err)})") from None
    if row is None or not isinstance(row[0], bytes) or not isinstance(row[1], bytes):
        raise StoreUnreadable("it has no password entry")
    global_salt, entry = row
    algorithm, ciphertext = _encrypted_entry(entry)
    oid, params = algorithm
    if oid == _PBES2:
        plain = _pbes2(params, global_salt, ciphertext)
        form = "key4 PBES2 AES-256"
    elif oid == _SHA1_3DES:
        salt, _ = _pbe_params(params)
        plain = _sha1_3des(global_salt, salt, ciphertext)
        form = "key4 3DES"
    else:
        raise StoreUnreadable("its password entry uses an algorithm this check does not know")
    return Protection(not _is_check_text(plain), form)


def key3_protection(path: Path) -> Protection:
    """Whether the legacy key3.db at `path` is protected by a password."""
    records = _bdb_hash_records(
        read_small_file(path, MAX_KEY3), {b"global-salt", b"password-check"}
    )
    salt, check = records.get(b"global-salt"), records.get(b"password-check")
    if salt is None or check is None:
        raise StoreUnreadable("it has no password entry")
    if len(check) < 3:
        raise StoreUnreadable("its password entry is damaged")
    salt_length = check[1]
    entry_salt = check[3 : 3 + salt_length]
    rest = check[3 + salt_length :]
    if len(entry_salt) != salt_length or len(rest) < 2:
        raise StoreUnreadable("its password entry is damaged")
    oid_length = int.from_bytes(rest[:2], "big")
    if rest[2 : 2 + oid_length] != _SHA1_3DES:
        raise StoreUnreadable("its password entry uses an algorithm this check does not know")
    ciphertext = rest[2 + oid_length :]
    return Protection(not _is_check_text(_sha1_3des(salt, entry_salt, ciphertext)), "key3 3DES")


def _is_check_text(plain: bytes) -> bool:
    # The block cipher's padding (PKCS#7) follows the text: two bytes of 2 for a 16-byte block.
    pad = len(plain) - len(CHECK_TEXT)
    return (
        plain[: len(CHECK_TEXT)] == CHECK_TEXT
        and 0 < pad <= 16
        and plain.endswith(bytes([pad]) * pad)
    )


def _sqlite_reason(err: sqlite3.Error) -> str:
    return str(err).rstrip(".").lower() or type(err).__name__


# --- the one decryption ------------------------------------------------------------------


def _decrypt_check_entry(cipher: Cipher[modes.CBC], ciphertext: bytes) -> bytes:
    """The only decryption this agent does: the password-check entry's few bytes."""
    if not ciphertext or len(ciphertext) % 8:
        raise StoreUnreadable("its password entry is damaged")
    if len(ciphertext) > 64:
        raise StoreUnreadable("its password entry is longer than a password check")
    decryptor = cipher.decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def _pbes2(params: bytes, global_salt: bytes, ciphertext: bytes) -> bytes:
    # PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme ... }
    (kdf, scheme) = _sequence(params, 2)
    kdf_oid, kdf_params = _algorithm(kdf)
    scheme_oid, iv_field = _algorithm(scheme)
    if kdf_oid != _PBKDF2 or scheme_oid != _AES256_CBC:
        raise StoreUnreadable("its password entry uses an algorithm this check does not know")
    # PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount, keyLength, prf }
    fields = _sequence(kdf_params)
    if len(fields) < 2:
        raise StoreUnreadable("its password entry is damaged")
    salt = _octets(fields[0])
    iterations = _integer(fields[1])
    key_length = _integer(fields[2]) if len(fields) > 2 and fields[2][0] == 0x02 else 32
    prf = fields[-1] if fields[-1][0] == 0x30 else None
    if prf is not None and _algorithm(prf)[0] != _HMAC_SHA256:
        raise StoreUnreadable("its password entry uses an algorithm this check does not know")
    if not 1 <= iterations <= MAX_ITERATIONS or key_length != 32:
        raise StoreUnreadable("its password entry asks for more work than NSS does")
    iv = _octets(iv_field)
    # NSS stores the IV's own DER encoding's tail: 14 bytes whose OCTET STRING header
    # (04 0e) is the first two bytes of the 16-byte IV.
    if len(iv) == 14:
        iv = b"\x04\x0e" + iv
    if len(iv) != 16:
        raise StoreUnreadable("its password entry is damaged")
    password = _sha1(global_salt)  # SHA-1(global salt + the empty password)
    key = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, key_length)
    return _decrypt_check_entry(Cipher(algorithms.AES(key), modes.CBC(iv)), ciphertext)


def _sha1(data: bytes) -> bytes:
    # NSS's own derivation, not a choice of ours: it is how the store was written.
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _pbe_params(params: bytes) -> tuple[bytes, int]:
    fields = _sequence(params)
    if len(fields) != 2:
        raise StoreUnreadable("its password entry is damaged")
    return _octets(fields[0]), _integer(fields[1])


def _sha1_3des(global_salt: bytes, entry_salt: bytes, ciphertext: bytes) -> bytes:
    """NSS's PKCS#5-style SHA-1 derivation for 3DES-CBC, with the empty password."""
    if len(entry_salt) > 20:
        raise StoreUnreadable("its password entry is damaged")
    hashed = _sha1(global_salt)
    padded = entry_salt.ljust(20, b"\x00")
    key_hash = _sha1(hashed + entry_salt)
    first = hmac.new(key_hash, padded + entry_salt, "sha1").digest()
    inner = hmac.new(key_hash, padded, "sha1").digest()
    second = hmac.new(key_hash, inner + entry_salt, "sha1").digest()
    derived = first + second
    cipher = Cipher(TripleDES(derived[:24]), modes.CBC(derived[-8:]))
    return _decrypt_check_entry(cipher, ciphertext)


# --- just enough DER --------------------------------------------------------------------


def _element(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, content, end) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise StoreUnreadable("its password entry is damaged")
    tag, first = data[pos], data[pos + 1]
    start = pos + 2
    if first & 0x80:
        size = first & 0x7F
        if not 1 <= size <= 2 or start + size > len(data):
            raise StoreUnreadable("its password entry is damaged")
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    else:
        length = first
    end = start + length
    if end > len(data):
        raise StoreUnreadable("its password entry is damaged")
    return tag, data[start:end], end


def _sequence(data: bytes, expected: int | None = None) -> list[bytes]:
    """The elements (whole, with their headers) inside the SEQUENCE that `data` is."""
    tag, content, _ = _element(data, 0)
    if tag != 0x30:
        raise StoreUnreadable("its password entry is damaged")
    items: list[bytes] = []
    pos = 0
    while pos < len(content) and len(items) < 8:
        _, _, end = _element(content, pos)
        items.append(content[pos:end])
        pos = end
    if expected is not None and len(items) != expected:
        raise StoreUnreadable("its password entry is damaged")
    return items


def _algorithm(data: bytes) -> tuple[bytes, bytes]:
    """(OID, parameters element) of an AlgorithmIdentifier."""
    fields = _sequence(data)
    tag, oid, _ = _element(fields[0], 0) if fields else (0, b"", 0)
    if tag != 0x06:
        raise StoreUnreadable("its password entry is damaged")
    return oid, fields[1] if len(fields) > 1 else b""


def _octets(data: bytes) -> bytes:
    tag, content, _ = _element(data, 0)
    if tag != 0x04:
        raise StoreUnreadable("its password entry is damaged")
    return content


def _integer(data: bytes) -> int:
    tag, content, _ = _element(data, 0)
    if tag != 0x02 or not 1 <= len(content) <= 8:
        raise StoreUnreadable("its password entry is damaged")
    return int.from_bytes(content, "big")


def _encrypted_entry(entry: bytes) -> tuple[tuple[bytes, bytes], bytes]:
    algorithm, ciphertext = _sequence(entry, 2)
    return _algorithm(algorithm), _octets(ciphertext)


# --- just enough Berkeley DB 1.85 hash ------------------------------------------------------

_BDB_HASH_MAGIC = 0x061561


def _bdb_hash_records(data: bytes, wanted: set[bytes]) -> dict[bytes, bytes]:
    """The small records named in `wanted` of a Berkeley DB 1.85 hash file (what NSS's dbm
    writes): every bucket page is read as its list of key and data offsets; records kept on
    overflow pages (large ones) are not followed."""
    header = _bdb_byte_order(data)
    # The header's own fields are in one order; the pages are in the writer's (lorder).
    lorder, page_size = struct.unpack_from(f"{header}2I", data, 8)
    order = {1234: "<", 4321: ">"}.get(lorder, header)
    if page_size not in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
        raise StoreUnreadable("it is not a key database this check knows")
    found: dict[bytes, bytes] = {}
    for start in range(page_size, len(data) - page_size + 1, page_size):
        page = data[start : start + page_size]
        count = struct.unpack_from(f"{order}H", page, 0)[0]
        if count == 0 or count % 2 or 2 + 2 * count > page_size:
            continue
        offsets = struct.unpack_from(f"{order}{count}H", page, 2)
        end = page_size
        for key_at, data_at in zip(offsets[::2], offsets[1::2], strict=True):
            if not data_at < key_at <= end:
                break  # an overflow or big-record page: its layout is another
            key = page[key_at:end]
            if key in wanted:
                found[key] = page[data_at:key_at]
            end = data_at
    return found


def _bdb_byte_order(data: bytes) -> str:
    if len(data) < 16:
        raise StoreUnreadable("it is too short to be a key database")
    for order in (">", "<"):
        if struct.unpack_from(f"{order}I", data, 0)[0] == _BDB_HASH_MAGIC:
            return order
    raise StoreUnreadable("it is not a key database this check knows")
