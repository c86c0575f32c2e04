"""Opening a file with the person's default handler: the page in their browser, the details
of a notice. One way for the agent and for `hygiene page`."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path


def opener_name(platform: str) -> str:
    if platform == "win32":
        return "os.startfile"
    return "open" if platform == "darwin" else "xdg-open"


def open_with_default(
    path: Path, platform: str, *, anchor: str = ""
) -> subprocess.Popen[bytes] | None:
    """Hand `path` to the default handler (xdg-open, open, or os.startfile on Windows) and
    return at once: the started opener (reap it with poll()), or None where the system opens
    it itself. Raises OSError when there is no opener or it cannot be started.

    `anchor`: open the page at that element, as a file:// URL with a fragment (a browser
    then scrolls to it); Windows opens the file itself, at its top."""
    target = path.absolute().as_uri() + f"#{anchor}" if anchor else str(path)
    if platform == "win32":
        startfile: Callable[[str], None] | None = getattr(os, "startfile", None)
        if startfile is None:
            raise OSError(errno.ENOENT, "os.startfile is missing")
        startfile(str(path))
        return None
    return subprocess.Popen(
        [opener_name(platform), target],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
