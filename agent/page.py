"""The "My device" page: one self-contained HTML file in the state folder, `page.html` (0600),
that shows the person everything the agent knows and keeps in one place.

`render` is pure (data in, one document out); `write_page` reads the store, takes a fresh
link token (agent.links) and writes the file whole. The page loads nothing: its CSS is inline
and allowed by its hash alone (a Content-Security-Policy meta tag forbids every other load),
it has no script, and its only links are anchors within it and `hygiene:` actions, which do
something only through `hygiene open-url` with this page's token. Every text from outside
(file names, messages, policy names, errors) passes agent.text.printable, then html.escape.

No pydantic, check or policy machinery is imported here: the agent rewrites the page itself.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from agent import wording
from agent.durations import format_duration, roughly
from agent.files import ensure_private_dir, write_whole
from agent.links import (
    PAGE_FILE,
    SNOOZE_LENGTHS,
    Action,
    action_url,
    new_token,
    page_lock,
    token_meta,
)
from agent.quoted import commands
from agent.store.held import REASONS
from agent.text import printable
from agent.verdicts import Status

if TYPE_CHECKING:
    from agent.checks.base import Check
    from agent.paths import Paths
    from agent.policy_settings import Policy
    from agent.store import CheckState, FindingState, HeldNotice, NotificationRecord, Store

HISTORY = 200  # notifications shown, newest first
_LENGTH_WORDS = {"1h": "1 hour", "1d": "1 day", "7d": "7 days"}


def finding_anchor(finding_id: str) -> str:
    """The element id of a finding on the page: page.html#<this> opens the page at it."""
    return f"f-{finding_id}"


def check_anchor(check_id: str) -> str:
    """The element id of a check where the page says how it stands: its problems, why it
    could not run or was skipped, or its line among the checks that pass."""
    return f"c-{check_id}"


class Facts(NamedTuple):
    """What the store knows, as the page shows it."""

    checks: Sequence[CheckState]
    findings: Sequence[FindingState]
    held: Sequence[HeldNotice]
    snoozes: Mapping[str, datetime]
    notifications: Sequence[NotificationRecord]

    @classmethod
    def read(cls, store: Store | None, now: datetime) -> Facts:
        if store is None:
            return cls([], [], [], {}, [])
        return cls(
            checks=store.checks(),
            findings=store.current(now),
            held=store.held(),
            snoozes=store.snoozes(now),
            notifications=store.notifications(HISTORY),
        )


def write_page(
    paths: Paths,
    *,
    store: Store | None,
    policy: Policy,
    checks: Sequence[type[Check[Any]]],
    now: datetime,
) -> Path:
    """Write `<state>/page.html` (0600, whole or not at all) and return its path. Raises
    OSError when the state folder cannot take it, StoreError when the store cannot be read."""
    facts = Facts.read(store, now)
    ensure_private_dir(paths.state)
    # A fresh token, kept in the page: the links of every page before this one stop working.
    token = new_token()
    document = render(facts, policy=policy, checks=checks, token=token, now=now)
    path = paths.state / PAGE_FILE
    with page_lock(paths.state):
        write_whole(path, document.encode("utf-8"), 0o600)
    return path


# --- the document ----------------------------------------------------------------------


def render(
    facts: Facts,
    *,
    policy: Policy,
    checks: Sequence[type[Check[Any]]],
    token: str,
    now: datetime,
) -> str:
    """The page as one HTML document."""
    known = {check.id: check for check in checks}
    page = _Page(facts, policy, known, token, now)
    body = "".join(
        [
            page.header(),
            "<main>",
            page.summary(),
            page.problems(),
            page.could_not_run(),
            page.held(),
            page.snoozed(),
            page.skipped(),
            page.passing(),
            page.history(),
            page.policy_in_force(),
            page.catalogue(),
            "</main>",
            _FOOTER,
        ]
    )
    digest = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{token_meta(token)}\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        "<title>My device: hygiene-agent</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _t(text: object) -> str:
    """Outside text, safe in an HTML element or attribute."""
    return escape(printable(str(text)))


