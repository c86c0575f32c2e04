"""Writes Telegram Desktop key_datas files in tdesktop's format, for the app_sessions tests.

The format is the one Telegram Desktop writes (storage_domain.cpp writeAccounts, and
storage/details/storage_file_utilities.cpp FileWriteDescriptor, PrepareEncrypted,
CreateLocalKey), described in agent/probes/app_sessions.py; this writer was made from that
description, not from Telegram's code. Salt, local key and padding come from a seeded
generator, so the files are the same each time:

    python -m tests.data.app_sessions.make_key_datas      # rewrites the files beside it

key_datas-no-passcode: as Telegram writes it before a passcode is set (the empty passcode).
key_datas-passcode: after "Local passcode" was set to PASSCODE below.
The local key starts with LOCAL_KEY_CANARY, which no output of the agent may contain.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from agent.probes.app_sessions import _aes_key_iv, _passcode_key

PASSCODE = b"correct horse"
LOCAL_KEY_CANARY = b"TDATA-CANARY-LOCAL-KEY-7d1f"
VERSION = 4006005  # Telegram Desktop 4.6.5, Debian's
HERE = Path(__file__).parent


def _array(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _ige_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
    previous_cipher, previous_plain = iv[:16], iv[16:32]
    out = b""
    for start in range(0, len(data), 16):
        block = data[start : start + 16]
        mixed = bytes(x ^ y for x, y in zip(block, previous_cipher, strict=True))
        cipher = bytes(x ^ y for x, y in zip(encryptor.update(mixed), previous_plain, strict=True))
        out += cipher
        previous_cipher, previous_plain = cipher, block
    return out


def _encrypted(payload: bytes, key: bytes, rng: random.Random) -> bytes:
    """PrepareEncrypted: [uint32 size][payload][random padding to 16], then a 16-byte check
    (SHA1 of that) and the AES-IGE of it."""
    size = 4 + len(payload)
    full = size + (-size % 16)
    plain = size.to_bytes(4, "little") + payload + rng.randbytes(full - size)
    check = hashlib.sha1(plain, usedforsecurity=False).digest()[:16]
    aes_key, aes_iv = _aes_key_iv(key, check)
    return check + _ige_encrypt(plain, aes_key, aes_iv)


def key_datas(passcode: bytes, seed: int) -> bytes:
    rng = random.Random(seed)  # noqa: S311 - the same test files every time, on purpose
    local_key = LOCAL_KEY_CANARY + rng.randbytes(256 - len(LOCAL_KEY_CANARY))
    salt = rng.randbytes(32)
    key_block = _encrypted(local_key, _passcode_key(salt, passcode), rng)
    # The accounts' list: count 1, index 0, active 0 (QDataStream: big-endian int32).
    info = b"".join(n.to_bytes(4, "big") for n in (1, 0, 0))
    info_block = _encrypted(info, _key_of(local_key), rng)
    body = _array(salt) + _array(key_block) + _array(info_block)
    version = VERSION.to_bytes(4, "little")
    md5 = hashlib.md5(usedforsecurity=False)
    md5.update(body + len(body).to_bytes(4, "little") + version + b"TDF$")
    return b"TDF$" + version + body + md5.digest()


def _key_of(local_key: bytes) -> bytes:
    return local_key  # the local key is used as it is (an AuthKey of 256 bytes)


def write() -> None:
    (HERE / "key_datas-no-passcode").write_bytes(key_datas(b"", seed=1))
    (HERE / "key_datas-passcode").write_bytes(key_datas(PASSCODE, seed=2))


if __name__ == "__main__":
    write()
