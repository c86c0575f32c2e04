"""`hygiene run`: the background agent.

Each check runs at its own `every` (a `schedule` job that marks it due); the checks due
together run side by side, their results go to the store, and the nudge decides what to
tell. Between jobs the process sleeps in select() on two things only: a pipe that signal
handlers write to (SIGTERM and SIGINT stop, SIGHUP reloads the policy) and the session-bus
socket on which the notification server reports what the person did with a notice.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import functools
import hashlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import schedule

from agent import __version__, wording
from agent.admin_layers import (
    note_pull_errors,
    note_report_errors,
    pull_errors,
    recorded_rejections,
    report_errors,
    url_key,
)
from agent.checks.base import Check, CheckContext
from agent.cycle import send, tell
from agent.durations import format_duration
from agent.engine import run_checks
from agent.errors import AgentError, clause
from agent.fingerprint import Fingerprinter
from agent.fleet import AgentFacts, Outputs, home_free
from agent.instance import InstanceLock
from agent.links import PAGE_FILE
from agent.models import CheckResult, Finding, Severity, Status
from agent.notify import (
    Answer,
    Backend,
    BusSession,
    Notification,
    default_backends,
)
from agent.nudge import SUMMARY
from agent.opener import open_with_default, opener_name
from agent.page import check_anchor, finding_anchor, write_page
from agent.paths import Paths, builtin_policy_path
from agent.policy_child import ReaderTimedOut, load_apart
from agent.policy_settings import Policy
from agent.store import Change, NotificationRecord, Store
from agent.store.notifications import OPENED, POLICY_REFUSED
from agent.text import printable

if TYPE_CHECKING:
    from agent.sources import Pulled  # agent.sources loads only when an admin names sources

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

SOURCE_LOOK_SECONDS = 60.0
PULL_DEADLINE = 30.0  # seconds for one pull of a source, all told (connect, TLS, answer)
POLICY_POLL_SECONDS = 5.0
# Wall-clock time moving this much more or less than the monotonic clock is a suspend and
# resume, or the time being set.
CLOCK_JUMP_SECONDS = 30.0
SNOOZE_ACTION = "snooze-1d"
DETAILS_ACTION = "details"
SNOOZE_LENGTH = dt.timedelta(days=1)
DISMISSED = 2  # NotificationClosed reason: closed by the person
LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}


UNCHANGED_REWRITE_SECONDS = 600.0
# The fleet reports' heartbeat is written every cycle, and at least this often without one.
HEARTBEAT_SECONDS = 300.0


def _outcome(result: CheckResult) -> tuple[object, ...]:
    findings = tuple((f.id, f.subject, f.message, f.advice) for f in result.findings)
    return (result.status, result.error, result.severity, findings)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClockWatch:
    """Notices when wall-clock time jumps against the monotonic clock."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tolerance: float = CLOCK_JUMP_SECONDS,
    ) -> None:
        self._wall, self._monotonic, self._tolerance = wall, monotonic, tolerance
        self._last = (wall(), monotonic())

    def jump(self) -> float | None:
        """Seconds the wall clock moved beyond the time that passed, since the last call."""
        now = (self._wall(), self._monotonic())
        moved = (now[0] - self._last[0]) - (now[1] - self._last[1])
        self._last = now
        return moved if abs(moved) > self._tolerance else None


@dataclass
class _Wakeup:
    """A socket pair that signal handlers write to, so select() returns at once."""

    reader: socket.socket
    writer: socket.socket
    old_handlers: dict[int, Any] = field(default_factory=dict)
    old_fd: int = -1

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self.reader.recv(512):
                pass


