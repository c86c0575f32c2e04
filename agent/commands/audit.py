"""The commands that audit once: `hygiene check` (printed) and `hygiene checks` (what each
check reads and keeps)."""

from __future__ import annotations

import argparse
import os
import sys

from agent.checks import CHECKS, load_checks
from agent.checks.base import CheckContext, started_early
from agent.commands import EXIT_FAILING, EXIT_OK, print_json, width
from agent.engine import run_checks
from agent.errors import UsageError
from agent.fingerprint import Fingerprinter
from agent.models import Status
from agent.paths import Paths
from agent.report import audit_json, audit_table, catalogue, catalogue_text


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
    with started_early(checks, paths, os.environ) as early:
        # Imported once the scanner is starting: pydantic and the YAML reader take about as
        # long to import as the scanner takes to start.
        from agent.commands.policy import load  # noqa: PLC0415

        policy = load(paths, checks, args.policy, unloaded=unloaded)
        fingerprint = Fingerprinter.for_state_dir(paths.state)
        ctx = CheckContext(paths=paths, fingerprint=fingerprint, early=early)
        results = run_checks(policy, checks, ctx, only=args.only)
    if args.json:
        print_json(audit_json(policy, results))
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(audit_table(policy, results, width=width(), colour=colour))
    failing = any(r.status in (Status.fail, Status.error) for r in results)
    return EXIT_FAILING if failing else EXIT_OK


def catalogue_of_checks(args: argparse.Namespace) -> int:
    from agent.commands.policy import in_force  # noqa: PLC0415

    # The policy in force, as the agent has it; a refused file is named in a warning.
    entries = catalogue(load_checks(), in_force(Paths.from_environment()))
    if args.json:
        print_json(entries)
    else:
        sys.stdout.write(catalogue_text(entries, width=width()))
    return EXIT_OK
