"""Keyed fingerprints: stable ids for findings and network identities that reveal nothing.

A plain hash of a short value (a 4-digit PIN, an SSID) is reversed by trying every
candidate; an HMAC under a random key that never leaves this machine is not.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from agent.files import read_small_file

log = logging.getLogger(__name__)

KEY_FILE = "install.key"
KEY_BYTES = 32


class Fingerprinter:
    def __init__(self, key: bytes, *, persistent: bool = True) -> None:
        self._key = key
        self.persistent = persistent

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> Fingerprinter:
        """Load the install key, creating it (0600, in a 0700 folder) on first use.

        When it cannot be kept (read-only home, full disk) the run still works with a
        key for this run only; finding ids then change from one run to the next.
        """
        try:
            return cls(_load_or_create_key(state_dir))
        except OSError as err:
            reason = err.strerror or str(err)
            log.warning(
                "cannot keep the install key in %s (%s); finding ids will differ between runs",
                state_dir,
                reason.lower(),
            )
            return cls(secrets.token_bytes(KEY_BYTES), persistent=False)

    def __call__(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def slow(self, *parts: str, salt: bytes) -> str:
        """Like calling it, but deliberately slow (PBKDF2, 5,000 rounds, about 2 ms) and
        salted: for values a guesser could try one by one (a weak password)."""
        message = "\x1f".join(parts).encode()
        slowed = hashlib.pbkdf2_hmac("sha256", message, self._key + salt, 5000)
        return slowed.hex()[:32]

    def derived(self, purpose: str) -> bytes:
        """A key for `purpose` alone, made from the install key, which itself is never handed
        out (the credential scan gets one for its child process)."""
        return hmac.new(self._key, b"derived key\x1f" + purpose.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"Fingerprinter(persistent={self.persistent})"


def unusable_state_folder(folder: Path, err: OSError) -> str:
    """The sentence for a state folder ensure_private_dir could not make or use."""
    reason = (err.strerror or str(err)).rstrip(".").lower()
    return f"The state folder {folder} cannot be created or used: {reason}."


def ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _load_or_create_key(state_dir: Path) -> bytes:
    ensure_private_dir(state_dir)
    path = state_dir / KEY_FILE
    try:
        key = read_small_file(path, KEY_BYTES * 2)
    except FileNotFoundError:
        key = b""
    if len(key) == KEY_BYTES:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return key
    if key:
        # A truncated key (a crash mid-write, a full disk) is replaced; its ids were unusable.
        path.unlink()
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it first; use theirs so both agree.
        return _load_or_create_key(state_dir)
    try:
        written = os.write(fd, key)
        os.fsync(fd)
    except OSError:
        written = -1
    finally:
        os.close(fd)
    if written != KEY_BYTES:
        path.unlink(missing_ok=True)
        raise OSError(errno.ENOSPC, "no space left to write the install key")
    return key
