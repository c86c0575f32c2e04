"""Text from outside made safe to show: on a terminal, in a log line, a notification, a report.

Outside text is anything the agent did not write itself: file names, login records,
settings, policy files (names, advice, unknown keys), network labels, what a server said.
Shown raw, an escape sequence in it can clear the screen, set the window title or forge a
line, and a bidirectional override can make "admin\u202eyenom" read as "adminmoney".
`printable` is the one function that stops that; each place that shows text (a sink) calls
it once on what it shows.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def shown_path(path: Path, home: Path) -> str:
    """A path as a person reads it: ~/.ssh/id_rsa rather than /home/ann/.ssh/id_rsa, with
    control characters escaped (a file name must not move the cursor or forge a line)."""
    try:
        inside = path.relative_to(home).as_posix()
        text = "~" if inside == "." else "~/" + inside
    except ValueError:
        text = str(path)
    return printable(text)


def printable(text: str, *, lines: bool = False) -> str:
    r"""`text` with every character that is not printable shown as its Python escape.

    That is: C0 controls (ESC, CR, BEL, newline, tab: \x1b, \r, ...), DEL and the C1
    controls (\x9b is a one-byte CSI to some terminals), the bidirectional embeddings,
    overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F,
    U+061C), and the rest of Unicode's format characters, separators other than the space,
    lone surrogates (undecodable bytes of a file name) and unassigned code points. The marks
    are escaped too: invisible, they can still reorder what follows them, and no text the
    agent shows needs them. Kept as they are: the zero-width joiner and non-joiner (U+200D,
    U+200C), which join emoji (a woman and a laptop make one "technologist") and shape
    Persian and Indic words, and move nothing. The result is idempotent: escaping twice
    changes nothing more.

    `lines`: newlines are kept (text the agent laid out on several lines itself, such as a
    notification's body); every other character is escaped as above.
    """
    if text.isprintable():
        return text
    kept = _JOINERS | {"\n"} if lines else _JOINERS
    return "".join(
        c if c.isprintable() or c in kept else c.encode("unicode_escape").decode() for c in text
    )


_JOINERS = frozenset("\u200c\u200d")
# Stands for a space inside a command while a line is wrapped: textwrap breaks only at its
# own whitespace, which this private-use character is not.
_GLUE = "\ue000"


def wrap(
    text: str, width: int, *, initial_indent: str = "", subsequent_indent: str = ""
) -> list[str]:
    """`text` in lines of at most `width`, broken only at spaces and never inside a command
    it quotes (agent.quoted): a command, a path or a hyphenated word (ssh-keygen,
    /etc/NetworkManager/system-connections/...) stays whole to be pasted, and one longer
    than the line overflows it rather than being cut."""
    from agent.quoted import commands  # noqa: PLC0415 - only where text is laid out

    glued = list(text)
    for start, end in commands(text):
        for i in range(start, end):
            if glued[i] == " ":
                glued[i] = _GLUE
    lines = textwrap.wrap(
        "".join(glued),
        width,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_on_hyphens=False,
        break_long_words=False,
    )
    return [line.replace(_GLUE, " ") for line in lines]
