"""What the person and their tools read: the audit as a table or as JSON.

Every text here may carry outside text (file names, policy names and advice, settings,
errors that quote them). Each text report escapes it once where it is laid out: a line
at a time (`_lines`), or field by field where the table adds its own colours. The JSON
reports need nothing: `hygiene ... --json` writes them as ASCII, with every other
character as a \\u escape, so no control or bidirectional character is ever raw in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.durations import format_duration, roughly
from agent.text import printable, wrap
from agent.verdicts import Status

if TYPE_CHECKING:
    from agent.checks.base import Check
    from agent.cycle import CycleOutcome
    from agent.models import CheckResult
    from agent.policy_settings import Policy
    from agent.store import CheckState, FindingState, HeldNotice, NotificationRecord

REPORT_SCHEMA = 1

_COLOURS = {
    Status.fail: "\033[1;31m",
    Status.error: "\033[1;33m",
    Status.skip: "\033[2m",
    Status.passed: "\033[32m",
}
_RESET = "\033[0m"


def audit_json(
    policy: Policy, results: Sequence[CheckResult], now: datetime | None = None
) -> dict[str, Any]:
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "policy": {"name": policy.name, "revision": policy.revision, "sources": policy.sources},
        "results": [r.as_json() for r in results],
    }


def audit_table(
    policy: Policy, results: Sequence[CheckResult], *, width: int = 100, colour: bool = False
) -> str:
    rows: list[tuple[Status | None, str, str, list[str]]] = []
    for result in results:
        for excepted in result.excepted:
            said = f"{excepted.finding.message.rstrip('.')}; excepted until {excepted.until} "
            said += f"by your administrator: {excepted.reason}"
            rows.append((None, result.check, excepted.finding.subject, [said]))
        if result.excepted and not result.findings:
            continue
        if result.findings:
            for finding in result.findings:
                rows.append(
                    (
                        result.status,
                        result.check,
                        finding.subject,
                        [finding.message, f"-> {finding.advice}"],
                    )
                )
        elif result.status is Status.error:
            rows.append((result.status, result.check, "-", [f"could not run: {result.error}"]))
        elif result.status is Status.skip:
            rows.append((result.status, result.check, "-", [f"skipped: {'; '.join(result.notes)}"]))
        else:
            rows.append((result.status, result.check, "-", [result.title]))
    # Escaped before the widths are measured and the colours added.
    rows = [
        (st, printable(c), printable(sub), [printable(t) for t in ts]) for st, c, sub, ts in rows
    ]

    check_w = max([len("CHECK"), *(len(r[1]) for r in rows)])
    subject_w = min(36, max([len("SUBJECT"), *(len(r[2]) for r in rows)]))
    text_w = width - (6 + 2 + check_w + 2 + subject_w + 2)
    indent = " " * (6 + 2 + check_w + 2 + subject_w + 2)
    if text_w < 40:
        # A narrow terminal: what to do goes under each row, across the whole width, rather
        # than in a column too thin to read.
        subject_w, text_w, indent = 0, max(20, width - 4), " " * 4

    head = f"{'STATUS':<6}  {'CHECK':<{check_w}}  {'SUBJECT':<{subject_w}}  WHAT TO DO"
    if not subject_w:
        head = f"{'STATUS':<6}  {'CHECK':<{check_w}}  SUBJECT, THEN WHAT TO DO"
    lines = [head]
    for status, check_id, subject, texts in rows:
        wrapped = [w for text in texts for w in wrap(text, text_w) or [""]]
        label = f"{status.value.upper() if status else 'EXCEPT':<6}"
        if colour:
            label = f"{_COLOURS[status or Status.skip]}{label}{_RESET}"
        if len(subject) > subject_w:
            lines.append(f"{label}  {check_id:<{check_w}}  {subject}".rstrip())
            lines.extend(indent + w for w in wrapped)
            continue
        lines.append(f"{label}  {check_id:<{check_w}}  {subject:<{subject_w}}  {wrapped[0]}")
        lines.extend(indent + w for w in wrapped[1:])

    after: list[str] = []
    for result in results:
        if result.status is not Status.skip:
            after.extend(f"note: {result.check}: {note}" for note in result.notes)
        if result.status is Status.fail:
            after.extend(
                wrap(
                    result.advice,
                    width,
                    initial_indent=f"why {result.check} matters: ",
                    subsequent_indent="    ",
                )
            )
    after.append("")
    after.extend(wrap(summary(policy, results), width))
    return "\n".join(lines) + "\n" + _lines(after)


def summary(policy: Policy, results: Sequence[CheckResult]) -> str:
    def count(status: Status) -> int:
        return sum(1 for r in results if r.status is status)

    findings = sum(len(r.findings) for r in results)
    parts = [
        f"{len(results)} check{'s' if len(results) != 1 else ''}: {count(Status.passed)} passed",
        f"{count(Status.fail)} failed ({findings} finding{'s' if findings != 1 else ''})",
        f"{count(Status.error)} could not run",
        f"{count(Status.skip)} skipped",
    ]
    return ", ".join(parts) + f". Policy: {policy.name}, revision {policy.revision}."


def catalogue(checks: Sequence[type[Check[Any]]], policy: Policy) -> list[dict[str, Any]]:
    """What each check is, reads, keeps, reports and is set to: what `hygiene checks` shows."""
    from agent.fleet import reported_fields  # noqa: PLC0415 - only for this listing

    fields = reported_fields(policy.report.details, host=policy.report.host is not None)
    asked = {
        "osquery SQLite": policy.report.osquery,
        "JSON lines": policy.report.jsonl,
        "Prometheus": policy.report.prometheus_dir is not None,
    }
    reports = {output: names for output, names in fields.items() if asked.get(output)}
    entries = []
    for check in checks:
        params = policy.settings[check.id]
        entries.append(
            {
                "id": check.id,
                "title": check.title,
                "enabled": params.enabled,
                "severity": (params.severity or check.severity).value,
                "every": format_duration(params.every),
                "rationale": check.rationale,
                "advice": params.advice or check.advice,
                "explanation": check.explanation(),
                "reads": list(check.reads),
                "keeps": check.keeps,
                # Files on this computer that fleet tools read; the agent sends nothing.
                "reports": reports if params.enabled else {},
                "settings": _as_written(params),
            }
        )
    return entries


def catalogue_text(entries: Sequence[dict[str, Any]], *, width: int = 100) -> str:
    out: list[str] = []
    for entry in entries:
        state = "on" if entry["enabled"] else "off"
        out.append(f"{entry['id']}  ({state}, {entry['severity']}, every {entry['every']})")
        out.append(f"  {entry['title']}")
        for label, text in (
            ("why", entry["rationale"]),
            ("what to do", entry["advice"]),
            ("keeps", entry["keeps"]),
        ):
            out.extend(
                wrap(text, width - 2, initial_indent=f"  {label}: ", subsequent_indent="    ")
            )
        texts = [("reads", read) for read in entry["reads"]]
        texts.append(("reports", _reports_text(entry["reports"])))
        settings = (
            f"{k}={json.dumps(v, ensure_ascii=False)}"
            for k, v in entry["settings"].items()
            if k != "advice"
        )
        texts.append(("settings", ", ".join(settings)))
        for label, text in texts:
            out.extend(
                wrap(text, width - 2, initial_indent=f"  {label}: ", subsequent_indent="    ")
            )
        out.append("")
        for paragraph in entry["explanation"].split("\n\n"):
            # A paragraph is reflowed, except its "- " lines: each is a list item.
            items = re.split(r"\n(?=- )", paragraph)
            for item in items:
                indent = "    " if item.startswith("- ") else "  "
                out.extend(
                    wrap(
                        " ".join(item.split()),
                        width - 2,
                        initial_indent="  ",
                        subsequent_indent=indent,
                    )
                )
            out.append("")
    return _lines(out).removesuffix("\n")


def _as_written(settings: object) -> Any:
    from agent.policy import as_plain  # noqa: PLC0415 - pydantic, only for these listings

    return as_plain(settings)


def _reports_text(reports: dict[str, list[str]]) -> str:
    if not reports:
        return "nothing (no fleet report is written for it)"
    said = "; ".join(f"{output}: {', '.join(fields)}" for output, fields in reports.items())
    return f"to files fleet tools read on this computer (nothing is sent): {said}"


def _shown_url(url: str) -> str:
    from agent.sources import shown_url  # noqa: PLC0415 - only when an admin names sources

    return shown_url(url)


def policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "revision": policy.revision,
        "sources": policy.sources,
        "locked": policy.locked,
        "log_level": {"value": policy.log_level, "from": policy.log_level_origin},
        "notify": {
            "settings": _as_written(policy.notify),
            "from": policy.notify_origins,
        },
        "checks": {
            check_id: {
                "settings": _as_written(params),
                "from": policy.origins[check_id],
            }
            for check_id, params in policy.settings.items()
        },
        "warnings": policy.warnings,
        "admin": {
            "trust": policy.trust,
            "pulled_sources": {
                "urls": [_shown_url(url) for url in policy.pull.urls],
                "every": format_duration(policy.pull.every),
            },
            "report": _as_written(policy.report),
            "exceptions": [_as_written(rule) for rule in policy.exceptions],
            "rejected": policy.rejected,
        },
        "layers": [layer._asdict() for layer in policy.layers],
    }


def policy_text(policy: Policy) -> str:
    """The policy in force as YAML-like text, each setting with the file it came from."""
    data = policy_json(policy)
    out = [
        f"name: {policy.name}",
        f"revision: {policy.revision}",
        "sources:  # lowest first; later ones win",
        *(
            f"  - {la.source}"
            + (f"  # {la.name}, revision {la.revision}" if la.level == "admin" and la.name else "")
            + (f"; sha256 {la.sha256[:16]}" if la.level == "admin" and la.name else "")
            for la in policy.layers
        ),
        "admin policies: "
        + (
            "signed policies only (trusted keys are installed)"
            if policy.trust == "signed"
            else "taken unsigned (no trusted keys installed)"
        ),
    ]
    if policy.pull.urls:
        out.append(f"pulled every {format_duration(policy.pull.every)} from:")
        out.extend(f"  - {_shown_url(url)}" for url in policy.pull.urls)
    report = policy.report
    outputs = [
        name
        for name, on in (
            ("osquery SQLite", report.osquery),
            ("JSON lines", report.jsonl),
            (f"Prometheus in {report.prometheus_dir}", report.prometheus_dir is not None),
        )
        if on
    ]
    out.append(
        f"fleet reports: {', '.join(outputs) or 'none'}; "
        + ("with details (subjects and messages)" if report.details else "status only")
    )
    if policy.exceptions:
        out.append("exceptions:  # admin files only; told again the day after `until`")
        for rule in policy.exceptions:
            what = rule.finding or rule.subject or "every finding"
            out.append(f"  - {rule.check} {what} until {rule.until}: {rule.reason}")
    out.extend(f"rejected: {line}" for line in policy.rejected)
    if policy.locked:
        out.append("locked:")
        out.extend(f"  - {check}  # by {source}" for check, source in policy.locked.items())
    origin = policy.log_level_origin or "the agent's default"
    out.append(f"log_level: {policy.log_level}  # {origin}")
    out.append("notify:")
    for key, value in data["notify"]["settings"].items():
        origin = data["notify"]["from"].get(key, "the agent's default")
        out.append(f"  {key}: {json.dumps(value, ensure_ascii=False)}  # {origin}")
    out.append("checks:")
    for check_id, entry in data["checks"].items():
        out.append(f"  {check_id}:")
        for key, value in entry["settings"].items():
            origin = entry["from"].get(key, "the check's default")
            out.append(f"    {key}: {json.dumps(value, ensure_ascii=False)}  # {origin}")
    return _lines(out)


# --- the agent's memory: status, notifications, one cycle ------------------------


def _local(moment: datetime) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M}"


def _clock(moment: datetime, now: datetime) -> str:
    """A time today as 14:05, another day's with its date."""
    local = moment.astimezone()
    return f"{local:%H:%M}" if local.date() == now.astimezone().date() else _local(moment)


