"""The commands that audit: `hygiene check` (once, printed), `hygiene checks` (what each
check reads and keeps) and `hygiene run` (the background agent, or one cycle of it)."""

from __future__ import annotations

import argparse
import os
import sys

from agent.checks import CHECKS, load_checks
from agent.checks.base import CheckContext
from agent.commands import EXIT_FAILING, EXIT_OK, print_json, width
from agent.commands.policy import in_force, load
from agent.engine import run_checks
from agent.errors import UsageError
from agent.fingerprint import Fingerprinter
from agent.models import Status
from agent.paths import Paths
from agent.report import audit_json, audit_table, catalogue, catalogue_text, run_summary
from agent.text import printable


def check(args: argparse.Namespace) -> int:
    unknown = [i for i in args.only if i not in CHECKS]
    if unknown:
        raise UsageError(
            f"unknown check {', '.join(unknown)}; the checks are {', '.join(sorted(CHECKS))}"
        )
    paths = Paths.from_environment()
    # --only: those checks alone are imported, and only their settings validated.
    checks = load_checks(args.only or None)
    unloaded = [i for i in CHECKS if args.only and i not in args.only]
    policy = load(paths, checks, args.policy, unloaded=unloaded)
    ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state))
    results = run_checks(policy, checks, ctx, only=args.only)
    if args.json:
        print_json(audit_json(policy, results))
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(audit_table(policy, results, width=width(), colour=colour))
    failing = any(r.status in (Status.fail, Status.error) for r in results)
    return EXIT_FAILING if failing else EXIT_OK


def catalogue_of_checks(args: argparse.Namespace) -> int:
    # The policy in force, as the agent has it; a refused file is named in a warning.
    entries = catalogue(load_checks(), in_force(Paths.from_environment()))
    if args.json:
        print_json(entries)
    else:
        sys.stdout.write(catalogue_text(entries, width=width()))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.once:
        return _run_once(args)
    from agent.scheduler import running_agent  # noqa: PLC0415 - the agent's loop: `run` only

    with running_agent(
        paths=Paths.from_environment(),
        checks=load_checks(),
        env=os.environ,
        clock=args.clock,
        verbose=args.verbose,
    ) as agent:
        return agent.run()


def _run_once(args: argparse.Namespace) -> int:
    from agent.instance import InstanceLock  # noqa: PLC0415

    paths = Paths.from_environment()
    # A cycle beside a running agent would tell the person everything twice; and like the
    # agent, the cycle opens the store once, and its checks share that connection.
    with InstanceLock(paths.state):
        return _one_cycle(args, paths)


def _one_cycle(args: argparse.Namespace, paths: Paths) -> int:
    # What only a cycle needs: the store, the notification backends, the fleet outputs.
    from agent.cycle import run_cycle  # noqa: PLC0415
    from agent.fleet import Outputs  # noqa: PLC0415
    from agent.notify import default_backends  # noqa: PLC0415
    from agent.scheduler import report_to_fleet  # noqa: PLC0415
    from agent.store import Store  # noqa: PLC0415

    checks = load_checks()
    # The agent's one cycle: a broken policy file gives way to its last good copy.
    policy = load(paths, checks, keep_going=True)
    if policy.pull.urls:
        from agent.scheduler import PULL_DEADLINE, pull_due  # noqa: PLC0415

        deadline = PULL_DEADLINE if args.pull_deadline is None else args.pull_deadline
        cache = paths.state / "sources"
        if pull_due(policy.pull.urls, cache, args.clock(), policy.pull.every, deadline=deadline):
            policy = load(paths, checks, keep_going=True)
    now = args.clock()
    with Store.open(paths.state, agent=True) as store:
        ctx = CheckContext(
            paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state), store=store
        )
        outcome = run_cycle(
            policy=policy,
            checks=checks,
            ctx=ctx,
            store=store,
            backends=default_backends(os.environ, sys.platform),
            now=now,
        )
    fleet = Outputs(paths.state)
    try:
        for problem in report_to_fleet(fleet, policy, outcome.results, now):
            print(f"hygiene: {printable(problem)}", file=sys.stderr)
    finally:
        fleet.close()
    sys.stdout.write(run_summary(outcome))
    return EXIT_OK
