"""`python -m agent.credentials`: the scanning child. A JSON request on stdin, a JSON answer
on stdout. It never writes a secret anywhere, not even in an error: a failure is described
by where it happened, not by the exception's text (which can quote the value being read)."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def main() -> int:
    try:
        # Inside the guard: even an import failing must not print a traceback.
        from agent.credentials.families import FAMILIES  # noqa: PLC0415
        from agent.credentials.scan import scan  # noqa: PLC0415

        request = json.load(sys.stdin)
        answer = scan(request, FAMILIES, os.environ)
        json.dump(answer, sys.stdout)
    except BaseException as err:  # noqa: BLE001 - nothing but a located error may leave
        frames = traceback.extract_tb(err.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        json.dump({"error": f"{type(err).__name__}{where}"}, sys.stdout)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
