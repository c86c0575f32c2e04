"""The policy in force, as plain data: what the agent runs by once a policy is read.

No pydantic here (agent.settings says why): agent.policy reads and validates the files
and builds these; the resident agent gets them from its policy child (agent.policy_child)
and only reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from agent.settings import STRICT, Doc, Duration, Limit, Rule, Text, settings
from agent.snooze_limits import SnoozeLimits

if TYPE_CHECKING:
    from agent.checks.base import CheckParams

MAX_SOURCES = 20  # policy sources pulled, all admin files' together
LogLevel = Literal["error", "warning", "info", "debug"]


class LayerInfo(NamedTuple):
    """One policy layer as the agent read it, for `policy show` and the fleet reports."""

    source: str
    level: str  # "default" | "user" | "admin"
    name: str | None
    revision: int | None
    sha256: str = ""  # of the file's bytes as read
    signer: str | None = None  # the id of the key whose signature was taken (admin files)


class Level(IntEnum):
    default = 0
    user = 1
    admin = 2


EXCEPTION_DAYS = 90  # an exception ends at most this many days after the policy is read
MAX_EXCEPTIONS = 100
_PLAIN = r"^[^\x00-\x1f\x7f]*$"


def _within_reach(value: date) -> date:
    latest = date.today() + timedelta(days=EXCEPTION_DAYS)
    if value > latest:
        raise ValueError(
            f"an exception ends at most {EXCEPTION_DAYS} days ahead (by {latest.isoformat()}), "
            f"got {value.isoformat()}"
        )
    return value


def _words(value: str) -> str:
    if not value.strip():
        raise ValueError("a reason is needed, in words, not only spaces")
    return value


@settings
class ExceptionRule:
    """Admin files only: a finding the person is not told about until a date, and why."""

    check: Annotated[
        str, Limit(pattern=r"^[a-z][a-z0-9_]{0,63}$"), Doc("The check's id, such as ssh_keys.")
    ]
    finding: Annotated[
        Annotated[str, Limit(pattern=r"^[0-9a-f]{8,64}$")] | None,
        Doc("One finding's id, as `hygiene status --json` shows it; or give subject."),
    ] = None
    subject: Annotated[
        Annotated[str, Limit(min_length=1, max_length=200, pattern=_PLAIN)] | None,
        Doc(
            "The findings whose subject matches this pattern (*, ? and [...]), as `hygiene "
            'status` writes subjects, such as "~/.ssh/ci_*".'
        ),
    ] = None
    until: Annotated[
        date,
        Rule(_within_reach),
        Doc(f"The last day it holds (YYYY-MM-DD), at most {EXCEPTION_DAYS} days ahead."),
    ]
    reason: Annotated[
        str,
        Limit(min_length=1, max_length=200, pattern=_PLAIN),
        Rule(_words),
        Doc("Why, in a few words (at most 200 characters): shown to the person and reported."),
    ]


@dataclass(frozen=True)
class Refusal:
    """A policy file the agent does not apply as it is now, and what stays in its place."""

    error: str  # the PolicyError sentence
    kept: bool  # its last good copy stays in force; else the file is left out
    source: str = ""  # the file, as layers name it

    @property
    def sentence(self) -> str:
        if self.kept:
            return f"{self.error}; its last good copy stays in force"
        return f"{self.error}; it is left out until it is mended (no earlier copy of it was good)"


# --- when to tell the person (read by agent.nudge) ---------------------------------

_HOURS = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def _quiet_hours(value: Any) -> tuple[time, time]:
    if isinstance(value, tuple):
        return value
    match = _HOURS.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'expected hours such as "22:00-08:00", got {value!r}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(h2, m2)


def _hours_text(value: tuple[time, time]) -> str:
    return f"{value[0]:%H:%M}-{value[1]:%H:%M}"


QuietHours = Annotated[
    tuple[time, time],
    Text(
        _quiet_hours,
        _hours_text,
        {"type": "string", "pattern": r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$"},
    ),
]


class _PerSeverity:
    """A duration per severity; None means never. Info findings are never notified."""

    def of(self, severity: str) -> timedelta | None:
        value: timedelta | None = getattr(self, severity, None)
        return value


@settings
class Grace(_PerSeverity):
    critical: Duration | None = timedelta(0)
    high: Duration | None = timedelta(0)
    medium: Duration | None = timedelta(hours=1)
    low: Duration | None = timedelta(days=1)


@settings
class Remind(_PerSeverity):
    critical: Duration | None = timedelta(hours=1)
    high: Duration | None = timedelta(hours=4)
    medium: Duration | None = timedelta(days=1)
    low: Duration | None = timedelta(days=7)


@settings
class NotifySettings:
    grace: Annotated[
        Grace, Doc("How long a finding must last before the first notice, per severity.")
    ] = field(default_factory=Grace)
    remind: Annotated[Remind, Doc("How often to remind while it is not fixed, per severity.")] = (
        field(default_factory=Remind)
    )
    quiet_hours: Annotated[
        QuietHours | None, Doc('Local hours with no notices, such as "22:00-08:00".')
    ] = None
    critical_breaks_quiet: Annotated[
        bool, Doc("Critical findings are notified during quiet hours too.")
    ] = True
    max_per_hour: Annotated[
        int, Limit(ge=1, le=3600), Doc("At most this many notices an hour.")
    ] = 4
    max_snooze: Annotated[Duration, Doc("The longest a person may snooze a finding.")] = timedelta(
        days=7
    )
    thank_you: Annotated[bool, Doc("A short notice when a high or critical finding is fixed.")] = (
        True
    )
    escalate_after: Annotated[
        Duration | None,
        Doc("Findings older than this are notified with more urgency; null: never."),
    ] = timedelta(days=7)


def _source_url(value: str) -> str:
    if not value.startswith(("https://", "file://")) or any(c.isspace() for c in value):
        raise ValueError(f"a source is an https:// or file:// address, got {value!r}")
    return value


def _absolute(value: str) -> str:
    if not Path(value).is_absolute():
        raise ValueError(f"a folder for node_exporter is an absolute path, got {value!r}")
    return value


@settings
class SourcesSettings:
    """Admin files only: policies pulled from elsewhere, laid over the admin folder's."""

    urls: Annotated[
        list[Annotated[str, Rule(_source_url)]],
        Limit(max_length=MAX_SOURCES),
        Doc(f"https:// or file:// addresses (all admin files' together, at most {MAX_SOURCES})."),
    ] = field(default_factory=list)
    every: Annotated[Duration, Doc("How often to ask each source for changes.")] = timedelta(
        hours=1
    )


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})")


