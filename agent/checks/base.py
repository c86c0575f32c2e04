"""What every check is: its metadata as class attributes, its settings as a plain dataclass
(agent.settings) that pydantic validates only where a policy is read."""

from __future__ import annotations

import inspect
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Protocol, TypeVar, cast

from agent.durations import format_duration
from agent.fingerprint import Fingerprinter
from agent.models import EvidenceValue, Finding, Severity
from agent.paths import Paths
from agent.settings import STRICT, Doc, Duration, Limit, Rule, settings

if TYPE_CHECKING:
    import subprocess

    from agent.store import CachedPath, TrustedNetwork


def _not_constantly(value: timedelta) -> timedelta:
    if value < timedelta(seconds=1):
        raise ValueError(f"a check runs at most every 1s, got {format_duration(value)!r}")
    return value


def _some_time(value: timedelta) -> timedelta:
    if value < timedelta(seconds=1):
        raise ValueError(f"a check needs at least 1s, got {format_duration(value)!r}")
    return value


# A check's own settings may give `every` and `timeout` defaults of their own, with these.
Every = Annotated[Duration, Rule(_not_constantly), Doc("How often the background agent runs it.")]
Timeout = Annotated[
    Duration,
    Rule(_some_time),
    Doc("A run that takes longer is reported as an error and the others go on."),
]


@settings
class CheckParams:
    """Settings every check takes. A check's own settings class extends this one."""

    enabled: Annotated[bool, STRICT, Doc("Run this check at all.")] = True
    severity: Annotated[
        Severity | None, Doc("Override how serious a failure of this check is.")
    ] = None
    every: Every = timedelta(hours=1)
    timeout: Timeout = timedelta(seconds=10)
    advice: Annotated[
        Annotated[str, Limit(max_length=1000)] | None,
        Doc("What to tell the person about this check; replaces the built-in advice."),
    ] = None


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


T = TypeVar("T")


class SharedFacts:
    """Facts that several checks of one run need, gathered once for that run.

    The engine gives each run of the checks a new one (run_checks), so a fact is never older
    than the run that asked for it. The checks run side by side, each in its own thread: the
    first to ask for a fact gathers it while the others wait for its answer (or its
    exception, raised again for each of them). `app_sessions` asks whether the home folder's
    disk is encrypted through the same key as `disk_encryption`, so the disks are looked at
    once per run however many checks want them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, ...], _Slot] = {}

    def once(self, key: tuple[str, ...], gather: Callable[[], T]) -> T:
        """The fact named `key`, from `gather` the first time it is asked for in this run."""
        with self._lock:
            slot = self._slots.get(key)
            first = slot is None
            if slot is None:
                slot = self._slots[key] = _Slot()
        if first:
            try:
                value = gather()
            except BaseException as err:
                slot.error = err
                raise
            else:
                slot.value = value
                return value
            finally:
                slot.done.set()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return cast("T", slot.value)


class _Slot:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None


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
    # Helper processes started before the policy was read (Check.start_early), by check id:
    # the check's run takes its own; started_early stops any that no run took.
    early: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Facts several checks share, gathered once per run (run_checks gives each run its own).
    facts: SharedFacts = field(default_factory=SharedFacts)


P = TypeVar("P", bound=CheckParams)


class Check(ABC, Generic[P]):
    id: ClassVar[str]
    title: ClassVar[str]
    topic: ClassVar[str] = ""  # what a list of problems calls it: "screen lock"
    severity: ClassVar[Severity]
    rationale: ClassVar[str]
    advice: ClassVar[str]
    reads: ClassVar[tuple[str, ...]]
    keeps: ClassVar[str]
    alert: ClassVar[str]  # a notification's title for one finding
    alert_many: ClassVar[str]  # ... and for several; "{n}" is their number
    # Titles by kind of finding: (its reason or the start of it, for one, for several "{n}").
    alerts: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    thanks_when_fixed: ClassVar[bool] = True  # a "Fixed, thank you" when a told one goes
    Params: ClassVar[type[CheckParams]] = CheckParams

    def __init__(self, params: P) -> None:
        self.params = params
        self.notes: list[str] = []
        # What a pass means this time, when the title would not be true ("no VPN is needed
        # on a network you trust" rather than "a VPN carries your traffic").
        self.passed: str | None = None

    def note(self, text: str) -> None:
        """Record something the check could not look at; shown beside its result."""
        self.notes.append(text)

    def cancel(self) -> None:
        """Called from another thread when the check's result is no longer waited for (the
        agent stops, or the check overran its timeout): a check that started a process ends
        it here, so that nothing it started outlives the wait. The thread itself cannot be
        stopped and is left to finish."""

    @classmethod
    def start_early(cls, paths: Paths, env: Mapping[str, str]) -> subprocess.Popen[bytes] | None:
        """Start what a run will need whatever its settings (a child process), so that it
        gets ready while the policy is still being read; the run finds it in `ctx.early`."""
        return None

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
        *,
        notice: str,
        **evidence: EvidenceValue,
    ) -> Finding:
        """A finding whose id depends on what is wrong and where, never on line numbers.
        `notice`: what a notification says of it alone (Finding.notice)."""
        return Finding(
            id=ctx.fingerprint(self.id, subject, reason),
            subject=subject,
            message=message,
            advice=advice,
            evidence={"reason": reason, **evidence},
            notice=notice,
        )


@contextmanager
def started_early(
    checks: Sequence[type[Check[Any]]], paths: Paths, env: Mapping[str, str]
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Each check's helper started now (Check.start_early), for the CheckContext's `early`;
    at the end, any helper that no run took (the check was disabled, or the policy refused)
    is stopped."""
    early = {}
    for check in checks:
        child = check.start_early(paths, env)
        if child is not None:
            early[check.id] = child
    try:
        yield early
    finally:
        # popitem: a check's thread left running past its timeout may still take its own.
        while early:
            _, child = early.popitem()
            child.kill()
            child.wait()
