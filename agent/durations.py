"""Durations as people write them in policies: "30s", "15m", "4h", "7d".

No pydantic here: the commands that only read the store say durations too. The policy
field type built on these is `agent.checks.base.Duration`.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# More digits than any duration needs are still read as one, to be refused as too long.
_PATTERN = re.compile(r"^\s*(-?)([0-9]{1,40})\s*([smhd])\s*$", re.ASCII)
EXPECTED = 'a duration such as "30s", "15m", "4h" or "7d"'
LONGEST = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"expected {EXPECTED}, got {_quoted(text)}")
    sign, number, unit = match.groups()
    if sign:
        raise ValueError(f"a duration cannot be negative, got {_quoted(text)}")
    seconds = int(number) * _UNITS[unit]
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"a duration can be at most 3650d (ten years), got {_quoted(text)}")
    return timedelta(seconds=seconds)


def duration_setting(value: object) -> timedelta:
    """A duration as a policy gives it: text to parse, or a timedelta already made."""
    if isinstance(value, timedelta):
        if not timedelta(0) <= value <= LONGEST:
            raise ValueError("a duration must be between 0s and 3650d")
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"expected {EXPECTED}, got {_quoted(value)}")


def _quoted(value: object) -> str:
    """What was written, as much of it as a sentence needs."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def spoken(value: timedelta) -> str:
    """A setting's duration as a person says it, exactly: "30 seconds", "5 minutes",
    "5 min 5 s", "2 hours"."""
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    if seconds % 60:
        return f"{seconds // 60} min {seconds % 60} s"
    amount, unit = (seconds // 3600, "hour") if seconds % 3600 == 0 else (seconds // 60, "minute")
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def roughly(value: timedelta) -> str:
    """A duration as a person says it: "7 minutes", "45 minutes", "2 hours", "9 days".

    Coarse on purpose: a finding's message holds it, and a message that changed every
    minute would be a new event in the history every minute.
    """
    minutes = int(value.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        amount, unit = (minutes if minutes < 10 else minutes // 5 * 5), "minute"
    elif minutes < 24 * 60:
        amount, unit = minutes // 60, "hour"
    else:
        amount, unit = minutes // (24 * 60), "day"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"
