"""`hygiene run`: the background agent, or one cycle of it (`--once`).

The agent's own imports: no pydantic and no policy machinery (it reads its policy in a child
process, agent.policy_child); tests/test_resident_agent.py holds it to that.
"""

from __future__ import annotations

import argparse
import os
import sys

from agent.checks import load_checks
from agent.checks.base import CheckContext
from agent.commands import EXIT_OK
from agent.fingerprint import Fingerprinter
from agent.paths import Paths
from agent.report import run_summary
from agent.text import printable


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
    from agent.admin_layers import report_errors  # noqa: PLC0415
    from agent.commands.policy import load  # noqa: PLC0415 - one cycle reads its own policy
    from agent.cycle import run_cycle  # noqa: PLC0415
    from agent.fleet import Outputs  # noqa: PLC0415
    from agent.notify import default_backends  # noqa: PLC0415
    from agent.page import write_page  # noqa: PLC0415
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
        try:
            write_page(paths, store=store, policy=policy, checks=checks, now=now)
        except OSError as err:
            reason = (err.strerror or type(err).__name__).lower()
            print(f"hygiene: cannot write the page in {paths.state}: {reason}", file=sys.stderr)
    fleet = Outputs(paths.state, failures=report_errors(paths))
    try:
        for problem in report_to_fleet(fleet, policy, outcome.results, now, paths):
            print(f"hygiene: {printable(problem)}", file=sys.stderr)
    finally:
        fleet.close()
    sys.stdout.write(run_summary(outcome, now))
    return EXIT_OK
