"""One agent per user: a lock file in the state dir that the kernel lets go of when we die.

The lock is an advisory lock on the open file (flock on POSIX, a byte-range lock on
Windows), not the file's existence, so an agent that crashed or was killed leaves nothing
stuck. The file holds the holder's process id, only so the refusal can name it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from agent.errors import AgentError
from agent.files import ensure_private_dir, unusable_state_folder

LOCK_FILE = "agent.lock"


# A FIFO put where the lock goes must not hold `run` or `status` waiting for a writer; a
# symbolic link put there must not have its target truncated and written.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)


class AlreadyRunning(AgentError):
    def __init__(self, pid: int | None, path: Path) -> None:
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"an agent is already running for this user ({who}, holding {path}); "
            "stop it first, or use `hygiene status` to read what it found"
        )


class InstanceLock:
    """Held for the life of `hygiene run`; `acquire` raises AlreadyRunning when taken."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        try:
            ensure_private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _NONBLOCK, 0o600)
        except OSError as err:
            if self.path.is_symlink():
                raise AgentError(
                    f"The lock file {self.path} is a symbolic link; remove it and the agent "
                    "makes its own."
                ) from None
            raise AgentError(unusable_state_folder(self.path.parent, err)) from None
        if not _try_lock(fd):
            os.close(fd)
            raise AlreadyRunning(running_agent(self.path.parent), self.path)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # a full disk: the lock holds all the same, only the pid is not shown
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        # Empty it first: a pid left behind would be read as "running" by nothing, but
        # it would confuse a person who looks.
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def running_agent(state_dir: Path) -> int | None:
    """The process id of the agent holding the lock, or None when no agent runs."""
    path = state_dir / LOCK_FILE
    try:
        fd = os.open(path, (os.O_RDONLY if os.name == "posix" else os.O_RDWR) | _NONBLOCK)
    except OSError:
        return None
    try:
        if _try_lock(fd, shared=True):
            _unlock(fd)
            return None
        try:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
        except OSError:  # Windows refuses reads of a locked byte range.
            text = ""
        return int(text) if text.isdigit() else 0
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int, *, shared: bool = False) -> bool:
        del shared  # Windows has no shared byte-range lock through msvcrt.
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int, *, shared: bool = False) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive(path: Path, timeout: float = 5.0) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (made 0600 if missing) for the block; wait
    for it at most `timeout` seconds. Raises OSError (TimeoutError when it stays held)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} stayed locked for {timeout:g} s")
            time.sleep(0.01)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
