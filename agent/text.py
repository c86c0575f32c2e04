"""Text from the machine (file names, login records) made safe to show a person."""

from __future__ import annotations

from pathlib import Path


def shown_path(path: Path, home: Path) -> str:
    """A path as a person reads it: ~/.ssh/id_rsa rather than /home/ann/.ssh/id_rsa, with
    control characters escaped (a file name must not move the cursor or forge a line)."""
    try:
        text = "~/" + path.relative_to(home).as_posix()
    except ValueError:
        text = str(path)
    return printable(text)


def printable(text: str) -> str:
    """Control characters escaped: a file name must not move the cursor or forge a line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
