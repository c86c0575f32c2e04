"""A child process that ends with the process that started it (Linux: PR_SET_PDEATHSIG),
so that an agent stopped or killed at any moment leaves neither its file scanner nor its
policy reader behind. Imports nothing at the top: the scanner's start-up stays lean."""

from __future__ import annotations

import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the thread that started it ends."""
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415
        import signal  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
