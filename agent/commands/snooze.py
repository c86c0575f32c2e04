"""`hygiene snooze` and `hygiene unsnooze`: no notices about a check or a finding for a
while. Like status, they answer at once: the policy's limits come from the note its last
load left (agent.snooze_limits), and a check id from the store or the list of names.
`snooze_target` and `unsnooze_target` are what `hygiene open-url` does for a page's link."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import NamedTuple

from agent import snooze_limits
from agent.commands import EXIT_OK
from agent.durations import format_duration, parse_duration
from agent.errors import UsageError
from agent.paths import Paths
from agent.store import Store
from agent.text import printable

SHORTEST_SNOOZE = timedelta(minutes=1)


class Snoozed(NamedTuple):
    check: str | None  # the check the target is or belongs to; None: a finding of no known check
    until: datetime
    subject: str | None = None  # a finding's: what a person knows it by (~/.ssh/id_rsa)


def snooze(args: argparse.Namespace) -> int:
    shortest = format_duration(SHORTEST_SNOOZE)
    if args.duration.lstrip().startswith("-"):
        raise UsageError(
            f"a snooze cannot last a negative time ({printable(args.duration[:20])}): it "
            f"lasts from now, at least {shortest}; to end one early, run hygiene unsnooze "
            f"{printable(args.target)}"
        )
    try:
        length = parse_duration(args.duration)
    except ValueError as err:
        raise UsageError(f"snooze: {err}") from None  # err quotes the duration, cut short
    if not length:
        raise UsageError(
            f"a snooze of {format_duration(length)} would end as it starts; give at least "
            f"{shortest}, such as 4h"
        )
    done = snooze_target(
        Paths.from_environment(), args.target, length, args.clock(), verbose=args.verbose
    )
    print(snoozed_sentence(args.target, done.until, done.subject))
    return EXIT_OK


def unsnooze(args: argparse.Namespace) -> int:
    ended = unsnooze_target(Paths.from_environment(), args.target, args.clock())
    print(unsnoozed_sentence(args.target, ended=ended))
    return EXIT_OK


def snooze_target(
    paths: Paths, target: str, length: timedelta, now: datetime, *, verbose: bool = False
) -> Snoozed:
    """Snooze `target` for `length` within the policy's limits; a UsageError says why not."""
    shortest = format_duration(SHORTEST_SNOOZE)
    if length < SHORTEST_SNOOZE:
        raise UsageError(f"a snooze lasts at least {shortest}, got {format_duration(length)}")
    # The policy in force, as the agent has it (a broken file does not stop a snooze), as
    # its last load noted it; loaded here only when a policy file changed since.
    limits = snooze_limits.recorded(paths)
    if limits is None:
        from agent.commands.policy import in_force  # noqa: PLC0415 - the one costly way
        from agent.logs import to_stderr  # noqa: PLC0415

        to_stderr(verbose=verbose)  # what a policy load warns about, as `check` says it
        limits = in_force(paths).snooze_limits()
    with Store.open(paths.state) as store:
        check = _check_of(store, target)
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
        store.snooze(target, now + length, now)
        finding = store.get(target, now)
    return Snoozed(check, now + length, finding.subject if finding else None)


def unsnooze_target(paths: Paths, target: str, now: datetime) -> bool:
    """End the snooze of `target`; False when it was not snoozed."""
    with Store.open(paths.state) as store:
        _check_of(store, target)
        return store.unsnooze(target, now)


def snoozed_sentence(target: str, until: datetime, subject: str | None = None) -> str:
    """ "ssh_keys is snoozed until ..."; a finding by its subject, then its id."""
    named = f"{subject} ({target})" if subject else target
    return f"{printable(named)} is snoozed until {until.astimezone():%Y-%m-%d %H:%M %Z}."


def unsnoozed_sentence(target: str, *, ended: bool) -> str:
    return f"{printable(target)} {'is no longer snoozed' if ended else 'was not snoozed'}."


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
