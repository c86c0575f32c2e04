"""Reading small files without side effects, writing files whole, and the private
folders they are kept in.

Reading: nothing but regular files is ever opened. Opening a device can act (a watchdog
arms, a tape rewinds) and a FIFO blocks forever, so the type is checked before the open and
again on the open descriptor.

Writing: a temporary file in the same folder, its mode set on the descriptor (whatever the
umask), flushed to disk, then renamed over the target, so that a reader (osquery,
node_exporter, the next start of the agent) sees the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from typing import Any

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


class NotRegularFile(OSError):
    """A device, FIFO or socket where a file was expected."""


class FileTooLarge(OSError):
    """A file larger than the reader accepts."""


def read_small_file(path: Path, limit: int) -> bytes:
    """The contents of a regular file of at most `limit` bytes."""
    _require_regular(path.stat(), path, limit)
    fd = os.open(path, _FLAGS | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        # The file may have been swapped between the stat and the open.
        _require_regular(os.fstat(handle.fileno()), path, limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data


def read_file_head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a regular file, however long it is."""
    info = path.stat()
    _require_regular(info, path, info.st_size)
    fd = os.open(path, _FLAGS | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        _require_regular(info, path, info.st_size)
        return handle.read(size)


def json_value(data: bytes | str) -> Any:
    """A state file's JSON; ValueError when it is not JSON, also when it nests deeper than
    Python's parser goes (a RecursionError otherwise, a traceback for the person)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _require_regular(info: os.stat_result, path: Path, limit: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
    if info.st_size > limit:
        raise FileTooLarge(errno.EFBIG, f"larger than {limit} bytes", str(path))


def write_whole(path: Path, data: bytes, mode: int, *, exclusive: bool = False) -> None:
    """Replace `path` with `data`, created with `mode`; raises OSError, leaving no temporary.

    `exclusive`: publish only when `path` does not exist yet (FileExistsError otherwise),
    by a hard link of the complete temporary: of several processes racing, exactly one
    publishes and the others read what it wrote."""
    # Here, not at the top: the credentials scanner reads with this module and writes
    # nothing, and tempfile (with shutil, random, bz2, lzma) is a tenth of its start-up.
    import tempfile  # noqa: PLC0415

    # Named .NAME.*.tmp: never matched by a reader's pattern (*.prom, *.yaml).
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if sys.platform != "win32":
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(temporary, path)
            temporary.unlink()
        else:
            temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def set_aside(path: Path, kind: str, companions: Sequence[str] = ()) -> Path:
    """Rename a damaged `path` to NAME.<kind>-<UTC time> (never over an earlier one), with
    each companion (NAME + suffix, such as a WAL) first; raises OSError."""
    from datetime import UTC, datetime  # noqa: PLC0415 - as tempfile above

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = f"{path.name}.{kind}-{stamp}"
    aside = path.with_name(base)
    n = 1
    while any(
        p.exists() or p.is_symlink()
        for p in [aside, *(aside.with_name(aside.name + s) for s in companions)]
    ):
        n += 1
        aside = path.with_name(f"{base}-{n}")
    for suffix in companions:
        side = path.with_name(path.name + suffix)
        if side.exists() or side.is_symlink():
            side.rename(aside.with_name(aside.name + suffix))
    path.rename(aside)
    return aside


def unusable_state_folder(folder: Path, err: OSError) -> str:
    """The sentence for a state folder ensure_private_dir could not make or use."""
    reason = (err.strerror or str(err)).rstrip(".").lower()
    return f"The state folder {folder} cannot be created or used: {reason}."


def ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        path.chmod(0o700)