def report_to_fleet(
    outputs: Outputs,
    policy: Policy,
    results: Sequence[CheckResult],
    now: dt.datetime,
    paths: Paths,
) -> list[str]:
    """The fleet outputs the policy's `report:` asks for, with the agent's heartbeat (every
    call is one; `results` may be empty); what failed, one sentence each, also noted for
    `hygiene status`. Refused policy files are reported as the pseudo-check "policy":
    failing, one finding per refusal (its sentence leaves only when the admin asks for
    details), and in the agent's problems (an admin's file's sentence always)."""
    settings = policy.report
    problems = [
        (kind, None if sentence is None else home_free(sentence))
        for kind, sentence in policy.problems
    ]
    problems += [("pull_failed", home_free(error)) for error in pull_errors(paths)]
    agent = AgentFacts(
        version=__version__,
        uid=os.getuid() if hasattr(os, "getuid") else None,
        policy_name=policy.name,
        policy_revision=policy.revision,
        layers=policy.layers,
        problems=problems,
    )
    before = list(outputs.failures)
    failed = outputs.write(
        [*results, _refusals_result(policy)] if results else [],
        now,
        details=settings.details,
        osquery=settings.osquery,
        jsonl=settings.jsonl,
        prometheus_dir=Path(settings.prometheus_dir) if settings.prometheus_dir else None,
        host=settings.host,
        agent=agent,
    )
    if failed != before:
        # Noted for `hygiene status` when it changes, not read back and compared every cycle.
        note_report_errors(paths.state, [home_free(f) for f in failed])
    return failed


def _refusals_result(policy: Policy) -> CheckResult:
    findings = [
        Finding(
            id=hashlib.sha256(sentence.encode()).hexdigest()[:32],
            subject=printable(sentence),
            message="this policy is not applied as written",
            advice="Mend the file; `hygiene check` shows the error.",
        )
        for sentence in policy.rejected
    ]
    return CheckResult(
        check="policy",
        status=Status.fail if findings else Status.passed,
        severity=Severity.high,
        title="Every policy file is applied",
        advice="Mend the policy files named.",
        findings=findings,
    )


def pull_due(
    urls: Sequence[str],
    cache: Path,
    now: dt.datetime,
    every: dt.timedelta,
    *,
    deadline: float = PULL_DEADLINE,
    every_source: bool = False,
) -> bool:
    """Pull each source that is due, or `every_source` at once; True when one changed."""
    pulled = pull_sources(urls, cache, now, every, deadline=deadline, every_source=every_source)
    return any(p.changed for p in pulled.values())


def pull_sources(
    urls: Sequence[str],
    cache: Path,
    now: dt.datetime,
    every: dt.timedelta,
    *,
    deadline: float = PULL_DEADLINE,
    every_source: bool = False,
) -> dict[str, Pulled]:
    """Pull each source that is due (agent.sources keeps the backoff), or `every_source` at
    once (SIGHUP, `hygiene policy pull`), side by side, each within `deadline` seconds all
    told; what each pull did, by address. Each failure and change is logged and noted."""
    from agent.sources import due, pull_each, shown_url  # noqa: PLC0415 - only when an admin names sources

    outcome: dict[str, str | None] = {}
    wanted = [url for url in urls if every_source or due(url, cache, now, every)]
    done = pull_each(wanted, cache, now, deadline=deadline, every=every)
    for url, pulled in done.items():
        if pulled.error:
            log.warning("%s", pulled.error)
        elif pulled.changed:
            log.info("policy source %s changed", shown_url(pulled.url))
        outcome[url_key(url)] = pulled.error
    if outcome:
        note_pull_errors(cache.parent, outcome)
    return done


def policy_signature(paths: Paths) -> tuple[object, ...]:
    """What changes when a policy file is written, added, removed or replaced."""
    seen: list[object] = []
    for path in (builtin_policy_path(),):
        seen.append(_stat_of(path))
    keys = paths.admin_policies.parent / "keys"
    pulled = paths.state / "sources"
    for folder, suffixes in (
        (paths.user_policies, (".yaml", ".yml")),
        # A signature or a trusted key changes what is accepted as much as a policy does.
        (paths.admin_policies, (".yaml", ".yml", ".sig")),
        (keys, (".pub",)),
    ):
        seen.append(_stat_of(folder))
        try:
            names = sorted(
                p for p in folder.iterdir() if p.suffix in suffixes and not p.name.startswith(".")
            )
        except OSError as err:
            seen.append(err.errno)
            continue
        seen.extend(_stat_of(p) for p in names)
    with contextlib.suppress(OSError):
        for source in sorted(pulled.iterdir()):
            seen.extend(_stat_of(source / name) for name in ("policy.yaml", "policy.yaml.sig"))
    return tuple(seen)