def _when(moment: datetime) -> str:
    local = moment.astimezone()
    return f'<time datetime="{local.isoformat(timespec="seconds")}">{local:%Y-%m-%d %H:%M}</time>'


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def advice_html(advice: str) -> str:
    """The advice escaped, each command it quotes (agent.quoted) in a <code> that selects
    whole; a command written in backticks loses them there."""
    text = printable(advice)
    out: list[str] = []
    done = 0
    for start, end in commands(text):
        command = text[start:end]
        if command.startswith("`"):
            command = command[1:-1]
        out.append(escape(text[done:start]))
        out.append(command_html(command))
        done = end
    out.append(escape(text[done:]))
    return "".join(out)


def command_html(command: str) -> str:
    """A command to copy: one click selects it whole, and no line breaks inside it; one
    wider than the window scrolls within its own box, the page does not."""
    # Focusable: one that scrolls can then be scrolled from the keyboard too.
    return f'<code class="cmd" tabindex="0">{escape(printable(command))}</code>'


class _Page:
    def __init__(
        self,
        facts: Facts,
        policy: Policy,
        known: Mapping[str, type[Check[Any]]],
        token: str,
        now: datetime,
    ) -> None:
        self.facts = facts
        self.policy = policy
        self.known = known
        self.token = token
        self.now = now
        self.by_status: dict[Status, list[CheckState]] = {s: [] for s in Status}
        for state in facts.checks:
            self.by_status[state.status].append(state)
        # What an admin's exception covers is listed apart: not a problem to act on now.
        self.failing = [f for f in facts.findings if f.excepted is None]
        self.excepted = [f for f in facts.findings if f.excepted is not None]
        self.findings_of: dict[str, list[FindingState]] = {}
        for finding in self.failing:
            self.findings_of.setdefault(finding.check, []).append(finding)

    def anchored(self, check_id: str) -> str:
        """The check's id attribute where the page says how it stands; none where its
        problems already carry it (a check that could not run or is now off keeps them)."""
        return "" if check_id in self.findings_of else f' id="{_t(check_anchor(check_id))}"'

    def title_of(self, check_id: str) -> str:
        check = self.known.get(check_id)
        return check.title if check is not None else check_id

    # --- sections ------------------------------------------------------------------

    def header(self) -> str:
        sections = [
            ("problems", "Problems"),
            ("held", "Held notices"),
            ("snoozed", "Snoozed"),
            ("skipped", "Skipped"),
            ("history", "Notifications"),
            ("policy", "Policy"),
            ("checks", "What each check reads"),
        ]
        links = "".join(f'<li><a href="#{key}">{label}</a></li>' for key, label in sections)
        local = self.now.astimezone()
        zone = (
            local.strftime("%Z")
            if local.utcoffset() == timedelta(0)
            else local.strftime("%Z (UTC%z)")
        )
        return (
            '<header><h1>My device</h1><p class="meta">What hygiene-agent knows about this '
            f"computer, written {_when(self.now)}. Times are local, {_t(zone)}. This page is a "
            "file on this computer: it loads nothing and sends nothing. Its snooze links work "
            "from its newest copy only (the agent writes it again when something changes): "
            "if one does nothing, reload the page.</p>"
            f'<nav aria-label="Sections"><ul>{links}</ul></nav></header>'
        )

    def summary(self) -> str:
        if not self.facts.checks:
            return (
                '<section id="summary" aria-labelledby="summary-h"><h2 id="summary-h">'
                "Not audited yet</h2><p>The agent has not audited this computer yet: "
                f"{command_html('hygiene run')} (or {command_html('hygiene service install')}) "
                f"keeps it checked, {command_html('hygiene check')} audits it once.</p></section>"
            )
        total = len(self.facts.checks)
        passed = len(self.by_status[Status.passed])
        parts = [_plural(len(self.failing), "problem")]
        if self.excepted:
            parts.append(f"{len(self.excepted)} excepted by your administrator")
        if broken := len(self.by_status[Status.error]):
            parts.append(f"{broken} could not run")
        if skipped := len(self.by_status[Status.skip]):
            parts.append(f"{skipped} skipped")
        last = max(c.last_run for c in self.facts.checks)
        verdict = "good" if passed == total else ("bad" if self.failing else "warn")
        return (
            '<section id="summary" aria-labelledby="summary-h">'
            f'<h2 id="summary-h" class="{verdict}">{passed} of {total} checks pass</h2>'
            f"<p>{', '.join(parts)}. Last audit {roughly(self.now - last)} ago "
            f"({_when(last)}). Policy {_t(self.policy.name)}, revision "
            f"{self.policy.revision}.</p></section>"
        )

    def problems(self) -> str:
        out = [_open_section("problems", f"Problems ({len(self.failing)})")]
        if not self.findings_of:
            out.append("<p>Nothing is failing.</p>")
        for check_id, findings in self.findings_of.items():
            check = self.known.get(check_id)
            heading = check_id
            if check is not None:  # as its notice says it
                alerts = {kind: (one, many) for kind, one, many in check.alerts}
                heading = wording.title(check.alert, check.alert_many, alerts, findings)
            out.append(
                f'<section class="group" id="{_t(check_anchor(check_id))}" '
                f'aria-labelledby="{_t(check_anchor(check_id))}-h">'
                f'<h3 id="{_t(check_anchor(check_id))}-h">{_t(heading)}</h3>'
                f'<p class="meta">Check <code>{_t(check_id)}</code>: '
                f"{_t(self.title_of(check_id))}</p>"
            )
            out.extend(self.finding(f) for f in findings)
            out.append("</section>")
        if self.excepted:
            out.append(
                '<section class="group" id="excepted" aria-labelledby="excepted-h">'
                '<h3 id="excepted-h">Excepted by your administrator</h3>'
            )
            out.extend(self.finding(f) for f in self.excepted)
            out.append("</section>")
        out.append("</section>")
        return "".join(out)

    def finding(self, f: FindingState) -> str:
        anchor = _t(finding_anchor(f.id))
        state = f"failing for {roughly(self.now - f.first_seen)}, since {_when(f.first_seen)}"
        if f.times_notified and f.last_notified:
            state += f"; told {_plural(f.times_notified, 'time')}, last {_when(f.last_notified)}"
        snoozed = f.snoozed_until is not None and f.snoozed_until > self.now
        if f.excepted is not None:
            state = f"{_t(f.excepted.said())}; found {_when(f.first_seen)}"
        elif snoozed and f.snoozed_until is not None:
            state += f"; snoozed until {_when(f.snoozed_until)}"
        severity = _t(f.severity.value)
        return (
            f'<article class="finding" id="{anchor}" aria-labelledby="{anchor}-h">'
            f'<h4 id="{anchor}-h"><span class="sev sev-{severity}">{severity}</span> '
            f"{_t(f.subject)}</h4>"
            f"<p>{_t(f.message)}</p>"
            f'<p class="advice"><strong>What to do:</strong> {advice_html(f.advice)}</p>'
            f'<p class="meta">{state}. Id <code>{_t(f.id)}</code>.</p>'
            + self.actions(f, snoozed=snoozed)
            + "</article>"
        )

    def actions(self, f: FindingState, *, snoozed: bool) -> str:
        if f.excepted is not None:
            return ""  # nothing to snooze: it is not told until the exception ends
        return self.unsnooze(f.id, f.subject) if snoozed else self.snooze(f.id, f.subject, f.check)

    def snooze(self, target: str, what: str, check: str | None) -> str:
        longest = self.policy.snooze_limit(check)
        lengths = [n for n in SNOOZE_LENGTHS if _seconds(n) <= longest.total_seconds()]
        if not lengths:
            return ""
        links = " ".join(
            f'<a class="action" href="{escape(self.url(Action("snooze", target, n)))}">'
            f'<span class="vh">Snooze {_t(what)} for </span>{_LENGTH_WORDS.get(n, n)}</a>'
            for n in lengths
        )
        command = f"hygiene snooze {target} {lengths[min(1, len(lengths) - 1)]}"
        return (
            f'<p class="actions"><span aria-hidden="true">Snooze its notices:</span> {links} '
            f'<span class="or">or run {command_html(command)}</span></p>'
        )

    def unsnooze(self, target: str, what: str) -> str:
        url = escape(self.url(Action("unsnooze", target)))
        return (
            f'<p class="actions"><a class="action" href="{url}">End the snooze'
            f'<span class="vh"> of {_t(what)}</span></a> '
            f'<span class="or">or run {command_html(f"hygiene unsnooze {target}")}</span></p>'
        )

    def url(self, action: Action) -> str:
        return action_url(self.token, action)

    def could_not_run(self) -> str:
        broken = self.by_status[Status.error]
        if not broken:
            return ""
        items = [
            f"<li{self.anchored(c.id)}><strong>{_t(self.title_of(c.id))}</strong> "
            f"(<code>{_t(c.id)}</code>), at {_when(c.last_run)}: "
            f"{_t(c.error or 'no reason was recorded')}</li>"
            for c in broken
        ]
        intro = "These checks could not look, so the audit is incomplete until they can."
        return _listing("errors", "Could not run", items, intro=intro)

    def held(self) -> str:
        items = [
            f"<li><strong>{_t(n.title)}</strong> (<code>{_t(n.check)}</code>, {_t(n.kind)}): "
            f"held because {_t(REASONS.get(n.reason, n.reason))}; goes at {_when(n.goes_at)}, "
            f"held since {_when(n.since)}.</li>"
            for n in self.facts.held
        ]
        intro = "Notices that are due but wait, and when each goes."
        return _listing("held", "Held notices", items, intro=intro, empty="No notice is held back.")

    def snoozed(self) -> str:
        subjects = {f.id: f"{f.subject} ({f.check})" for f in self.facts.findings}
        items = []
        for target, until in sorted(self.facts.snoozes.items(), key=lambda kv: (kv[1], kv[0])):
            if target in subjects:
                what = subjects[target]
            elif target in self.known or target in self.findings_of:
                what = f"every notice of {self.title_of(target)} ({target})"
            else:
                what = target
            items.append(
                f"<li><strong>{_t(what)}</strong>: no notices until {_when(until)}."
                f"{self.unsnooze(target, what)}</li>"
            )
        return _listing("snoozed", "Snoozed", items, empty="Nothing is snoozed.")

    def skipped(self) -> str:
        items = []
        for c in self.by_status[Status.skip]:
            why = c.error
            params = self.policy.settings.get(c.id)
            if why is None and params is not None and not params.enabled:
                why = f"turned off by {self.policy.origins.get(c.id, {}).get('enabled', 'policy')}"
            items.append(
                f"<li{self.anchored(c.id)}><strong>{_t(self.title_of(c.id))}</strong> "
                f"(<code>{_t(c.id)}</code>): {_t(why or 'no reason was recorded')}</li>"
            )
        return _listing("skipped", "Skipped", items, empty="No check was skipped.")

    def passing(self) -> str:
        items = [
            f"<li{self.anchored(c.id)}>{_t(self.title_of(c.id))} "
            f"(<code>{_t(c.id)}</code>), checked {_when(c.last_run)}</li>"
            for c in self.by_status[Status.passed]
        ]
        return _listing("passing", "Passing", items) if items else ""

    def history(self) -> str:
        items = []
        for r in self.facts.notifications:
            if r.delivered:
                how = f"delivered ({_t(r.backend)})"
            else:
                how = "not delivered" + (f": {_t(r.reason.rstrip('.'))}" if r.reason else "")
            did = (
                f"you {_t(r.response)} at {_when(r.response_at)}"
                if r.response and r.response_at
                else "no answer recorded"
            )
            items.append(
                f"<li>{_when(r.at)} <strong>{_t(r.title)}</strong>"
                f'<span class="meta"> <code>{_t(r.check)}</code>, {_t(r.kind)}, {how}; '
                f"{did}.</span></li>"
            )
        return _listing(
            "history",
            "Notifications",
            items,
            intro="Newest first.",
            empty="No notifications yet.",
            ordered=True,
        )

    def policy_in_force(self) -> str:
        p = self.policy
        trust = (
            "only signed admin policies are taken (trusted keys are installed)"
            if p.trust == "signed"
            else "admin policies are taken unsigned (no trusted keys are installed)"
        )
        layers = "".join(
            f'<li>{_t(source)} <span class="meta">({_t(level)}'
            + (f", {_t(name)}" if name and level == "admin" else "")
            + (f", revision {revision}" if revision is not None and level == "admin" else "")
            + ")</span></li>"
            for source, level, name, revision, *_ in p.layers
        ) or "".join(f"<li>{_t(source)}</li>" for source in p.sources)
        notify = p.notify
        quiet = (
            f"{notify.quiet_hours[0]:%H:%M}-{notify.quiet_hours[1]:%H:%M}"
            if notify.quiet_hours
            else "none"
        )
        out = [
            _open_section("policy", "The policy in force"),
            f"<dl><dt>Name</dt><dd>{_t(p.name)}</dd><dt>Revision</dt><dd>{p.revision}</dd>"
            f"<dt>Signatures</dt><dd>{trust}</dd>"
            f"<dt>Notices</dt><dd>at most {notify.max_per_hour} an hour; quiet hours {quiet}; "
            f"a snooze lasts at most {format_duration(notify.max_snooze)}</dd></dl>",
            f"<h3>Sources, lowest first (later ones win)</h3><ol>{layers}</ol>",
        ]
        if p.locked:
            out.append("<h3>Locked by an admin</h3><ul>")
            out.extend(
                f"<li><code>{_t(check)}</code> by {_t(source)}</li>"
                for check, source in p.locked.items()
            )
            out.append("</ul>")
        refusals = [r.sentence for r in p.refused] + [
            line for line in p.rejected if all(r.error not in line for r in p.refused)
        ]
        if refusals:
            out.append("<h3>Not applied as written</h3><ul>")
            out.extend(f"<li>{_t(line)}</li>" for line in refusals)
            out.append("</ul>")
        # A refusal is a warning too when the policy is read: said once, above.
        warnings = [w for w in p.warnings if all(r.error not in w for r in p.refused)]
        if warnings:
            out.append("<h3>Warnings</h3><ul>")
            out.extend(f"<li>{_t(line)}</li>" for line in warnings)
            out.append("</ul>")
        out.append(
            "<p>Every setting, with the file it came from: "
            f"{command_html('hygiene policy show')}.</p></section>"
        )
        return "".join(out)

    def catalogue(self) -> str:
        from agent.fleet import reported_fields  # noqa: PLC0415 - as report.catalogue

        report = self.policy.report
        asked = {
            "osquery SQLite": report.osquery,
            "JSON lines": report.jsonl,
            "Prometheus": report.prometheus_dir is not None,
        }
        fields = reported_fields(report.details, host=report.host is not None)
        reports = [f"{out}: {', '.join(names)}" for out, names in fields.items() if asked[out]]
        out = [
            _open_section("checks", "What each check reads and keeps"),
            "<p>Nothing is sent anywhere. ",
            (
                "What fleet tools read, from files on this computer: "
                + _t("; ".join(reports))
                + "."
                if reports
                else "No fleet report is written."
            ),
            "</p>",
        ]
        for check in self.known.values():
            params = self.policy.settings.get(check.id)
            enabled = params.enabled if params is not None else True
            severity = (params.severity if params is not None else None) or check.severity
            every = format_duration(params.every) if params is not None else ""
            reads = "".join(f"<li>{_t(item)}</li>" for item in check.reads)
            state = f"on, every {every}" if enabled else "off"
            out.append(
                f'<article class="check" id="about-{_t(check.id)}" '
                f'aria-labelledby="about-{_t(check.id)}-h">'
                f'<h3 id="about-{_t(check.id)}-h">{_t(check.title)}</h3>'
                f'<p class="meta"><code>{_t(check.id)}</code>: {state}, '
                f"{_t(severity.value)}</p>"
                f"<p>{_t(check.rationale)}</p>"
                f"<p><strong>Reads:</strong></p><ul>{reads}</ul>"
                f"<p><strong>Keeps:</strong> {_t(check.keeps)}</p></article>"
            )
        out.append("</section>")
        return "".join(out)


