"""`python -m agent.credentials`: the scanning child. A JSON request on stdin, a JSON answer
on stdout. It never writes a secret anywhere, not even in an error: a failure is described
by where it happened, not by the exception's text (which can quote the value being read)."""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    try:
        if not _tied_to_parent():
            return 1  # its parent is gone: no one reads the answer, and it holds no secret yet
        # Inside the guard: even an import failing must not print a traceback.
        from agent.credentials.families import FAMILIES  # noqa: PLC0415
        from agent.credentials.scan import scan, warm_up  # noqa: PLC0415

        if _idle(sys.stdin.fileno()):
            warm_up(FAMILIES)
        request = json.load(sys.stdin)
        answer = scan(request, FAMILIES, os.environ)
        json.dump(answer, sys.stdout)
    except BaseException as err:  # noqa: BLE001 - nothing but a located error may leave
        # Here, not at the top: these are for a failure only, off the start-up every scan pays.
        import traceback  # noqa: PLC0415
        from pathlib import Path  # noqa: PLC0415

        frames = traceback.extract_tb(err.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        json.dump({"error": f"{type(err).__name__}{where}"}, sys.stdout)
        return 1
    return 0


def _idle(fd: int) -> bool:
    """No request has come yet: the parent started this child early (agent.checks.credentials,
    start_early). An agent's child gets its request at once and loads only what it needs."""
    if sys.platform == "win32":  # select takes sockets only there
        return False
    import select  # noqa: PLC0415

    return not select.select([fd], [], [], 0)[0]


def _tied_to_parent() -> bool:
    """On Linux, ask to be killed when the process that started this one ends (a stopped or
    killed agent must not leave a child holding secrets); then whether that parent is still
    there, as it may have ended before the request was made."""
    from agent.children import die_with_parent  # noqa: PLC0415
    from agent.credentials import PARENT_ENV  # noqa: PLC0415

    die_with_parent()
    parent = os.environ.get(PARENT_ENV, "")
    return not parent.isdigit() or os.getppid() == int(parent)


if __name__ == "__main__":
    status = main()
    try:
        sys.stdout.flush()
    except OSError:  # no one reads the answer any more
        status = 1
    # The answer is out and nothing is left to do: end without the interpreter's teardown,
    # which frees every object and module one by one (about 4 ms of each scan's start-up,
    # bench/scanner_start.py); the system frees the memory, what was read with it.
    os._exit(status)
