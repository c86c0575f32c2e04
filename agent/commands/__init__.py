"""What each `hygiene` command does, one module per kind of command. agent.cli imports a
module only once it knows the command, so each command loads only what it needs: the
commands that read the store (`state`) load no check, no policy model and no pydantic.

Here: what every command's output shares, and nothing that costs an import.
"""

from __future__ import annotations

import json
import shutil
import sys

EXIT_OK, EXIT_FAILING, EXIT_USAGE = 0, 1, 2


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def width() -> int:
    return shutil.get_terminal_size((100, 24)).columns
