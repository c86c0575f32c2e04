"""What every check is: its metadata as class attributes, its settings as a pydantic model."""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from agent.durations import Duration, format_duration
from agent.fingerprint import Fingerprinter
from agent.models import EvidenceValue, Finding, Severity
from agent.paths import Paths


def _home_relative(path: str) -> str:
    if path.startswith("~") and path != "~" and not path.startswith("~/"):
        raise ValueError(f"only ~/ is understood, not another user's ~, got {path!r}")
    return path


# A path in a policy: ~/ and relative paths start at the home directory.
HomePath = Annotated[str, AfterValidator(_home_relative)]


class CheckParams(BaseModel):
    """Settings every check takes. A check's own settings model extends this one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, strict=True, description="Run this check at all.")
    severity: Severity | None = Field(
        default=None, description="Override how serious a failure of this check is."
    )
    every: Duration = Field(
        default=timedelta(hours=1), description="How often the background agent runs it."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=10),
        description="A run that takes longer is reported as an error and the others go on.",
    )
    advice: str | None = Field(
        default=None,
        max_length=1000,
        description="What to tell the person about this check; replaces the built-in advice.",
    )

    @field_validator("every")
    @classmethod
    def _not_constantly(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError(f"a check runs at most every 1s, got {format_duration(value)!r}")
        return value

    @field_validator("timeout")
    @classmethod
    def _some_time(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError(f"a check needs at least 1s, got {format_duration(value)!r}")
        return value


@dataclass(frozen=True)
class CheckContext:
    """What a check may use: where things are, and how to name a finding without its content."""

    paths: Paths
    fingerprint: Fingerprinter
    # The agent's own environment: which display and session bus the person's desktop uses.
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Where a check may keep what it saw between runs (the store's scan cache); None when
    # nothing is to be remembered (`hygiene check`).
    store_dir: Path | None = None


P = TypeVar("P", bound=CheckParams)


class Check(ABC, Generic[P]):
    id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[Severity]
    rationale: ClassVar[str]
    advice: ClassVar[str]
    reads: ClassVar[tuple[str, ...]]
    keeps: ClassVar[str]
    alert: ClassVar[str]  # a notification's title for one finding
    alert_many: ClassVar[str]  # ... and for several; "{n}" is their number
    thanks_when_fixed: ClassVar[bool] = True  # a "Fixed, thank you" when a told one goes
    Params: ClassVar[type[CheckParams]] = CheckParams

    def __init__(self, params: P) -> None:
        self.params = params
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        """Record something the check could not look at; shown beside its result."""
        self.notes.append(text)

    @classmethod
    def explanation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @abstractmethod
    def run(self, ctx: CheckContext) -> list[Finding]:
        """Return the problems found; raise CheckSkipped when the check does not apply here."""

    def finding(
        self,
        ctx: CheckContext,
        subject: str,
        reason: str,
        message: str,
        advice: str,
        **evidence: EvidenceValue,
    ) -> Finding:
        """A finding whose id depends on what is wrong and where, never on line numbers."""
        return Finding(
            id=ctx.fingerprint(self.id, subject, reason),
            subject=subject,
            message=message,
            advice=advice,
            evidence={"reason": reason, **evidence},
        )