_HELD_AS = {
    "hourly cap": "this hour (the hourly limit of notices is reached)",
    "quiet hours": "for quiet hours",
    "grace": "in their grace period (a new problem waits a while before its first notice)",
}


def held_lines(held: Sequence[HeldNotice], now: datetime) -> list[str]:
    """One sentence per reason: "Held: 4 notices this hour (...); the next goes at 14:05." """
    out = []
    for reason, as_written in _HELD_AS.items():
        these = [h for h in held if h.reason == reason]
        if not these:
            continue
        soonest = min(h.goes_at for h in these)
        n = len(these)
        notices = f"{n} notice{'s' if n != 1 else ''}"
        why = as_written.replace("their", "its") if n == 1 else as_written
        if soonest > now:
            when = f"{'the next goes' if n > 1 else 'it goes'} at {_clock(soonest, now)}"
        else:
            when = f"due since {_clock(soonest, now)}: it goes when the agent next runs"
        out.append(f"Held: {notices} {why}; {when}.")
    return out


def held_entry(held: HeldNotice) -> dict[str, Any]:
    """A held notice as an entry of `hygiene notifications --json`: a notification's keys,
    not delivered, with `held` saying why and when it goes (null in the others)."""
    return {
        "id": None,
        "at": held.since.isoformat(timespec="seconds"),
        "check": held.check,
        "kind": held.kind,
        "title": held.title,
        "body": None,
        "urgency": None,
        "backend": None,
        "delivered": False,
        "reason": held.reason,
        "server_id": None,
        "finding_ids": list(held.finding_ids),
        "response": None,
        "response_at": None,
        "held": {"reason": held.reason, "goes_at": held.goes_at.isoformat(timespec="seconds")},
    }


