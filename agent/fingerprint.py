"""Keyed fingerprints: stable ids for findings and network identities that reveal nothing.

A plain hash of a short value (a 4-digit PIN, an SSID) is reversed by trying every
candidate; an HMAC under a random key that never leaves this machine is not.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import logging
import os
import secrets
import time
from pathlib import Path

from agent.files import FileTooLarge, ensure_private_dir, read_small_file, write_whole

log = logging.getLogger(__name__)

KEY_FILE = "install.key"
KEY_BYTES = 32
# Reads and publishes tried before giving up on a key that keeps changing under us.
_ATTEMPTS = 5


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

    def __repr__(self) -> str:
        return f"Fingerprinter(persistent={self.persistent})"


def _load_or_create_key(state_dir: Path) -> bytes:
    """The install key: read when it is there, else made and published whole.

    It is published by a hard link of a complete, flushed temporary (files.write_whole,
    exclusive), so a crash at any moment leaves no key or the whole key, and of processes
    racing to make it exactly one succeeds and the others read its key. A key of the wrong
    size (left by an older version's crash) is replaced, with one warning.
    """
    ensure_private_dir(state_dir)
    path = state_dir / KEY_FILE
    for _ in range(_ATTEMPTS):
        try:
            seen = path.stat()
            key = read_small_file(path, KEY_BYTES)
        except FileNotFoundError:
            key = None
        except FileTooLarge:
            key = b"-" * (KEY_BYTES + 1)
        if key is not None and len(key) == KEY_BYTES:
            if os.name == "posix" and path.stat().st_mode & 0o077:
                path.chmod(0o600)
            return key
        if key is not None:
            if not _unchanged(path, seen):
                continue  # another process has just replaced it: read theirs
            log.warning(
                "the install key %s was damaged (not %d bytes) and is replaced; finding ids "
                "will change once, so past findings may be told again",
                path,
                KEY_BYTES,
            )
            path.unlink(missing_ok=True)
        try:
            key = secrets.token_bytes(KEY_BYTES)
            write_whole(path, key, 0o600, exclusive=True)
        except FileExistsError:
            continue  # another process published first; both use that one
        _remove_stale_temporaries(state_dir)
        return key
    raise OSError(errno.EAGAIN, "the install key kept changing while it was read")


def _unchanged(path: Path, seen: os.stat_result) -> bool:
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    return (now.st_ino, now.st_size, now.st_mtime_ns) == (
        seen.st_ino,
        seen.st_size,
        seen.st_mtime_ns,
    )


def _remove_stale_temporaries(state_dir: Path) -> None:
    """Temporaries of a process killed while it made the key (they never became the key).
    A minute old at least: a younger one may be another process's, about to be linked."""
    stale = time.time() - 60
    for leftover in state_dir.glob(f".{KEY_FILE}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.lstat().st_mtime < stale:
                leftover.unlink()
