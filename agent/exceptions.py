"""An admin policy's exceptions laid over a check's findings: judgement, no I/O.

A finding an exception in force covers leaves the result's findings for its `excepted`: it is
kept in the store (it is not fixed), shown with its end and reason, reported as excepted,
and never notified. A check whose every finding is excepted is skipped, for the reason
"excepted". On the day after `until` the exception no longer applies, and the finding is a
finding again.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence
from datetime import date

from agent.models import CheckResult, Excepted, Status
from agent.policy_settings import ExceptionRule

EXCEPTED = "excepted"


def in_force(rules: Sequence[ExceptionRule], today: date) -> list[ExceptionRule]:
    """The rules that still hold `today` (their `until` day included)."""
    return [rule for rule in rules if rule.until >= today]


def apply(result: CheckResult, rules: Sequence[ExceptionRule], today: date) -> CheckResult:
    """`result` with the findings an exception in force covers moved to `excepted`."""
    mine = [r for r in in_force(rules, today) if r.check == result.check]
    if not mine or result.status is not Status.fail:
        return result
    kept, excepted = [], []
    for finding in result.findings:
        rule = next((r for r in mine if _covers(r, finding.id, finding.subject)), None)
        if rule is None:
            kept.append(finding)
        else:
            excepted.append(Excepted(finding=finding, until=rule.until, reason=rule.reason))
    if not excepted:
        return result
    if kept:
        return dataclasses.replace(result, findings=kept, excepted=excepted)
    n = len(excepted)
    return dataclasses.replace(
        result,
        status=Status.skip,
        findings=[],
        excepted=excepted,
        skip_reason=EXCEPTED,
        notes=[f"{n} finding{'s' if n > 1 else ''} excepted by your administrator"],
    )


def _covers(rule: ExceptionRule, finding_id: str, subject: str) -> bool:
    if rule.finding is not None:
        return rule.finding == finding_id
    if rule.subject is not None:
        # Case matters in paths; fnmatchcase does not fold it as fnmatch does on Windows.
        return fnmatch.fnmatchcase(subject, rule.subject)
    return True  # the whole check
