"""How values are written to the store's columns and read back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from agent.files import json_value


def ts(moment: datetime) -> str:
    """ISO-8601 UTC text of one fixed width, so text order is time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the store keeps timezone-aware times only, not {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


LATEST_YEAR = 9000  # a time after it is damage: adding a day to it could overflow


def parse(text: object) -> datetime:
    moment = datetime.fromisoformat(str(text)).astimezone(UTC)
    if moment.year >= LATEST_YEAR:
        raise ValueError(f"a time in the year {moment.year}")
    return moment


def parse_optional(text: object) -> datetime | None:
    return None if text is None else parse(text)


def text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


T = TypeVar("T")
Row = tuple[object, ...]
# What reading a damaged value raises: a time that is no time (or out of range), a number
# or a name (a severity, a status) that is none.
DAMAGED = (ValueError, TypeError, OverflowError)


def readable(rows: Iterable[Row], convert: Callable[[Row], T]) -> list[T]:
    """Each row as `convert` reads it, leaving out one that is damaged: the rest still
    shows, and the agent goes on (it writes such a row afresh where it rewrites it)."""
    out = []
    for row in rows:
        try:
            out.append(convert(row))
        except DAMAGED:
            continue
    return out


def readable_one(row: Row | None, convert: Callable[[Row], T]) -> T | None:
    return None if row is None else next(iter(readable([row], convert)), None)


def finding_ids(text: object) -> tuple[str, ...]:
    """A row's JSON list of finding ids; a damaged one is read as none (the row still shows;
    only the findings it named are lost)."""
    try:
        found = json_value(str(text))
    except ValueError:
        return ()
    return tuple(str(i) for i in found) if isinstance(found, list) else ()


def signed(value: int | None) -> int | None:
    # SQLite integers are signed 64-bit; some file systems use all 64 bits of an inode number.
    if value is not None and value >= 1 << 63:
        return value - (1 << 64)
    return value


def unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value