def held_json(held: HeldNotice) -> dict[str, Any]:
    return {
        "check": held.check,
        "kind": held.kind,
        "title": held.title,
        "reason": held.reason,
        "goes_at": held.goes_at.isoformat(timespec="seconds"),
        "since": held.since.isoformat(timespec="seconds"),
        "finding_ids": list(held.finding_ids),
    }


def last_recorded(checks: Sequence[CheckState]) -> datetime | None:
    """When the newest result in the store was recorded; None before any audit."""
    return max((c.last_run for c in checks), default=None)


def freshness(checks: Sequence[CheckState], now: datetime, agent_pid: int | None) -> str:
    """When the results were last recorded, and whether an agent keeps them current: results
    from an agent that stopped long ago must not read as today's."""
    last = last_recorded(checks)
    if last is None:
        return ""
    when = f"Results last recorded {roughly(now - last)} ago ({_local(last)})"
    if agent_pid is None:
        return (
            f"{when}; no agent is running, so they may be out of date: `hygiene run` (or "
            "`hygiene service install`) keeps them current."
        )
    who = f"process {agent_pid}" if agent_pid else "another process"
    return f"{when}; the agent is running ({who})."


NOT_AUDITED = (
    "The agent has not audited this computer yet: `hygiene run` (or `hygiene service install`) "
    "keeps it checked, `hygiene check` audits it once."
)


