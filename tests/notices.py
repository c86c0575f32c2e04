"""What a notice would say of the findings a test's checks made: every check's notice, for one
finding and for several, within the room a notification has (agent.wording).

`short_notices` (autouse, tests/conftest.py) records each finding the checks of ALL_CHECKS
make in a test, however the test runs them, and says at its end which notice is too long."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent import wording
from agent.models import Finding, Severity
from agent.store import FindingState

TITLE_MOST = 60
_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def state_of(check: str, finding: Finding) -> FindingState:
    """A finding as the store gives it to the nudge."""
    return FindingState(
        id=finding.id,
        check=check,
        subject=finding.subject,
        severity=finding.severity or Severity.medium,
        message=finding.message,
        advice=finding.advice,
        first_seen=_AT,
        last_seen=_AT,
        resolved_at=None,
        snoozed_until=None,
        times_notified=0,
        last_notified=None,
        reason=str(finding.evidence.get("reason") or ""),
        notice=finding.notice,
    )


def notice(check: Any, findings: Sequence[Finding]) -> tuple[str, str]:
    """(title, body) of the notice about `findings` of the check class `check`."""
    states = [state_of(check.id, f) for f in findings]
    alerts = {kind: (one, many) for kind, one, many in check.alerts}
    return (
        wording.title(check.alert, check.alert_many, alerts, states),
        wording.body(states),
    )


def too_long(check: Any, findings: Sequence[Finding]) -> list[str]:
    """What is wrong with the notices about `findings`: each alone, and all of them at once."""
    wrong = []
    groups = [[f] for f in findings] + ([list(findings)] if len(findings) > 1 else [])
    for group in groups:
        title, body = notice(check, group)
        if not group[0].notice:
            wrong.append(f"{check.id}: a finding with no notice: {group[0].message!r}")
        if len(title) > TITLE_MOST:
            wrong.append(f"{check.id}: title of {len(title)} characters: {title!r}")
        if len(body) > wording.BODY_MOST or "\n" in body:
            wrong.append(f"{check.id}: body of {len(body)} characters: {body!r}")
    return wrong


@pytest.fixture(autouse=True)
def short_notices(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Finding]]]:
    from agent.checks import ALL_CHECKS

    dump = os.environ.get("HYGIENE_NOTICES_DUMP")  # read now: `machine` clears HYGIENE_*
    made: dict[str, list[Finding]] = {}
    for check in ALL_CHECKS:

        def run(self: Any, ctx: Any, _run: Any = check.run, _id: str = check.id) -> Any:
            found = _run(self, ctx)
            made.setdefault(_id, []).extend(found)
            return found

        monkeypatch.setattr(check, "run", run)
    yield made
    by_id = {check.id: check for check in ALL_CHECKS}
    if dump:
        # To read every notice the tests made (tests/README.md): one JSON line each.
        with Path(dump).open("a", encoding="utf-8") as out:
            for check_id, found in made.items():
                unique = list({f.id: f for f in found}.values())
                for group in [[f] for f in unique] + ([unique] if len(unique) > 1 else []):
                    title, body = notice(by_id[check_id], group)
                    out.write(json.dumps([check_id, len(group), title, body]) + "\n")
    wrong = [
        w
        for check_id, found in made.items()
        for w in too_long(by_id[check_id], list({f.id: f for f in found}.values()))
    ]
    if wrong:
        pytest.fail("notices too long or missing:\n" + "\n".join(wrong))
