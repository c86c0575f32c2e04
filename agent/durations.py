"""Durations as people write them in policies: "30s", "15m", "4h", "7d"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(-?)([0-9]{1,9})\s*([smhd])\s*$", re.ASCII)
EXPECTED = 'a duration such as "30s", "15m", "4h" or "7d"'
LONGEST = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"expected {EXPECTED}, got {text!r}")
    sign, number, unit = match.groups()
    if sign:
        raise ValueError(f"a duration cannot be negative, got {text!r}")
    seconds = int(number) * _UNITS[unit]
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"a duration can be at most 3650d (ten years), got {text!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _validate(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        if not timedelta(0) <= value <= LONGEST:
            raise ValueError("a duration must be between 0s and 3650d")
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"expected {EXPECTED}, got {value!r}")


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+[smhd]$", "examples": ["30s", "15m"]}),
]
