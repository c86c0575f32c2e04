"""Where advice quotes a command (`ssh-keygen -p -f ~/.ssh/id_rsa`, `hygiene network trust
--label NAME`): found once here, so that a terminal line never breaks one apart and the page
marks each to be copied whole. Plain text in, spans out; nothing else is imported."""

from __future__ import annotations

import re

# Programs whose names start the commands the checks' advice quotes; a name that is also an
# everyday word (kill, defaults, reg) is left out, so that prose is never taken for a command.
PROGRAMS = (
    "chmod",
    "chown",
    "git",
    "sudo",
    "ssh-keygen",
    "hygiene",
    "gsettings",
    "kwriteconfig5",
    "xfconf-query",
    "xset",
    "xautolock",
    "xss-lock",
    "swayidle",
    "fscrypt",
    "systemctl",
    "loginctl",
    "pkill",
    "sysadminctl",
    "pmset",
    "fdesetup",
    "powercfg",
    "manage-bde",
    "nmcli",
)
# A command starts a clause: the first word, or after "Run: ", "(", "; ", "with ", "then ".
_START = re.compile(
    r"(?:^|(?<=: )|(?<=\()|(?<=; )|(?<=with )|(?<=run )|(?<=then ))(?:"
    + "|".join(map(re.escape, PROGRAMS))
    + r") "
)
# Where a command ends, outside its quotes: the sentence or clause around it goes on.
_ENDS = ("; ", ")", " (", ", ", ". ", " or ", " then ", " and ")
_BACKTICKS = re.compile(r"`[^`\n]+`")  # written as code: `w`, `hygiene status`


def commands(text: str) -> list[tuple[int, int]]:
    """The [start, end) spans of the commands `text` quotes, in order, none overlapping:
    those in backticks (the backticks included) and those that start with a known program."""
    spans = [m.span() for m in _BACKTICKS.finditer(text)]
    for start in _START.finditer(text):
        end = _end(text, start.end())
        command = text[start.start() : end].rstrip()
        if len(command.split()) >= 2:
            spans.append((start.start(), start.start() + len(command)))
    spans.sort()
    kept: list[tuple[int, int]] = []
    for span in spans:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def _end(text: str, start: int) -> int:
    quote = ""
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif text.startswith(_ENDS, i) or (c in ".;" and i == len(text) - 1):
            return i
    return len(text)