def status_json(
    current: Sequence[FindingState],
    now: datetime,
    checks: Sequence[CheckState],
    held: Sequence[HeldNotice] = (),
) -> dict[str, Any]:
    """`current`: the unresolved findings; those an admin's exception covers are listed
    apart, under "excepted", with its end and reason."""
    failing = [f for f in current if f.excepted is None]
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": now.isoformat(timespec="seconds"),
        "audited": bool(checks),
        "held": [held_json(h) for h in held],
        "could_not_run": [
            {"check": c.id, "error": c.error, "at": c.last_run.isoformat(timespec="seconds")}
            for c in checks
            if c.status is Status.error
        ],
        "failing": [
            {
                "id": f.id,
                "check": f.check,
                "severity": f.severity.value,
                "subject": f.subject,
                "message": f.message,
                "advice": f.advice,
                "first_seen": f.first_seen.isoformat(timespec="seconds"),
                "last_seen": f.last_seen.isoformat(timespec="seconds"),
                "snoozed_until": (
                    f.snoozed_until.isoformat(timespec="seconds")
                    if f.snoozed_until and f.snoozed_until > now
                    else None
                ),
                "times_notified": f.times_notified,
                "last_notified": (
                    f.last_notified.isoformat(timespec="seconds") if f.last_notified else None
                ),
            }
            for f in failing
        ],
        "excepted": [
            {
                "id": f.id,
                "check": f.check,
                "severity": f.severity.value,
                "subject": f.subject,
                "message": f.message,
                "until": f.excepted.until.isoformat(),
                "reason": f.excepted.reason,
            }
            for f in current
            if f.excepted is not None
        ],
    }


def status_text(
    current: Sequence[FindingState],
    now: datetime,
    checks: Sequence[CheckState],
    *,
    held: Sequence[HeldNotice] = (),
    width: int = 100,
) -> str:
    if not checks:
        return "\n".join(wrap(NOT_AUDITED, width)) + "\n"
    failing = [f for f in current if f.excepted is None]
    excepted = [f for f in current if f.excepted is not None]
    told = _lines(_excepted_lines(excepted, width)) if excepted else ""
    return _status_text(failing, now, checks, held=held, width=width) + told


def _excepted_lines(excepted: Sequence[FindingState], width: int) -> list[str]:
    out = [""]
    for f in excepted:
        if f.excepted is None:
            continue
        out.extend(
            wrap(f"{'EXCEPTED':<8} {f.check}  {f.subject}", width, subsequent_indent=" " * 9)
        )
        for text in (f.message, f.excepted.said()):
            out.extend(wrap(text, width - 9, initial_indent=" " * 9, subsequent_indent=" " * 9))
    return out


