"""Runs checks. Each check is its own boundary: a crash or a hang is that check's error only."""

from __future__ import annotations

import dataclasses
import logging
import sysconfig
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from agent import exceptions
from agent.checks.base import Check, CheckContext, CheckParams, SharedFacts
from agent.errors import AgentError, CheckSkipped
from agent.models import CheckResult, Finding, Status
from agent.policy_settings import Policy

log = logging.getLogger(__name__)


@dataclass
class _Run:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed: str | None = None
    skipped: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    instance: Check[Any] | None = None


def run_checks(
    policy: Policy,
    checks: Sequence[type[Check[Any]]],
    ctx: CheckContext,
    only: Sequence[str] = (),
    *,
    abandoned: dict[str, threading.Thread] | None = None,
    cancel: threading.Event | None = None,
    today: date | None = None,
) -> list[CheckResult]:
    """Run the selected checks side by side, each within its own timeout.

    `abandoned` is for a caller that runs checks again and again (the background agent): a
    check that overran its timeout is kept there and not started again while it still runs.
    `cancel` stops the waiting early; the checks not finished by then are reported as errors.
    The admin policy's exceptions in force `today` (this computer's date by default) are laid
    over the findings (agent.exceptions).
    """
    selected = [c for c in checks if not only or c.id in only]
    # Facts shared between the checks (the disks, ...) are gathered afresh for each run.
    ctx = dataclasses.replace(ctx, facts=SharedFacts())
    started: list[tuple[type[Check[Any]], CheckParams, _Run, float]] = []
    results: dict[str, CheckResult] = {}
    for check in selected:
        params = policy.settings[check.id]
        if not params.enabled:
            where = policy.origins[check.id].get("enabled", "the policy")
            results[check.id] = _result(
                check,
                params,
                Status.skip,
                notes=[f"disabled by {where}"],
                skip_reason=policy.skip_reason(check.id),
            )
            continue
        stuck = abandoned.get(check.id) if abandoned is not None else None
        if stuck is not None and stuck.is_alive():
            results[check.id] = _result(
                check,
                params,
                Status.error,
                error="its previous run is still going after its timeout; not started again",
            )
            continue
        run = _Run()
        # Daemon threads: a check stuck in a system call cannot be killed, only abandoned.
        thread = threading.Thread(
            target=_run_one, args=(check, params, ctx, run), name=f"check-{check.id}", daemon=True
        )
        thread.start()
        run.thread = thread
        started.append((check, params, run, time.monotonic() + params.timeout.total_seconds()))

    for check, params, run, deadline in started:
        if not _wait(run.done, deadline, cancel):
            if run.instance is not None:
                run.instance.cancel()
            if cancel is not None and cancel.is_set():
                results[check.id] = _result(
                    check, params, Status.error, error="stopped before it finished"
                )
                continue
            seconds = params.timeout.total_seconds()
            log.warning("%s did not finish within %gs and was abandoned", check.id, seconds)
            if abandoned is not None and run.thread is not None:
                abandoned[check.id] = run.thread
            results[check.id] = _result(
                check, params, Status.error, error=f"did not finish within {seconds:g}s"
            )
        elif run.error is not None:
            results[check.id] = _result(
                check, params, Status.error, error=run.error, notes=run.notes
            )
        elif run.skipped is not None:
            results[check.id] = _result(
                check, params, Status.skip, notes=[run.skipped], skip_reason="not_applicable"
            )
        else:
            status = Status.fail if run.findings else Status.passed
            results[check.id] = _result(
                check,
                params,
                status,
                findings=run.findings,
                notes=run.notes,
                passed=run.passed if status is Status.passed else None,
            )
    if policy.exceptions:
        day = today or date.today()
        return [exceptions.apply(results[c.id], policy.exceptions, day) for c in selected]
    return [results[c.id] for c in selected]


def _wait(done: threading.Event, deadline: float, cancel: threading.Event | None) -> bool:
    if cancel is None:
        return done.wait(max(0.0, deadline - time.monotonic()))
    # In short steps, so that a stop request is seen within a tenth of a second.
    while not cancel.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return done.is_set()
        if done.wait(min(left, 0.1)):
            return True
    return done.is_set()


def _run_one(check: type[Check[Any]], params: CheckParams, ctx: CheckContext, run: _Run) -> None:
    instance: Check[Any] | None = None
    try:
        instance = run.instance = check(params)
        run.findings = instance.run(ctx)
    except CheckSkipped as err:
        run.skipped = str(err)
    except AgentError as err:
        run.error = str(err)
    except OSError as err:
        run.error = _os_error(err)
    except Exception as err:  # noqa: BLE001 - the one boundary around a check
        run.error = _crash(check.id, err)
        log.debug("%s crashed: %s", check.id, run.error)
    finally:
        if instance is not None:
            run.notes = list(instance.notes)
            run.passed = instance.passed
        run.done.set()


def _os_error(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    return f"{(err.strerror or type(err).__name__).lower()}{where}"


def _crash(check_id: str, err: Exception) -> str:
    # The exception's own text is not shown: it may quote a value the check was reading.
    stdlib = sysconfig.get_paths()["stdlib"]
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if f.filename != __file__ and not f.filename.startswith(stdlib)
    ]
    where = ""
    if frames:
        frame = frames[-1]
        where = f" at {Path(frame.filename).name}:{frame.lineno}"
    return (
        f"{check_id} stopped with an internal error ({type(err).__name__}{where}); please report it"
    )


def _result(
    check: type[Check[Any]],
    params: CheckParams,
    status: Status,
    *,
    findings: list[Finding] | None = None,
    error: str | None = None,
    notes: list[str] | None = None,
    passed: str | None = None,
    skip_reason: str | None = None,
) -> CheckResult:
    findings = findings or []
    if params.severity is not None:
        # The policy's word is final, for every finding of the check.
        severity = params.severity
        findings = [dataclasses.replace(f, severity=None) for f in findings]
    else:
        graded = [f.severity for f in findings if f.severity is not None]
        severity = max(graded, key=lambda s: s.rank) if graded else check.severity
    return CheckResult(
        check=check.id,
        status=status,
        severity=severity,
        title=passed or check.title,
        advice=params.advice or check.advice,
        findings=findings,
        error=error,
        notes=notes or [],
        skip_reason=skip_reason,
    )