def _host_name(value: str) -> str:
    if not _HOST.fullmatch(value):
        raise ValueError(
            "a host name is 1 to 63 letters, digits, dots, hyphens or underscores, starting "
            f"with a letter or digit, got {value!r}"
        )
    return value


@settings
class ReportSettings:
    """Admin files only: what the agent writes for the fleet tools admins already run."""

    details: Annotated[
        bool,
        STRICT,
        Doc("Also report each finding's subject and message (status only otherwise)."),
    ] = False
    osquery: Annotated[bool, STRICT, Doc("Keep report/hygiene.db for osquery (ATC).")] = True
    jsonl: Annotated[bool, STRICT, Doc("Append changes to report/events.jsonl.")] = True
    prometheus_dir: Annotated[
        Annotated[str, Rule(_absolute)] | None,
        Doc("node_exporter's textfile folder (made by the admin) for hygiene-<uid>.prom."),
    ] = None
    host: Annotated[
        Annotated[str, Rule(_host_name)] | None,
        Doc(
            'A name for this device in each JSON lines event (its "host" field); the '
            "machine's own name is never written."
        ),
    ] = None


@dataclass(frozen=True)
class Policy:
    """The policy in force: every known check's settings and the file each setting came from."""

    name: str
    revision: int
    sources: list[str]
    locked: dict[str, str]
    settings: dict[str, CheckParams]
    origins: dict[str, dict[str, str]]
    notify: NotifySettings = field(default_factory=NotifySettings)
    notify_origins: dict[str, str] = field(default_factory=dict)
    admin_notify: NotifySettings = field(default_factory=NotifySettings)  # no user layer's
    warnings: list[str] = field(default_factory=list)
    log_level: LogLevel = "info"
    log_level_origin: str | None = None
    pull: SourcesSettings = field(default_factory=SourcesSettings)  # the admins' `sources:`
    report: ReportSettings = field(default_factory=ReportSettings)
    exceptions: list[ExceptionRule] = field(default_factory=list)  # the admins' `exceptions:`
    # How admin policies are trusted: "signed" (keys installed) or "unsigned".
    trust: str = "unsigned"
    rejected: list[str] = field(default_factory=list)  # policies refused, one sentence each
    refused: list[Refusal] = field(default_factory=list)  # of them, the files not applied
    layers: list[LayerInfo] = field(default_factory=list)  # each layer as read, lowest first
    # What an admin should know about the policy: (kind, sentence), kind "rejected" (an admin
    # file or source refused) or "user_file_refused" (no sentence: the person's own file).
    problems: list[tuple[str, str | None]] = field(default_factory=list)

    def level_of(self, source: str) -> str:
        """The level ("default", "user", "admin") of the layer named `source`."""
        return next((la.level for la in self.layers if la.source == source), "default")

    def skip_reason(self, check: str) -> str:
        """Why a check turned off is off: "disabled_by_user" when a user file turned it off,
        else "disabled_by_admin" (an admin file, or the built-in default the admin keeps)."""
        origin = self.origins.get(check, {}).get("enabled")
        if origin is not None and self.level_of(origin) == "user":
            return "disabled_by_user"
        return "disabled_by_admin"

    def snooze_limits(self) -> SnoozeLimits:
        return SnoozeLimits(
            longest=self.notify.max_snooze,
            admin_longest=self.admin_notify.max_snooze,
            locked=dict(self.locked),
        )

    def snooze_limit(self, check: str | None) -> timedelta:
        return self.snooze_limits().limit(check)