def _status_text(
    failing: Sequence[FindingState],
    now: datetime,
    checks: Sequence[CheckState],
    *,
    held: Sequence[HeldNotice],
    width: int,
) -> str:
    broken = [c for c in checks if c.status is Status.error]
    out: list[str] = []
    for c in broken:
        out.append(f"{'ERROR':<8} {c.id}  could not run at {_local(c.last_run)}")
        out.extend(
            wrap(
                c.error or "",
                width - 9,
                initial_indent=" " * 9,
                subsequent_indent=" " * 9,
            )
        )
    if not failing:
        if broken:
            n = len(broken)
            out += [
                "",
                f"Nothing else is failing, but {n} check{'s' if n != 1 else ''} could not run: "
                "the audit is incomplete.",
            ]
            return _lines(out)
        return "Nothing is failing.\n"
    for f in failing:
        state = f"failing for {roughly(now - f.first_seen)}"
        if f.snoozed_until and f.snoozed_until > now:
            state += f", snoozed until {_local(f.snoozed_until)}"
        head = f"{f.severity.value.upper():<8} {f.check}  {f.subject}  ({state})"
        out.extend(wrap(head, width, subsequent_indent=" " * 9))
        for text in (f.message, f"-> {f.advice}"):
            out.extend(wrap(text, width - 9, initial_indent=" " * 9, subsequent_indent=" " * 9))
        out.append(f"{'':9}id {f.id}")
    n = len(failing)
    out.append("")
    incomplete = f" {len(broken)} could not run." if broken else ""
    out.extend(
        wrap(
            f"{n} finding{'s' if n != 1 else ''} failing.{incomplete} Snooze one with "
            "`hygiene snooze ID 1d`, or a whole check with `hygiene snooze CHECK 1d`.",
            width,
        )
    )
    for line in held_lines(held, now):
        out.extend(wrap(line, width))
    return _lines(out)


def notification_json(record: NotificationRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "at": record.at.isoformat(timespec="seconds"),
        "check": record.check,
        "kind": record.kind,
        "title": record.title,
        "body": record.body,
        "urgency": record.urgency,
        "backend": record.backend,
        "delivered": record.delivered,
        "reason": record.reason,
        "server_id": record.server_id,
        "finding_ids": list(record.finding_ids),
        "response": record.response,
        "response_at": record.response_at.isoformat(timespec="seconds")
        if record.response_at
        else None,
        "held": None,
    }


def notifications_text(
    records: Sequence[NotificationRecord],
    *,
    held: Sequence[HeldNotice] = (),
    now: datetime | None = None,
    width: int = 100,
) -> str:
    out = []
    if held:
        at = now or datetime.now(UTC)
        for line in held_lines(held, at):
            out.extend(wrap(line, width))
        for h in held:
            out.append(f"  goes at {_clock(h.goes_at, at)}  {h.check}  {h.kind}  {h.title}")
        out.append("")
    if not records:
        return _lines([*out, "No notifications yet."])
    check_width = max(len(r.check) for r in records)
    kind_width = max(len(r.kind) for r in records)
    for r in records:
        if r.delivered:
            how = f"delivered ({r.backend}" + (f" #{r.server_id})" if r.server_id else ")")
        else:
            how = "NOT delivered"
        out.append(
            f"{_local(r.at)}  {r.check:<{check_width}}  {r.kind:<{kind_width}}  {how}  {r.title}"
        )
        if not r.delivered and r.reason:
            out.extend(
                wrap(r.reason, width - 18, initial_indent=" " * 18, subsequent_indent=" " * 18)
            )
        if r.response and r.response_at:
            out.append(f"{'':18}you {r.response} at {_local(r.response_at)}")
    return _lines(out)


def run_summary(outcome: CycleOutcome, now: datetime) -> str:
    results = outcome.results
    failed = sum(1 for r in results if r.status is Status.fail)
    findings = sum(len(r.findings) for r in results)
    line = (
        f"Audited {len(results)} check{'s' if len(results) != 1 else ''}: {failed} failing "
        f"({findings} finding{'s' if findings != 1 else ''})."
    )
    for result in results:
        if result.status is Status.error:
            line += f" {result.check} could not run: {(result.error or '').rstrip('.')}."
    delivered = [rec for _, rec in outcome.sent if rec.delivered]
    if outcome.sent:
        line += f" Sent {len(delivered)} of {len(outcome.sent)} notifications."
    elif not outcome.told.held:
        line += " Nothing to notify now."
    lines = [line]
    lines += held_lines(outcome.told.held, now)
    return _lines(lines)


def _lines(lines: Sequence[str]) -> str:
    """Lines laid out for the terminal, each escaped whole: a newline or an escape
    sequence inside one (a file name, a policy's advice) is shown, never acted on."""
    return "".join(printable(line) + "\n" for line in lines)
