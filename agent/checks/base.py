"""What every check is: its metadata as class attributes, its settings as a pydantic model."""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, ClassVar, Generic, Protocol, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from agent.durations import duration_setting, format_duration
from agent.fingerprint import Fingerprinter
from agent.models import EvidenceValue, Finding, Severity
from agent.paths import Paths

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agent.store import CachedPath, TrustedNetwork


def _home_relative(path: str) -> str:
    if path.startswith("~") and path != "~" and not path.startswith("~/"):
        raise ValueError(f"only ~/ is understood, not another user's ~, got {path!r}")
    return path


# A path in a policy: ~/ and relative paths start at the home directory.
HomePath = Annotated[str, AfterValidator(_home_relative)]

# A duration in a policy: "30s", "15m", "4h", "7d", written back the same way.
Duration = Annotated[
    timedelta,
    BeforeValidator(duration_setting),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+[smhd]$", "examples": ["30s", "15m"]}),
]


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


class CheckStore(Protocol):
    """What a check may read from and keep in the agent's store.

    It is the agent's one connection (agent.store.Store), shared by every check: each call
    takes the store's lock, so a check calls it from its own thread and needs nothing more.
    A check never opens the store itself: a second connection in the agent, opened and
    closed beside the first, is how the agent once lost its database (agent/store/database.py).
    Each call raises StoreError (one sentence) when the store refuses.
    """

    def scan_cache(self, scanner: str, version: str) -> list[CachedPath]: ...

    def keep_scan_cache(
        self,
        scanner: str,
        version: str,
        paths: Sequence[CachedPath],
        previous: Sequence[CachedPath] = (),
    ) -> None: ...

    def trusted_networks(self) -> list[TrustedNetwork]: ...


@dataclass(frozen=True)
class CheckContext:
    """What a check may use: where things are, and how to name a finding without its content."""

    paths: Paths
    fingerprint: Fingerprinter
    # The agent's own environment: which display and session bus the person's desktop uses.
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # The agent's store, shared by its checks (CheckStore); None when nothing is to be
    # remembered (`hygiene check`, which reads what it needs read-only, see agent.trust).
    store: CheckStore | None = None


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

    def cancel(self) -> None:
        """Called from another thread when the check's result is no longer waited for (the
        agent stops, or the check overran its timeout): a check that started a process ends
        it here, so that nothing it started outlives the wait. The thread itself cannot be
        stopped and is left to finish."""

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
