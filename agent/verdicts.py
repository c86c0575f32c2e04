"""How serious a problem is and how a check came out: words the store keeps and every
report shows. Plain enums, no pydantic: the commands that only read the store use them."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Severity(StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


# How insistently a notification asks for attention (the freedesktop urgency levels).
Urgency = Literal["low", "normal", "critical"]


class Status(StrEnum):
    passed = "pass"
    fail = "fail"
    error = "error"
    skip = "skip"
