"""What a check reports. Nothing here may ever hold a secret value.

Plain dataclasses: checks make them in the resident agent, where pydantic is not loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from agent.verdicts import Severity, Status, Urgency

__all__ = ["CheckResult", "EvidenceValue", "Excepted", "Finding", "Severity", "Status", "Urgency"]


EvidenceValue = str | int | float | bool | None


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem on this machine. `id` is a keyed fingerprint, stable across runs."""

    id: str
    subject: str
    message: str
    advice: str
    evidence: dict[str, EvidenceValue] = field(default_factory=dict)
    # How serious this one is, where a check grades its findings (a weak password is worse
    # than a strong one in plain text); None: the check's severity.
    severity: Severity | None = None
    # A notice's body when this finding is told alone: what and where in one sentence, and
    # the one thing to do, in at most agent.wording.BODY_MOST characters. The message and
    # advice keep the rest.
    notice: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value if self.severity is not None else None
        # The JSON's shape is a contract (DESIGN.md); a notice is the agent's own business.
        del data["notice"]
        return data


@dataclass(frozen=True, kw_only=True)
class Excepted:
    """A finding an admin policy's exception covers until `until` (a date, inclusive)."""

    finding: Finding
    until: date
    reason: str

    def as_json(self) -> dict[str, Any]:
        until = self.until.isoformat()
        return {**self.finding.as_json(), "excepted_until": until, "reason": self.reason}


@dataclass(kw_only=True)
class CheckResult:
    check: str
    status: Status
    severity: Severity
    title: str
    advice: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    # Why a skipped check did not run, as the fleet reports class it: "not_applicable",
    # "disabled_by_user", "disabled_by_admin" or "excepted"; None unless status is skip.
    skip_reason: str | None = None
    excepted: list[Excepted] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "severity": self.severity.value,
            "title": self.title,
            "advice": self.advice,
            "findings": [finding.as_json() for finding in self.findings],
            "error": self.error,
            "notes": list(self.notes),
            "skip_reason": self.skip_reason,
            "excepted": [e.as_json() for e in self.excepted],
        }