def _stat_of(path: Path) -> object:
    try:
        info = path.stat()
    except OSError as err:
        return (str(path), err.errno)
    return (str(path), info.st_ino, info.st_size, info.st_mtime_ns)


class Agent:
    """One background agent. `run()` blocks until SIGTERM or SIGINT; `tick()` is one turn."""

    def __init__(
        self,
        *,
        paths: Paths,
        checks: Sequence[type[Check[Any]]],
        policy: Policy,
        load: Callable[[], Policy],
        store: Store,
        backends: Sequence[Backend],
        clock: Clock = _utc_now,
        platform: str = sys.platform,
        verbose: bool = False,
        poll_seconds: float = POLICY_POLL_SECONDS,
        pull_deadline: float = PULL_DEADLINE,
        source_look_seconds: float = SOURCE_LOOK_SECONDS,
        malloc: Malloc | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.paths = paths
        self.checks = list(checks)
        self.policy = policy
        self.load = load  # the policy in force, read afresh (agent.policy_child)
        self.store = store
        self.backends = list(backends)
        self.clock = clock
        self.platform = platform
        self.verbose = verbose
        self.poll_seconds = poll_seconds
        self.pull_deadline = pull_deadline
        self.source_look_seconds = source_look_seconds
        self.stopping = stopping or threading.Event()
        self.reload_requested = False
        self.pull_requested = False  # SIGHUP: pull every policy source at once
        self.scheduler = schedule.Scheduler()
        self.due: set[str] = set()
        # The checks reach the store through this one connection (agent.checks.base
        # CheckStore), never by opening it again.
        self.ctx = CheckContext(
            paths=paths,
            fingerprint=Fingerprinter.for_state_dir(paths.state),
            store=store,
        )
        self._abandoned: dict[str, threading.Thread] = {}
        self._last_status: dict[str, tuple[Status, str | None]] = {}
        self._recorded: dict[str, tuple[tuple[object, ...], float]] = {}
        self._signature: tuple[object, ...] | None = policy_signature(paths)
        self._next_poll = time.monotonic() + poll_seconds
        self._refused_signature: tuple[object, ...] | None = None
        self._clock_watch = ClockWatch()
        self._quiet_until = 0.0  # after a failed delivery, notices wait until then
        self._next_held: dt.datetime | None = None  # when the soonest held notice goes
        self._held_said: set[tuple[str, str, dt.datetime]] = set()  # the holds logged
        self._page_stale = True  # the "My device" page is rewritten at the end of the turn
        self._page_trouble: str | None = None  # why the page could not be written last
        self._page_retry: float | None = None  # monotonic: when a failed page is tried again
        self._snoozes_seen: dict[str, dt.datetime] | None = None
        self._next_snooze_look = 0.0  # monotonic
        self._store_trouble: str | None = None  # why the store could not be opened afresh
        self._openers: list[subprocess.Popen[bytes]] = []
        self._puller: threading.Thread | None = None
        self._fleet = Outputs(paths.state, failures=report_errors(paths))
        self._fleet_said: list[str] = []  # the report failures logged, said again on change
        self._next_heartbeat = 0.0  # monotonic: the fleet reports' heartbeat is due
        self._next_pull = 0.0  # monotonic; sources are looked at once a minute at most
        self._malloc = malloc or Malloc(platform)
        self._apply_log_level()
        self._schedule_all(run_now=[c.id for c in self.checks])
        self._cap_snoozes()

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        wakeup = self._install_signal_handlers()
        log.info(
            "started (process %d): policy %s, revision %d, %d checks",
            os.getpid(),
            self.policy.name,
            self.policy.revision,
            len(self.scheduler.jobs),
        )
        try:
            while not self.stopping.is_set():
                self.tick()
                if self.stopping.is_set():
                    break
                self._sleep(wakeup)
        finally:
            self._restore_signal_handlers(wakeup)
            self._fleet.close()
            for backend in self.backends:
                if isinstance(backend, BusSession):
                    backend.close()
        log.info("stopped")
        return 0

    def tick(self) -> None:
        """One turn: reload if asked or changed, run what is due, read the server's answers."""
        self._follow_store()
        self._pull_sources()
        if self.reload_requested or time.monotonic() >= self._next_poll:
            self.reload(force=self.reload_requested)
        moved = self._clock_watch.jump()
        if moved is not None:
            self._after_clock_jump(moved)
        self.scheduler.run_pending()
        if self.due and not self.stopping.is_set():
            due = sorted(self.due)
            self.due.clear()
            self._cycle(due)
            self._malloc.give_back()
        elif self._held_due() and not self.stopping.is_set():
            self._tell([], self.clock())
        if time.monotonic() >= self._next_heartbeat and not self.stopping.is_set():
            self._report([], self.clock())  # no check was due for a while: still alive
        self._read_answers()
        self._look_at_snoozes()
        if self._page_retry is not None and time.monotonic() >= self._page_retry:
            self._page_retry, self._page_stale = None, True
        if self._page_stale and self._page_retry is None and not self.stopping.is_set():
            self._write_page()
        self._openers = [p for p in self._openers if p.poll() is None]

    def _follow_store(self) -> None:
        """A store.db deleted, renamed or replaced under the agent: open the one at the path
        (or a fresh one) instead of writing on into a file nobody reads. One stat a turn."""
        if not self.store.replaced():
            return
        if self._store_trouble is None:
            log.warning(
                "the store %s was deleted or replaced while the agent ran; it is opened afresh",
                self.store.path,
            )
        try:
            self.store.reopen()
        except AgentError as err:
            if str(err) != self._store_trouble:
                log.error("%s", err)
            self._store_trouble = str(err)
            return
        self._store_trouble = None
        # Everything again, into the store now in use: a fresh one has no results yet.
        self._recorded.clear()
        self.due.update(c.id for c in self.checks if self.policy.settings[c.id].enabled)

    def _held_due(self) -> bool:
        if time.monotonic() < self._quiet_until:
            return False  # the notification server failed lately: not yet
        return self._next_held is not None and self.clock() >= self._next_held

    def _sleep(self, wakeup: _Wakeup) -> None:
        # The next policy look is never more than poll_seconds away (tick sets it).
        timeout = self._next_poll - time.monotonic()
        idle = self.scheduler.idle_seconds
        if idle is not None:
            timeout = min(timeout, idle)
        if self._next_held is not None:
            timeout = min(timeout, (self._next_held - self.clock()).total_seconds())
        timeout = max(0.0, timeout)
        readable: list[int] = [wakeup.reader.fileno()]
        for backend in self.backends:
            if isinstance(backend, BusSession) and (fd := backend.fileno()) is not None:
                readable.append(fd)
        with contextlib.suppress(InterruptedError):
            select.select(readable, [], [], timeout)
        wakeup.drain()

    # --- policy sources -----------------------------------------------------------------

    def _pull_sources(self) -> None:
        """Ask the admin's policy sources for changes, in a thread of its own: a slow server
        must not hold up the checks or the notification server's answers. Each pull has its
        deadline and pull_due returns within them, so the puller always ends and the next
        look happens."""
        urls = list(self.policy.pull.urls)
        now_wanted = self.pull_requested
        if not urls or (time.monotonic() < self._next_pull and not now_wanted):
            return
        if self._puller is not None and self._puller.is_alive():
            return
        self.pull_requested = False
        every = self.policy.pull.every
        # Looked at once a minute, or as often as `every` asks when that is more often.
        look = min(self.source_look_seconds, every.total_seconds())
        self._next_pull = time.monotonic() + look
        self._puller = threading.Thread(
            target=self._pull, args=(urls, every, now_wanted), name="pull", daemon=True
        )
        self._puller.start()

    def _pull(self, urls: Sequence[str], every: dt.timedelta, every_source: bool) -> None:
        cache = self.paths.state / "sources"
        changed = pull_due(
            urls,
            cache,
            self.clock(),
            every,
            deadline=self.pull_deadline,
            every_source=every_source,
        )
        if changed:
            self.reload_requested = True  # read by the loop's next turn

    # --- checks -------------------------------------------------------------------------

    def _schedule_all(self, run_now: Sequence[str]) -> None:
        self.scheduler.clear()
        for check in self.checks:
            params = self.policy.settings[check.id]
            if not params.enabled:
                # Not run, but said once (at the start, and when the policy changes it): the
                # fleet reports list a check turned off as skipped, and who turned it off.
                if check.id in run_now:
                    self.due.add(check.id)
                continue
            job = self.scheduler.every(int(params.every.total_seconds())).seconds
            job.do(self._mark_due, check.id)
            if check.id in run_now:
                self.due.add(check.id)

    def _mark_due(self, check_id: str) -> None:
        self.due.add(check_id)

    def _cycle(self, due: Sequence[str]) -> None:
        results = run_checks(
            self.policy,
            self.checks,
            self.ctx,
            only=due,
            abandoned=self._abandoned,
            cancel=self.stopping,
            today=self.clock().astimezone().date(),
        )
        if self.stopping.is_set():
            return  # a half-done audit is not recorded
        now = self.clock()
        fresh = [r for r in results if self._worth_recording(r)]
        try:
            changes = self.store.record_results(fresh, now)
        except AgentError as err:
            log.error("%s; the results are checked again next time", clause(err))
            return
        for result in fresh:
            self._recorded[result.check] = (_outcome(result), time.monotonic())
        self._log_results(results)
        # Every cycle: what changed (and every result now and then), else the heartbeat alone.
        self._report(results if fresh else [], now)
        if changes:
            self._page_stale = True
        for change in changes:
            finding = change.finding
            # The id last and alone, as `hygiene snooze` takes it: a colon or a comma after
            # it would be selected with it by a double click in many terminals.
            log.info(
                "%s: %s: %s (%s); id %s",
                finding.check,
                change.kind,
                finding.subject,
                finding.message,
                finding.id,
            )
        if time.monotonic() < self._quiet_until and not any(
            change.kind == "appeared" for change in changes
        ):
            return
        self._tell(changes, now)

    def _tell(self, changes: Sequence[Change], now: dt.datetime) -> None:
        try:
            told = tell(
                policy=self.policy,
                checks=self.checks,
                store=self.store,
                backends=self.backends,
                changes=changes,
                now=now,
            )
        except AgentError as err:
            log.error("%s; the notices are tried again next time", clause(err))
            return
        if told.sent or told.held_changed:
            self._page_stale = True
        for notice, record in told.sent:
            if record.delivered:
                log.info("told: %s (%s, via %s)", notice.title, notice.kind, record.backend)
                self._quiet_until = 0.0
            else:
                # Retried, but not every turn: a missing server would be tried every second.
                self._quiet_until = time.monotonic() + 300
                log.info("notices are tried again within 5m")
        for notice in told.dropped:
            log.info("not sent, with no room left this hour: %s (%s)", notice.title, notice.kind)
        # Each hold is said once, when it begins or its time changes.
        holds = {(h.check, h.reason, h.goes_at): h for h in told.held}
        for key, held in holds.items():
            if key not in self._held_said:
                log.info(
                    "held: %s (%s, %s); it goes at %s",
                    held.title,
                    held.check,
                    held.reason,
                    held.goes_at.astimezone().strftime("%H:%M"),
                )
        self._held_said = set(holds)
        soonest = min((h.goes_at for h in told.held), default=None)
        if soonest is not None and soonest <= now:
            soonest = now + dt.timedelta(minutes=1)  # never a busy loop on a hold misjudged
        self._next_held = soonest

    def _report(self, results: Sequence[CheckResult], now: dt.datetime) -> None:
        self._next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        failed = report_to_fleet(self._fleet, self.policy, results, now, self.paths)
        if failed != self._fleet_said:
            # Each failure once while it lasts (a cycle can come every few seconds).
            for problem in failed:
                log.error("%s", problem)
            self._fleet_said = failed

    def _worth_recording(self, result: CheckResult) -> bool:
        # A cheap check runs every few seconds; writing the same outcome each time would
        # keep the disk awake. Unchanged, it is written again only to refresh last_seen.
        last = self._recorded.get(result.check)
        return (
            last is None
            or last[0] != _outcome(result)
            or time.monotonic() - last[1] >= UNCHANGED_REWRITE_SECONDS
        )

    def _log_results(self, results: Sequence[CheckResult]) -> None:
        for result in results:
            before = self._last_status.get(result.check)
            self._last_status[result.check] = (result.status, result.error)
            if (result.status, result.error) == before:
                continue
            self._page_stale = True
            if result.status is Status.error:
                log.warning("%s: error: %s", result.check, result.error)
            else:
                log.info("%s: %s", result.check, result.status.value)

    def _after_clock_jump(self, moved: float) -> None:
        direction = "forward" if moved > 0 else "back"
        log.info(
            "the clock moved %s by %s (a suspend and resume, or the time was set); "
            "overdue checks run once",
            direction,
            format_duration(dt.timedelta(seconds=round(abs(moved)))),
        )
        now = dt.datetime.now()
        for job in self.scheduler.jobs:
            # After a jump back, a job can be due further ahead than its own interval.
            period = dt.timedelta(seconds=job.interval)
            if job.next_run is not None and job.next_run > now + period:
                job.next_run = now

    # --- policy -------------------------------------------------------------------------

    def reload(self, *, force: bool = False) -> bool:
        """Load the policy again if a file changed (or when forced); False if a file was
        refused (its last good copy, or the policy without it, is applied)."""
        self.reload_requested = False
        self._next_poll = time.monotonic() + self.poll_seconds
        signature = policy_signature(self.paths)
        if not force and signature == self._signature:
            return True
        self._signature = signature
        try:
            policy = self.load()
        except AgentError as err:
            if self.stopping.is_set():
                return True  # stopped while it was read: nothing was refused
            log.error(
                "the changed policy was not applied: %s; the last good one stays", clause(err)
            )
            if isinstance(err, ReaderTimedOut):
                self._signature = None  # a reader that hung once is tried again at the next look
            if signature != self._refused_signature:
                self._refused_signature = signature
                self._tell_policy_refused([str(err)])
            return False
        except Exception as err:  # noqa: BLE001 - whatever a file holds, the agent goes on
            # A bug met by some input, not the input's fault: the agent must not die of it.
            log.error(
                "the changed policy could not be read (%s, a fault in hygiene-agent); "
                "the last good one stays",
                type(err).__name__,
            )
            return False
        self._refused_signature = None
        known = {refusal.sentence for refusal in self.policy.refused}
        new = [refusal for refusal in policy.refused if refusal.sentence not in known]
        # One line per refusal: a new one is an error, one already said a warning again.
        fresh = {refusal.sentence for refusal in new}
        for warning in policy.warnings:
            if warning not in fresh:
                log.warning("%s", warning)
        for refusal in new:
            # Its sentence says what happens: its last good copy stays, or it is left out.
            log.error("the changed policy was not applied as written: %s", refusal.sentence)
        if new:
            self._tell_policy_refused([refusal.sentence for refusal in new])
        changed = [
            check.id
            for check in self.checks
            if policy.settings[check.id] != self.policy.settings[check.id]
        ]
        if policy.report != self.policy.report:
            # What the fleet reports carry changed: every result is written to them at the
            # next cycle, which is now, not when each would next be rewritten.
            self._recorded.clear()
            changed = [check.id for check in self.checks]
        self.policy = policy
        self._apply_log_level()
        self._schedule_all(run_now=changed)
        self._cap_snoozes()
        log.info(
            "policy loaded: %s, revision %d (%s)",
            policy.name,
            policy.revision,
            ", ".join(changed) + " changed" if changed else "no check changed",
        )
        return not new

    def _cap_snoozes(self) -> None:
        """Shorten the snoozes the policy in force no longer allows (say, of a check an admin
        has locked since): a snooze never outlasts its limit, made before the limit or not."""
        now = self.clock()
        ids = {check.id for check in self.checks}
        try:
            for target, until in self.store.snoozes(now).items():
                limit = self.policy.snooze_limit(self.store.check_of(target, ids))
                if until > now + limit:
                    self.store.snooze(target, now + limit, now)
                    log.info("snooze of %s shortened to %s", target, format_duration(limit))
        except AgentError as err:
            log.error("%s; snoozes are checked against the policy again next time", clause(err))

    def _tell_policy_refused(self, reasons: Sequence[str]) -> None:
        """One short notice; the whole sentences are in the log, `status` and the page. It
        is not one of the nudge's notices and does not count against their hourly cap."""
        if len(reasons) == 1:
            title = "A policy file was not applied"
            said = home_free(reasons[0].rstrip("."), self.paths.home)
            body = wording.clip(said, 150) + ". Details: hygiene status"
        else:
            title = f"{len(reasons)} policy files were not applied"
            body = "Each was refused as written. Details: hygiene status"
        notification = Notification(title=title, body=body, urgency="normal", actions=())
        with contextlib.suppress(AgentError):
            send(
                self.store,
                self.backends,
                notification,
                check="policy",
                kind=POLICY_REFUSED,
                finding_ids=(),
                at=self.clock(),
            )

    def _apply_log_level(self) -> None:
        level = logging.DEBUG if self.verbose else LOG_LEVELS.get(self.policy.log_level)
        logging.getLogger().setLevel(level or logging.DEBUG)
        # schedule logs every job it runs at debug; that is noise even then.
        logging.getLogger("schedule").setLevel(logging.WARNING)

    # --- what the person did with a notice ----------------------------------------------

    def _read_answers(self) -> None:
        for backend in self.backends:
            if isinstance(backend, BusSession):
                for answer in backend.answers():
                    try:
                        self._answer(backend.name, answer)
                    except AgentError as err:
                        log.error("%s", err)

    def _answer(self, backend: str, answer: Answer) -> None:
        record = self.store.by_server_id(backend, answer.server_id)
        if record is None:
            return  # not one of ours, or from before the store was reset
        now = self.clock()
        self._page_stale = True  # what the person did shows in the page's history
        if answer.action == SNOOZE_ACTION:
            self._snooze(record, now)
        elif answer.action == DETAILS_ACTION:
            self._open_details(record, now)
        elif answer.closed == DISMISSED:
            self.store.record_response(record, "dismissed it", now)

    def _snooze(self, record: NotificationRecord, now: dt.datetime) -> None:
        length = min(SNOOZE_LENGTH, self.policy.snooze_limit(record.check))
        targets = record.finding_ids or (record.check,)
        for target in targets:
            self.store.snooze(target, now + length, now)
        self.store.record_response(record, f"snoozed it for {format_duration(length)}", now)
        log.info("snoozed for %s: %s", format_duration(length), " ".join(targets))

    def _look_at_snoozes(self) -> None:
        """A snooze made or ended outside the agent (`hygiene snooze`, a link on the page), or
        one that ran out, changes the page: a small read every few seconds notices it."""
        if time.monotonic() < self._next_snooze_look:
            return
        self._next_snooze_look = time.monotonic() + self.poll_seconds
        try:
            snoozes = self.store.snoozes(self.clock())
        except AgentError:
            return  # the store's trouble is said where it is written
        if snoozes != self._snoozes_seen:
            self._page_stale = self._page_stale or self._snoozes_seen is not None
            self._snoozes_seen = snoozes

    def _write_page(self) -> Path | None:
        """Write the "My device" page afresh; None when it cannot be. A page that keeps
        failing is tried once a minute and said once, not every turn."""
        try:
            path = write_page(
                self.paths,
                store=self.store,
                policy=self.policy,
                checks=self.checks,
                now=self.clock(),
            )
        except (OSError, AgentError) as err:
            if isinstance(err, OSError):
                why = f"cannot write the page {self.paths.state / PAGE_FILE}: "
                why += (err.strerror or type(err).__name__).lower()
            else:
                why = clause(err)
            if why != self._page_trouble:
                log.error("%s; it is tried again each minute", why)
            self._page_trouble = why
            self._page_stale = False
            self._page_retry = time.monotonic() + 60
            return None
        if self._page_trouble is not None:
            log.info("the page is written again: %s", path)
        self._page_trouble = None
        self._page_stale = False
        return path

    def _open_details(self, record: NotificationRecord, now: dt.datetime) -> None:
        """The page, at the notice's first finding (a summary: at its top)."""
        path = self._write_page()
        if path is None:
            return
        if record.check == SUMMARY or not record.finding_ids:
            anchor = "" if record.check == SUMMARY else check_anchor(record.check)
        else:
            anchor = finding_anchor(record.finding_ids[0])
        try:
            opener = open_with_default(path, self.platform, anchor=anchor)
        except OSError as err:
            log.error(
                "cannot open the page with %s (%s); `hygiene status` shows the same",
                opener_name(self.platform),
                (err.strerror or type(err).__name__).lower(),
            )
            return
        if opener is not None:
            self._openers.append(opener)
        self.store.record_response(record, OPENED, now)
        log.info("opened the details: %s", path)

    # --- signals ------------------------------------------------------------------------

    def _install_signal_handlers(self) -> _Wakeup:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        wakeup = _Wakeup(reader, writer)
        wakeup.old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

        def stop(signum: int, frame: object) -> None:
            del frame
            log.info("%s received: stopping", signal.Signals(signum).name)
            self.stopping.set()

        def reload(signum: int, frame: object) -> None:
            del signum, frame
            self.reload_requested = True
            self.pull_requested = True  # and every policy source, at once

        wanted: list[tuple[int, Callable[[int, Any], None]]] = [
            (signal.SIGTERM, stop),
            (signal.SIGINT, stop),
        ]
        if hasattr(signal, "SIGHUP"):
            wanted.append((signal.SIGHUP, reload))
        for signum, handler in wanted:
            wakeup.old_handlers[signum] = signal.signal(signum, handler)
        return wakeup

    def _restore_signal_handlers(self, wakeup: _Wakeup) -> None:
        for signum, handler in wakeup.old_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(wakeup.old_fd)
        wakeup.reader.close()
        wakeup.writer.close()


class Malloc:
    """What the agent asks of glibc's malloc (Linux only; elsewhere each call does nothing).

    - One arena instead of glibc's eight per core: each check runs in a thread of its own,
      and every thread that allocates would otherwise get an arena of its own, holding freed
      memory the agent never gives back (bench/footprint.py: 40.7 MB peak with, 39.7 without).
      The checks spend their time waiting, so sharing one arena costs nothing measurable.
    - After each audit (the first comes with start-up), the freed pages go back to the
      system (malloc_trim): glibc keeps them otherwise, and start-up's and an audit's passing
      garbage would stay resident until the agent stops (bench/footprint.py: RSS at rest).
    """

    def __init__(self, platform: str) -> None:
        self._libc: ctypes.CDLL | None = None
        if platform == "linux":
            with contextlib.suppress(OSError):
                self._libc = ctypes.CDLL(None)

    def one_arena(self) -> None:
        with contextlib.suppress(AttributeError):
            if self._libc is not None:
                self._libc.mallopt(ctypes.c_int(-8), ctypes.c_int(1))  # M_ARENA_MAX

    def give_back(self) -> None:
        with contextlib.suppress(AttributeError):
            if self._libc is not None:
                self._libc.malloc_trim(ctypes.c_size_t(0))


@contextlib.contextmanager
def running_agent(
    *,
    paths: Paths,
    checks: Sequence[type[Check[Any]]],
    env: Mapping[str, str],
    clock: Clock = _utc_now,
    platform: str = sys.platform,
    verbose: bool = False,
) -> Iterator[Agent]:
    """The lock, the policy and the store an agent needs, held for as long as it runs.

    Raises AlreadyRunning, PolicyError or StoreError, each one sentence, before it starts.
    """
    malloc = Malloc(platform)
    malloc.one_arena()
    with InstanceLock(paths.state):
        told = set(recorded_rejections(paths))  # said by the last run already
        # A broken file never stops the agent: its last good copy is applied, or the
        # policy without it, and the refusal is said (log, status, a notice, fleet reports).
        # Read apart, so that validating it leaves nothing in the agent's memory.
        stopping = threading.Event()
        ids = [check.id for check in checks]
        load = functools.partial(load_apart, paths, ids, env, cancel=stopping)
        policy = load()
        for warning in policy.warnings:
            log.warning("%s", warning)
        with Store.open(paths.state, agent=True) as store:
            agent = Agent(
                paths=paths,
                checks=checks,
                policy=policy,
                load=load,
                store=store,
                backends=default_backends(env, platform, resident=True),
                stopping=stopping,
                clock=clock,
                platform=platform,
                verbose=verbose,
                malloc=malloc,
            )
            new = [r.sentence for r in policy.refused if r.sentence not in told]
            if new:
                agent._tell_policy_refused(new)
            yield agent
