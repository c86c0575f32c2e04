"""The agent's child processes, the file scanner and the policy reader: how the agent starts
one (`start`), and how each ends with the agent (`die_with_parent`, Linux's
PR_SET_PDEATHSIG), so that an agent stopped or killed at any moment leaves neither behind.
Imports nothing at the top: the scanner imports this module, and its start-up stays lean."""

from __future__ import annotations

import sys
from collections.abc import Mapping

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    import subprocess

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def start(module: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """`python -I -m MODULE` with pipes to its stdin and stdout; its stderr is never shown
    (the scanner's could carry a value). -I: the child imports only the installed agent,
    nothing from the working folder."""
    import subprocess  # noqa: PLC0415

    return subprocess.Popen(
        [sys.executable, "-I", "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(env),
    )


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the thread that started it ends."""
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415
        import signal  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
