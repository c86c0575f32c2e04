"""What a check reports. Nothing here may ever hold a secret value."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.verdicts import Severity, Status, Urgency

__all__ = ["CheckResult", "EvidenceValue", "Finding", "Severity", "Status", "Urgency"]


EvidenceValue = str | int | float | bool | None


class Finding(BaseModel):
    """One problem on this machine. `id` is a keyed fingerprint, stable across runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    subject: str
    message: str
    advice: str
    evidence: dict[str, EvidenceValue] = Field(default_factory=dict)
    # How serious this one is, where a check grades its findings (a weak password is worse
    # than a strong one in plain text); None: the check's severity.
    severity: Severity | None = None


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str
    status: Status
    severity: Severity
    title: str
    advice: str
    findings: list[Finding] = Field(default_factory=list)
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
