"""Text from the machine (file names, login records) made safe to show a person."""

from __future__ import annotations


def printable(text: str) -> str:
    """Control characters escaped: a file name must not move the cursor or forge a line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
