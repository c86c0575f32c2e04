"""What every check is: its metadata as class attributes, its settings as a pydantic model."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agent.durations import Duration
from agent.fingerprint import Fingerprinter
from agent.models import EvidenceValue, Finding, Severity
from agent.paths import Paths


class CheckParams(BaseModel):
    """Settings every check takes. A check's own settings model extends this one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run this check at all.")
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
        description="What to tell the person about this check; replaces the built-in advice.",
    )


@dataclass(frozen=True)
class CheckContext:
    """What a check may use: where things are, and how to name a finding without its content."""

    paths: Paths
    fingerprint: Fingerprinter


P = TypeVar("P", bound=CheckParams)


class Check(ABC, Generic[P]):
    id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[Severity]
    rationale: ClassVar[str]
    advice: ClassVar[str]
    reads: ClassVar[tuple[str, ...]]
    keeps: ClassVar[str]
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