def _open_section(key: str, heading: str) -> str:
    return f'<section id="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{heading}</h2>'


def _listing(
    key: str,
    heading: str,
    items: Sequence[str],
    *,
    intro: str = "",
    empty: str = "",
    ordered: bool = False,
) -> str:
    """A section of list items (each a whole <li>), with their number in the heading."""
    out = _open_section(key, f"{heading} ({len(items)})")
    if not items:
        return f"{out}<p>{empty}</p></section>"
    tag = 'ol class="history"' if ordered else "ul"
    intro_html = f"<p>{intro}</p>" if intro else ""
    return f"{out}{intro_html}<{tag}>{''.join(items)}</{tag[:2]}></section>"


def _seconds(length: str) -> int:
    units = {"m": 60, "h": 3600, "d": 86400}
    return int(length[:-1]) * units[length[-1]]


_FOOTER = (
    "<footer><p>Written by hygiene-agent. The snooze links act only through "
    f"{command_html('hygiene open-url')}, and only those of the page written last: a link "
    f"copied elsewhere does nothing. Write this page again with {command_html('hygiene page')}."
    "</p></footer>"
)

_CSS = """
:root{--bg:#fff;--fg:#1a1a1a;--muted:#4d4d4d;--card:#f5f6f8;--line:#c9ced6;--code:#e9edf2;
--link:#0b57d0;--good:#146c2e;--bad:#b3261e;--warn:#7a4a00;--mark:#b3261e}
@media (prefers-color-scheme:dark){:root{--bg:#121417;--fg:#e8eaed;--muted:#b8bcc3;
--card:#1c1f24;--line:#3c4149;--code:#2a2f36;--link:#9ec1ff;--good:#7fd48f;--bad:#ff9c94;
--warn:#f3c26b;--mark:#ff9c94}}
*{box-sizing:border-box}
html{scroll-behavior:auto}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Noto Sans",sans-serif;overflow-wrap:anywhere}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem}
h1{font-size:1.75rem;margin:.5rem 0}
h2{font-size:1.35rem;margin:2rem 0 .5rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
h3{font-size:1.1rem;margin:1rem 0 .25rem}
h4{font-size:1rem;margin:0 0 .25rem}
.check h3{margin-top:0}
a{color:var(--link)}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.5rem 0}
.meta{color:var(--muted);font-size:.9rem}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em;
background:var(--code);border-radius:4px;padding:.05em .3em}
code.cmd{user-select:all;-webkit-user-select:all;border:1px solid var(--line);line-height:1.7;
display:inline-block;max-width:100%;overflow-x:auto;white-space:pre;vertical-align:bottom}
.group{border-left:4px solid var(--bad);padding-left:.75rem;margin:1rem 0}
.finding,.check{background:var(--card);border:1px solid var(--line);border-radius:6px;
padding:.75rem;margin:.75rem 0}
.finding p,.check p{margin:.35rem 0}
.finding:target,.group:target,li:target{outline:3px solid var(--mark);outline-offset:2px}
.sev{display:inline-block;border-radius:4px;padding:0 .4em;font-size:.8rem;font-weight:600;
text-transform:uppercase;color:#fff;background:#4d4d4d}
.sev-critical{background:#7f0000}.sev-high{background:#b3261e}.sev-medium{background:#7a4a00}
.sev-low{background:#1f4e79}
.actions{display:flex;flex-wrap:wrap;gap:.25rem .75rem;align-items:baseline}
.actions>*,dd,li{min-width:0;max-width:100%}
a.action{display:inline-block;padding:.1rem .6rem;border:1px solid var(--link);
border-radius:999px;text-decoration:none}
a.action:hover,a.action:focus{text-decoration:underline}
.good{color:var(--good)}.bad{color:var(--bad)}.warn{color:var(--warn)}
ol.history{padding-left:1.25rem}ol.history li{margin:.35rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dt{font-weight:600}dd{margin:0}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
footer{margin:2rem auto;color:var(--muted);font-size:.9rem}
@media (max-width:600px){h1{font-size:1.5rem}dl{grid-template-columns:1fr}dd{margin-bottom:.5rem}}
"""
