"""What a notice says: a title of a few words, and a body short enough to read in the corner
of a screen: what and where in one sentence, and the one thing to do.

The words are each check's own (agent/checks/<check>.py): `alert` and `alert_many` its titles,
`alerts` its titles by kind of finding, and each finding's `notice`. This module only puts
them together. The long text (lists, reasons, the why) stays in the finding's message and
advice, which `hygiene status` and the page show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.store import FindingState

# The most a notice's body says, in characters: about three lines of a notification server's
# bubble (dunst, GNOME Shell and macOS show three or four before they cut).
BODY_MOST = 200
# Where a body cannot say what to do in its room, or for several findings at once.
WHAT_TO_DO = "hygiene status"
# A subject named in a list of them: long ones are cut, so that several fit.
SUBJECT_MOST = 60


def title(
    alert: str,
    alert_many: str,
    alerts: Mapping[str, tuple[str, str]],
    findings: Sequence[FindingState],
) -> str:
    """The problem in a few words: the kind's own title when every finding is of that kind
    (`alerts`, by the start of a finding's reason), else the check's."""
    kinds = {kind_of(alerts, f.reason) for f in findings}
    one, many = (alert, alert_many)
    if len(kinds) == 1 and (kind := kinds.pop()) is not None:
        one, many = alerts[kind]
    return one if len(findings) == 1 else many.format(n=len(findings))


def kind_of(alerts: Mapping[str, tuple[str, str]], reason: str) -> str | None:
    """The key of `alerts` a reason is of: itself, or the start of a reason that carries more
    ("idle session since 2026-05-01T09:00")."""
    if reason in alerts:
        return reason
    return next((key for key in alerts if reason.startswith(key + " ")), None)


def body(findings: Sequence[FindingState]) -> str:
    """One finding: its own notice. Several: how many and the first subjects, in one
    sentence, and where to see what to do about each."""
    if len(findings) == 1 and 0 < len(findings[0].notice) <= BODY_MOST:
        return findings[0].notice
    # A finding kept before notices were short (its notice is empty), or one over the room.
    count = ""
    if len(findings) > 1:
        # Fewer places than problems ("3 problems with a and b"), or one each ("2 problems: a
        # and b"): the count never reads as the number of places named.
        shared = len({f.subject for f in findings}) < len(findings)
        count = f"{len(findings)} problems{' with ' if shared else ': '}"
    after = f". For what to do: {WHAT_TO_DO}"
    return sentence(f"{count}{subjects(findings, BODY_MOST - len(count) - len(after))}{after}")


def thanks(findings: Sequence[FindingState]) -> str:
    verb = " is fixed." if len(findings) == 1 else " are fixed."
    return sentence(subjects(findings, BODY_MOST - len(verb)) + verb)


def subjects(findings: Sequence[FindingState], room: int) -> str:
    """The findings' subjects, each once, as many as fit in `room` characters, then "and N
    more"; each cut to SUBJECT_MOST. The first is always named."""
    named = [clip(s, SUBJECT_MOST) for s in dict.fromkeys(f.subject for f in findings)]
    shown = named[:1]
    for subject in named[1:]:
        left = len(named) - len(shown) - 1
        tail = f" and {left} more" if left else ""
        if len(", ".join([*shown, subject]) + tail) > room:
            break
        shown.append(subject)
    more = len(named) - len(shown)
    if more:
        return f"{', '.join(shown)} and {more} more"
    if len(shown) > 1:
        return f"{', '.join(shown[:-1])} and {shown[-1]}"
    return shown[0]


def clip(text: str, most: int) -> str:
    """`text` cut to `most` characters, the cut marked."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def sentence(text: str) -> str:
    """A subject may start in lower case ("screen lock"); a sentence does not."""
    return text[:1].upper() + text[1:]
