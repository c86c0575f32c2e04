from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

from agent.checks import _updates_cache as cache
from agent.checks.base import Check, CheckContext, CheckParams, Every, Timeout
from agent.durations import roughly
from agent.errors import CheckSkipped, ProbeUnavailable
from agent.models import Finding, Severity
from agent.probes import PendingUpdate, Updates, updates
from agent.settings import STRICT, Doc, Duration, settings
from agent.text import printable
from agent.wording import clip

# What to do, by who was asked: install what waits, fetch the lists, turn on automatic
# updates, restart.
_INSTALL = {
    "apt": "Install them now: sudo apt upgrade (or the security ones alone: sudo "
    "unattended-upgrade).",
    "dnf": "Install them now: sudo dnf upgrade --security.",
    "zypper": "Install them now: sudo zypper patch --category security.",
    "Software Update": "Install them now: System Settings > General > Software Update.",
    "Windows Update": "Install them now: Settings > Windows Update > Install all.",
}
_REFRESH = {
    "apt": "Fetch them now: sudo apt update; unattended-upgrades (below) keeps them fresh.",
    "dnf": "Fetch them now: sudo dnf makecache; dnf-automatic keeps them fresh.",
    "zypper": "Fetch them now: sudo zypper refresh.",
    "Software Update": "Check now: System Settings > General > Software Update; turn on "
    "'Check for updates' under Automatic updates.",
    "Windows Update": "Check now: Settings > Windows Update > Check for updates.",
}
_AUTOMATIC = {
    "apt": "Turn them on: sudo apt install unattended-upgrades, then sudo dpkg-reconfigure "
    "-plow unattended-upgrades and answer Yes.",
    "dnf": "Turn them on: sudo dnf install dnf-automatic, set apply_updates = yes in "
    "/etc/dnf/automatic.conf, then sudo systemctl enable --now dnf-automatic.timer.",
    "zypper": "Turn them on: YaST > Software > Online Update Configuration > Automatic Online "
    "Update.",
    "Software Update": "Turn them on: System Settings > General > Software Update > "
    "Automatic updates: 'Install Security Responses and system files'.",
    "Windows Update": "Turn them on: Settings > Windows Update > Advanced options; if a "
    "policy of your organisation turned them off, ask its administrator.",
}
_RESTART = {
    "Software Update": "Restart when you can: Apple menu > Restart.",
    "Windows Update": "Restart when you can: Start > Power > Update and restart.",
}
_RESTART_LINUX = "Save your work and restart when you can (sudo reboot)."
_SHOWN = 3  # package names a message names before "and N more"


@settings
class UpdatesParams(CheckParams):
    # Asking apt runs a simulated upgrade, which reads every package list: seconds on a big
    # system without apt's binary cache. Unchanged lists are answered from the store.
    every: Every = timedelta(hours=1)
    timeout: Timeout = timedelta(seconds=60)
    max_pending_age: Annotated[
        Duration,
        Doc(
            "A security update may wait this long to be installed (and a restart this long "
            "after one) before it is reported; counted from when the agent first saw it "
            "waiting, or from when the package lists that offer it were fetched when that "
            "is earlier."
        ),
    ] = timedelta(days=3)
    max_list_age: Annotated[
        Duration,
        Doc(
            "Package lists (or the update catalog) fetched longer ago than this mean updates "
            "are not being checked for."
        ),
    ] = timedelta(days=7)
    require_automatic: Annotated[
        bool, STRICT, Doc("Report when security updates do not install by themselves.")
    ] = True


