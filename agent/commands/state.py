"""The commands that read (and snooze in) the store: status, notifications, snooze,
unsnooze. People type them to see where things stand, so they answer at once: nothing
here imports a check, the policy machinery or pydantic (tests/test_light_commands.py)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import timedelta

from agent import snooze_limits
from agent.admin_layers import rejections
from agent.commands import EXIT_FAILING, EXIT_OK, print_json, width
from agent.durations import format_duration, parse_duration
from agent.errors import UsageError
from agent.instance import running_agent
from agent.paths import Paths
from agent.report import (
    freshness,
    last_recorded,
    notification_json,
    notifications_text,
    status_json,
    status_text,
)
from agent.store import Store
from agent.text import printable
from agent.verdicts import Status

SHORTEST_SNOOZE = timedelta(minutes=1)


def status(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    now = args.clock()
    failing, checks = [], []
    # Read-only: creates nothing, and works on a read-only state folder; no store yet is
    # "not audited yet".
    store = Store.open_read_only(paths.state)
    if store is not None:
        with store:
            failing, checks = store.current(now), store.checks()
    refused = rejections(paths)
    agent_pid = running_agent(paths.state)
    if args.json:
        last = last_recorded(checks)
        print_json(
            {
                **status_json(failing, now, checks),
                "policy_rejected": refused,
                "last_recorded": last.isoformat(timespec="seconds") if last else None,
                "agent_running": agent_pid is not None,
            }
        )
    else:
        sys.stdout.write(status_text(failing, now, checks, width=width()))
        if fresh := freshness(checks, now, agent_pid):
            sys.stdout.write(textwrap.fill(fresh, width(), break_on_hyphens=False) + "\n")
        for line in refused:
            sys.stdout.write(
                "\n".join(textwrap.wrap(printable(line), width() - 9, initial_indent="POLICY   ",
                                         subsequent_indent=" " * 9, break_on_hyphens=False,
                                         break_long_words=False))
                + "\n"
            )  # fmt: skip
    # Not audited yet, or a check that could not run: that is not a clean bill of health.
    incomplete = not checks or any(c.status is Status.error for c in checks)
    return EXIT_FAILING if failing or incomplete else EXIT_OK


def notifications(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    records = []
    store = Store.open_read_only(paths.state)
    if store is not None:
        with store:
            records = store.notifications(args.limit)
    if args.json:
        print_json([notification_json(r) for r in records])
    else:
        sys.stdout.write(notifications_text(records, width=width()))
    return EXIT_OK


def snooze(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    try:
        length = parse_duration(args.duration)
    except ValueError as err:
        raise UsageError(f"snooze: {err}") from None  # err quotes the duration, cut short
    if length < SHORTEST_SNOOZE:
        raise UsageError(f"a snooze lasts at least {format_duration(SHORTEST_SNOOZE)}")
    # The policy in force, as the agent has it (a broken file does not stop a snooze), as
    # its last load noted it; loaded here only when a policy file changed since.
    limits = snooze_limits.recorded(paths)
    if limits is None:
        from agent.commands.policy import in_force  # noqa: PLC0415 - the one costly way

        limits = in_force(paths).snooze_limits()
    now = args.clock()
    with Store.open(paths.state) as store:
        check = _check_of(store, args.target)
        limit = limits.limit(check)
        if length > limit:
            if check is not None and limit < limits.longest:
                raise UsageError(
                    f"a snooze of {check} may last at most {format_duration(limit)}: the admin "
                    f"policy {limits.locked[check]} locks it (its notify.max_snooze)"
                )
            raise UsageError(
                f"a snooze may last at most {format_duration(limit)} (the policy's "
                "notify.max_snooze)"
            )
        store.snooze(args.target, now + length, now)
    until = (now + length).astimezone()
    print(f"{printable(args.target)} is snoozed until {until:%Y-%m-%d %H:%M %Z}.")
    return EXIT_OK


def unsnooze(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    with Store.open(paths.state) as store:
        _check_of(store, args.target)
        ended = store.unsnooze(args.target, args.clock())
    print(f"{printable(args.target)} {'is no longer snoozed' if ended else 'was not snoozed'}.")
    return EXIT_OK


def _check_of(store: Store, target: str) -> str | None:
    """The check `target` is (a check id) or belongs to (a finding id's); None for a finding
    of no known check. A target that is neither is a UsageError."""
    seen = {c.id for c in store.checks()}
    if target in seen or store.known_target(target):
        return store.check_of(target, seen)
    # A check that has not run yet is a check too: its id is in the list of checks (the
    # names only: no check is imported for it).
    from agent.checks import CHECKS  # noqa: PLC0415

    if target in CHECKS:
        return target
    raise UsageError(
        f"{target} is neither a check ({', '.join(CHECKS)}) nor a finding id "
        "the agent has seen; `hygiene status` lists finding ids"
    )
