"""The commands that read the store: status and notifications. People type them to see
where things stand, so they answer at once: nothing here imports a check, the policy
machinery or pydantic (tests/test_light_commands.py)."""

from __future__ import annotations

import argparse
import sys

from agent.admin_layers import rejections, report_errors
from agent.commands import EXIT_FAILING, EXIT_OK, print_json, width
from agent.instance import running_agent
from agent.paths import Paths
from agent.report import (
    freshness,
    held_entry,
    last_recorded,
    notification_json,
    notifications_text,
    status_json,
    status_text,
)
from agent.store import Store
from agent.text import printable, wrap
from agent.verdicts import Status


def status(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    now = args.clock()
    failing, checks, held = [], [], []
    # Read-only: creates nothing, and works on a read-only state folder; no store yet is
    # "not audited yet".
    store = Store.open_read_only(paths.state)
    if store is not None:
        with store:
            failing, checks, held = store.current(now), store.checks(), store.held()
    refused = rejections(paths)
    unwritten = report_errors(paths)
    agent_pid = running_agent(paths.state)
    if args.json:
        last = last_recorded(checks)
        print_json(
            {
                **status_json(failing, now, checks, held),
                "policy_rejected": refused,
                "report_errors": unwritten,
                "last_recorded": last.isoformat(timespec="seconds") if last else None,
                "agent_running": agent_pid is not None,
            }
        )
    else:
        sys.stdout.write(status_text(failing, now, checks, held=held, width=width()))
        if fresh := freshness(checks, now, agent_pid):
            sys.stdout.write("\n".join(wrap(fresh, width())) + "\n")
        said = [("POLICY   ", line) for line in refused]
        said += [("REPORT   ", line) for line in unwritten]
        for head, line in said:
            sys.stdout.write(
                "\n".join(wrap(printable(line), width() - 9, initial_indent=head,
                                 subsequent_indent=" " * 9))
                + "\n"
            )  # fmt: skip
    # Not audited yet, or a check that could not run: that is not a clean bill of health.
    incomplete = not checks or any(c.status is Status.error for c in checks)
    # What an admin's exception covers is not failing, for as long as it holds.
    failing = [f for f in failing if f.excepted is None]
    return EXIT_FAILING if failing or incomplete else EXIT_OK


def notifications(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    records, held = [], []
    store = Store.open_read_only(paths.state)
    if store is not None:
        with store:
            records, held = store.notifications(args.limit), store.held()
    if args.json:
        # Held notices first, as entries that were not delivered and say when they go.
        print_json([*(held_entry(h) for h in held), *(notification_json(r) for r in records)])
    else:
        text = notifications_text(records, held=held, now=args.clock(), width=width())
        sys.stdout.write(text)
    return EXIT_OK