class UpdatesCheck(Check[UpdatesParams]):
    """Install security updates: every day a fix waits, the flaw it fixes is open.

    Most break-ins use flaws that were fixed long before: the update was there, it was not
    installed. The check asks the system's own package manager what it would install now,
    from what it already knows (it never fetches anything and never needs root), and which
    of that fixes security problems; whether the package lists are fetched at all; whether
    security updates install by themselves; and whether a restart is waiting for updates
    already installed. apt (Debian, Ubuntu), dnf (Fedora, RHEL), zypper (openSUSE),
    PackageKit's prepared updates, Software Update (macOS) and Windows Update.
    """

    id = "updates"
    topic = "security updates"
    title = "Security updates are installed"
    severity = Severity.high
    rationale = "A security update left waiting leaves the flaw it fixes open to attack."
    advice = (
        "Install security updates within days, let them install by themselves, and restart "
        "when an update asks for it."
    )
    reads = (
        "Linux: apt's settings (apt-config), the suite and label of each source's Release "
        "file, what the security sources would upgrade (apt list --upgradable on their "
        "lists alone, or apt-get -s upgrade: package names and versions), the dates of apt's "
        "package lists, whether unattended-upgrades is installed (dpkg's status file), "
        "/run/reboot-required and its list of packages; or dnf's and zypper's cached "
        "security advisories, dnf-automatic's settings, PackageKit's prepared update",
        "macOS: the Software Update preferences (recommended updates, the last successful "
        "check, the automatic-update settings); Windows: the update agent's cached search "
        "(no new search), the last successful check and the automatic-update policy",
        "what an earlier run kept (the store)",
    )
    keeps = (
        "the names and versions of packages with updates waiting and when each was first "
        "seen waiting, when the lists were fetched, whether updates install by themselves "
        "and whether a restart waits; the dates of the package manager's files, to know "
        "when to ask it again"
    )
    alert = "Security updates are waiting"
    alert_many = "Updates need your attention ({n} problems)"
    alerts = (
        (
            "security updates waiting",
            "Security updates are waiting",
            "Security updates are waiting ({n} problems)",
        ),
        ("lists not fetched", "Updates are not being checked for", "Updates are not checked ({n})"),
        (
            "not automatic",
            "Security updates do not install by themselves",
            "Automatic updates are off ({n} problems)",
        ),
        ("restart waiting", "A restart is waiting for updates", "Restarts are waiting ({n})"),
        (
            "downloaded updates waiting",
            "Downloaded updates wait for a restart",
            "Downloaded updates wait for a restart ({n})",
        ),
    )
    Params = UpdatesParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        now = datetime.now(UTC)
        remembered = cache.read(ctx)
        if remembered.problem:
            self.note(f"what earlier runs saw could not be read: {remembered.problem}")
        kept = remembered.answer()
        found = kept if kept is not None else self._ask(ctx)
        for problem in found.problems:
            self.note(f"{problem}.")  # program names keep their case: "apt has no ..."
        before = remembered.since()
        # A listing that failed says nothing of what waits: the clocks are kept as they are.
        since = cache.known_since(found.pending, before, now) if found.listed else before
        if since != before or kept is None:
            trouble = cache.keep(ctx, found, since, remembered)
            if trouble:
                self.note(f"what was seen could not be kept for next time: {trouble}")
        # Only updates left waiting are high; the rest leave the door ajar, not open.
        lesser = [
            *self._lists(ctx, found, now),
            *self._automatic(ctx, found),
            *self._restart(ctx, found, now),
            *self._prepared(ctx, found, now),
        ]
        findings = [
            *self._waiting(ctx, found, since, now),
            *(replace(f, severity=Severity.medium) for f in lesser),
        ]
        if not found.listed and not findings:
            # Never "security updates are installed" when what waits was not seen.
            self.passed = (
                f"nothing else needs doing, but what {found.manager} would install could not "
                "be told (see the note)"
            )
        return findings

    def _ask(self, ctx: CheckContext) -> Updates:
        # Each command gets the check's time less a margin, so that a tool that hangs is
        # stopped and said in a note before the whole run is given up.
        seconds = max(1.0, self.params.timeout.total_seconds() - 2)
        try:
            return updates(ctx.env, seconds)
        except ProbeUnavailable as err:
            raise CheckSkipped(str(err).rstrip(".")) from None

    @staticmethod
    def _subject(found: Updates) -> str:
        # "apt updates"; the update services' own names stand alone ("Windows Update").
        packages = found.manager in ("apt", "dnf", "zypper")
        return f"{found.manager} updates" if packages else found.manager

    def _waiting(
        self, ctx: CheckContext, found: Updates, since: dict[str, datetime], now: datetime
    ) -> list[Finding]:
        security = [p for p in found.pending if p.security]
        if not security:
            return []
        limit = self.params.max_pending_age
        ages = {cache.key(p): self._waited(p, since, found, now) for p in security}
        late = [p for p in security if ages[cache.key(p)] > limit]
        install = _INSTALL.get(found.manager, "Install them now with your system's updater.")
        if not late:
            n = len(security)
            # Only a lower bound is known: they may have waited longer than this run can tell.
            self.passed = (
                f"{_count(n, 'security update')} {'waits' if n == 1 else 'wait'}, seen "
                f"waiting for less than {roughly(limit)} so far: {install[0].lower()}{install[1:]}"
            )
            return []
        oldest = max(ages[cache.key(p)] for p in late)
        names = _names(late)
        n = len(late)
        have = "has" if n == 1 else "have"
        return [
            self.finding(
                ctx,
                self._subject(found),
                "security updates waiting",
                f"{_count(n, 'security update')} {have} waited more than {roughly(limit)} to "
                f"be installed ({names}; the oldest at least {roughly(oldest)}): the flaws "
                f"they fix are open on this computer until then.",
                install,
                notice=f"{_count(n, 'security update')} ({clip(names, 60)}) {have} waited at "
                f"least {roughly(oldest)}. {install}",
                count=n,
                waited_days=oldest.days,
            )
        ]

    @staticmethod
    def _waited(
        update: PendingUpdate, since: dict[str, datetime], found: Updates, now: datetime
    ) -> timedelta:
        # At least since the agent first saw it, and at least since the lists that offer it
        # were fetched (it was in them then): the longer of the two is still a lower bound.
        first = since.get(cache.key(update), now)
        if found.checked is not None:
            first = min(first, found.checked)
        return max(now - first, timedelta(0))

    def _lists(self, ctx: CheckContext, found: Updates, now: datetime) -> list[Finding]:
        if found.checked is None:
            return []
        age = now - found.checked
        if age <= self.params.max_list_age:
            return []
        what = (
            "package lists were"
            if found.manager in ("apt", "dnf", "zypper")
            else ("update catalog was")
        )
        refresh = _REFRESH.get(found.manager, "Check for updates now.")
        return [
            self.finding(
                ctx,
                self._subject(found),
                "lists not fetched",
                f"The {what} last fetched {roughly(age)} ago: security updates published "
                "since are not known on this computer, so they cannot be installed.",
                refresh,
                notice=f"Updates were last checked for {roughly(age)} ago. {refresh}",
                days=age.days,
            )
        ]

    def _automatic(self, ctx: CheckContext, found: Updates) -> list[Finding]:
        if not self.params.require_automatic or found.manager == "PackageKit":
            return []
        if found.automatic is None:
            if found.automatic_how:
                self.note(f"Whether updates install by themselves: {found.automatic_how}.")
            return []
        if found.automatic:
            return []
        turn_on = _AUTOMATIC.get(found.manager, "Turn on automatic security updates.")
        return [
            self.finding(
                ctx,
                self._subject(found),
                "not automatic",
                f"Security updates do not install by themselves ({found.automatic_how}): "
                "each one waits until someone installs it.",
                turn_on,
                notice=f"Security updates do not install by themselves. {turn_on}",
            )
        ]

    def _restart(self, ctx: CheckContext, found: Updates, now: datetime) -> list[Finding]:
        if not found.restart:
            return []
        waited = now - found.restart_since if found.restart_since is not None else None
        if waited is not None and waited <= self.params.max_pending_age:
            self.note(f"A restart is waiting for updates installed {roughly(waited)} ago.")
            return []
        for_what = f" ({_names(found.restart_for)})" if found.restart_for else ""
        since = f" for {roughly(waited)}" if waited is not None else ""
        restart = _RESTART.get(found.manager, _RESTART_LINUX)
        return [
            self.finding(
                ctx,
                "this computer",
                "restart waiting",
                f"Updates already installed{for_what} have waited{since} for a restart: "
                "until then the old, flawed code is still what runs.",
                restart,
                notice=f"Installed updates wait for a restart{since}. {restart}",
            )
        ]

    def _prepared(self, ctx: CheckContext, found: Updates, now: datetime) -> list[Finding]:
        if not found.prepared or found.prepared_since is None:
            return []
        waited = now - found.prepared_since
        if waited <= self.params.max_pending_age:
            return []
        n = found.prepared
        return [
            self.finding(
                ctx,
                "this computer",
                "downloaded updates waiting",
                f"{_count(n, 'downloaded update')} {'has' if n == 1 else 'have'} waited "
                f"{roughly(waited)} for a restart to be installed.",
                "Restart to install them: 'Restart & Update' in Software (or Discover), or "
                "pkcon offline-trigger and then restart.",
                notice=f"{_count(n, 'downloaded update')} wait for a restart. Restart & Update.",
                count=n,
            )
        ]


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _names(items: tuple[str, ...] | list[PendingUpdate] | tuple[PendingUpdate, ...]) -> str:
    names = [printable(i.name if isinstance(i, PendingUpdate) else i) for i in items]
    shown = ", ".join(names[:_SHOWN])
    more = len(names) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
