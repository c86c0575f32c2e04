"""The `hygiene` command: parses arguments and hands each command to the code that does it.

The agent's memory (store, notification backends) is imported only by the commands that
use it, so that `hygiene check` starts within its budget (bench/startup.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from agent import __version__
from agent.admin_layers import pull_errors, rejections
from agent.checks import ALL_CHECKS
from agent.checks.base import CheckContext
from agent.durations import format_duration, parse_duration
from agent.engine import run_checks
from agent.errors import AgentError, UsageError
from agent.fingerprint import Fingerprinter
from agent.models import Status
from agent.paths import Paths
from agent.policy import (
    Level,
    Policy,
    combine,
    load_file,
    load_policy,
    policy_file_model,
    policy_json_schema,
)
from agent.report import (
    audit_json,
    audit_table,
    catalogue,
    catalogue_text,
    notification_json,
    notifications_text,
    policy_json,
    policy_text,
    run_summary,
    status_json,
    status_text,
)
from agent.text import printable

if TYPE_CHECKING:
    from agent.store import Store

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger("agent")

EXIT_OK, EXIT_FAILING, EXIT_USAGE = 0, 1, 2
SHORTEST_SNOOZE = timedelta(minutes=1)


class _LowercaseLevel(logging.Formatter):
    """The log's one sink for outside text: a message is one line, escaped whole (a newline
    in a file name cannot forge a log line); a traceback keeps its own newlines."""

    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable(super().formatException(ei), lines=True)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), lines=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"hygiene: {printable(message)} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hygiene",
        description="Audit this computer for hygiene lapses and say what to do about them.",
    )
    parser.add_argument("--version", action="version", version=f"hygiene-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the agent does")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    check = commands.add_parser("check", help="run one audit and print what fails")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument(
        "--only", nargs="+", action="extend", metavar="ID", default=[], help="run only these checks"
    )
    check.add_argument(
        "--policy",
        nargs="+",
        type=Path,
        metavar="FILE",
        default=[],
        help="also apply these policy files (above yours, below the admin's)",
    )

    checks = commands.add_parser("checks", help="every check: what it reads, why, what it keeps")
    checks.add_argument("--json", action="store_true")

    policy = commands.add_parser(
        "policy", help="validate, show, sign and verify policy files; print their schema"
    )
    actions = policy.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )
    validate = actions.add_parser("validate", help="check policy files without applying them")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    show = actions.add_parser("show", help="the policy in force, and where each setting came from")
    show.add_argument("--json", action="store_true")
    actions.add_parser("schema", help="print the JSON Schema of policy files")
    keygen = actions.add_parser("keygen", help="make a key pair for signing policy files")
    keygen.add_argument(
        "--out",
        type=Path,
        default=Path("hygiene-policy-key"),
        metavar="PATH",
        help="the private key; the public key goes to PATH.pub (default: ./hygiene-policy-key)",
    )
    sign = actions.add_parser("sign", help="sign a policy file with a private key (FILE.sig)")
    sign.add_argument("file", type=Path, metavar="FILE")
    sign.add_argument(
        "--key", type=Path, required=True, metavar="KEY", help="from `hygiene policy keygen`"
    )
    verify = actions.add_parser("verify", help="check a policy file's signature (FILE.sig)")
    verify.add_argument("file", type=Path, metavar="FILE")
    verify.add_argument(
        "--keys",
        type=Path,
        metavar="DIR",
        help="the trusted public keys (default: keys/ in the admin folder)",
    )

    run = commands.add_parser(
        "run", help="the background agent: each check at its own pace, notices when due"
    )
    run.add_argument(
        "--once",
        action="store_true",
        help="one full cycle instead: check, store, decide, notify, then exit",
    )

    status = commands.add_parser("status", help="what is failing now, with the advice")
    status.add_argument("--json", action="store_true")

    history = commands.add_parser("notifications", help="the notifications sent, newest first")
    history.add_argument("--json", action="store_true")
    history.add_argument("--limit", type=_positive, default=20, metavar="N")

    snooze = commands.add_parser("snooze", help="no notices about a check or finding for a while")
    snooze.add_argument("target", metavar="ID", help="a check id or a finding id")
    snooze.add_argument("duration", metavar="DURATION", help='such as "4h" or "2d"')
    unsnooze = commands.add_parser("unsnooze", help="end a snooze")
    unsnooze.add_argument("target", metavar="ID", help="a check id or a finding id")

    service = commands.add_parser("service", help="run the agent as a service of your own")
    service.add_argument("action", choices=["install", "uninstall", "status"])
    service.add_argument(
        "--dry-run", action="store_true", help="print every file and command; change nothing"
    )

    net = commands.add_parser("network", help="mark the network you are on as trusted, or not")
    net.add_argument("action", choices=["trust", "untrust", "list"])
    net.add_argument(
        "--label", metavar="NAME", help="trust: what to call it; untrust: forget by this name"
    )
    net.add_argument("--json", action="store_true", help="list: print JSON")
    return parser


MAX_LIMIT = 1_000_000  # decades of notices at the default pace of at most 4 an hour


def _positive(text: str) -> int:
    """A whole number from 1 to MAX_LIMIT: a bound the database can take (a number that
    does not fit SQLite's integers raised a traceback)."""
    digits = text.strip()
    if digits.isascii() and digits.isdigit() and len(digits) <= 7 and 1 <= int(digits) <= MAX_LIMIT:
        return int(digits)
    raise argparse.ArgumentTypeError(
        f"expected a whole number from 1 to {MAX_LIMIT}, got {text[:40]!r}"
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    clock: Clock | None = None,
    pull_deadline: float | None = None,
) -> int:
    """The `hygiene` command. `clock` is for tests that move time instead of waiting, and
    `pull_deadline` for tests that would otherwise wait out a pull's 30 seconds."""
    args = build_parser().parse_args(argv)
    args.clock = clock or utc_now
    args.pull_deadline = pull_deadline
    handler = logging.StreamHandler()
    handler.setFormatter(_LowercaseLevel("hygiene: %(levelname)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, handlers=[handler], force=True
    )
    try:
        return _dispatch(args)
    except AgentError as err:
        print(f"hygiene: {printable(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (head, less) went away: not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        reason = (err.strerror or type(err).__name__).lower()
        print(f"hygiene: cannot write the output: {reason}", file=sys.stderr)
        return EXIT_USAGE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check":
        return _check(args)
    if args.command == "checks":
        return _checks(args)
    if args.command == "run":
        return _run_once(args) if args.once else _run(args)
    if args.command == "status":
        return _status(args)
    if args.command == "notifications":
        return _notifications(args)
    if args.command == "snooze":
        return _snooze(args)
    if args.command == "unsnooze":
        return _unsnooze(args)
    if args.command == "network":
        from agent.trust import network_command

        return network_command(
            args.action,
            label=args.label,
            as_json=args.json,
            paths=Paths.from_environment(),
            env=os.environ,
            now=args.clock(),
        )
    if args.command == "service":
        from agent.service import service_command

        return service_command(args.action, dry_run=args.dry_run)
    if args.action == "validate":
        return _policy_validate(args)
    if args.action == "show":
        return _policy_show(args)
    if args.action == "keygen":
        return _policy_keygen(args)
    if args.action == "sign":
        return _policy_sign(args)
    if args.action == "verify":
        return _policy_verify(args)
    return _policy_schema()


def _check(args: argparse.Namespace) -> int:
    known = {c.id for c in ALL_CHECKS}
    unknown = [i for i in args.only if i not in known]
    if unknown:
        raise UsageError(
            f"unknown check {', '.join(unknown)}; the checks are {', '.join(sorted(known))}"
        )
    paths = Paths.from_environment()
    policy = _load(paths, args.policy)
    ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state))
    results = run_checks(policy, ALL_CHECKS, ctx, only=args.only)
    if args.json:
        _print_json(audit_json(policy, results))
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(audit_table(policy, results, width=_width(), colour=colour))
    failing = any(r.status in (Status.fail, Status.error) for r in results)
    return EXIT_FAILING if failing else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from agent.scheduler import running_agent

    with running_agent(
        paths=Paths.from_environment(),
        checks=ALL_CHECKS,
        env=os.environ,
        clock=args.clock,
        verbose=args.verbose,
    ) as agent:
        return agent.run()


def _run_once(args: argparse.Namespace) -> int:
    from agent.instance import InstanceLock

    paths = Paths.from_environment()
    # A cycle beside a running agent would tell the person everything twice; and like the
    # agent, the cycle opens the store once, and its checks share that connection.
    with InstanceLock(paths.state):
        return _one_cycle(args, paths)


def _one_cycle(args: argparse.Namespace, paths: Paths) -> int:
    from agent.cycle import run_cycle
    from agent.fleet import Outputs
    from agent.notify import default_backends
    from agent.scheduler import report_to_fleet
    from agent.store import Store

    # The agent's one cycle: a broken policy file gives way to its last good copy.
    policy = _load(paths, [], keep_going=True)
    if policy.pull.urls:
        from agent.scheduler import PULL_DEADLINE, pull_due

        deadline = PULL_DEADLINE if args.pull_deadline is None else args.pull_deadline
        cache = paths.state / "sources"
        if pull_due(policy.pull.urls, cache, args.clock(), policy.pull.every, deadline=deadline):
            policy = _load(paths, [], keep_going=True)
    now = args.clock()
    with Store.open(paths.state, agent=True) as store:
        ctx = CheckContext(
            paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state), store=store
        )
        outcome = run_cycle(
            policy=policy,
            checks=ALL_CHECKS,
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


def _status(args: argparse.Namespace) -> int:
    from agent.instance import running_agent
    from agent.report import freshness, last_recorded
    from agent.store import Store

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
        _print_json(
            {
                **status_json(failing, now, checks),
                "policy_rejected": refused,
                "last_recorded": last.isoformat(timespec="seconds") if last else None,
                "agent_running": agent_pid is not None,
            }
        )
    else:
        sys.stdout.write(status_text(failing, now, checks, width=_width()))
        if fresh := freshness(checks, now, agent_pid):
            sys.stdout.write(textwrap.fill(fresh, _width(), break_on_hyphens=False) + "\n")
        for line in refused:
            sys.stdout.write(
                "\n".join(textwrap.wrap(printable(line), _width() - 9, initial_indent="POLICY   ",
                                         subsequent_indent=" " * 9, break_on_hyphens=False,
                                         break_long_words=False))
                + "\n"
            )  # fmt: skip
    # Not audited yet, or a check that could not run: that is not a clean bill of health.
    incomplete = not checks or any(c.status is Status.error for c in checks)
    return EXIT_FAILING if failing or incomplete else EXIT_OK


def _notifications(args: argparse.Namespace) -> int:
    from agent.store import Store

    paths = Paths.from_environment()
    records = []
    store = Store.open_read_only(paths.state)
    if store is not None:
        with store:
            records = store.notifications(args.limit)
    if args.json:
        _print_json([notification_json(r) for r in records])
    else:
        sys.stdout.write(notifications_text(records, width=_width()))
    return EXIT_OK


def _snooze(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    # The policy in force, as the agent has it: a broken file does not stop a snooze.
    policy = _load(paths, [], keep_going=True)
    try:
        length = parse_duration(args.duration)
    except ValueError as err:
        raise UsageError(f"snooze: {err}") from None  # err quotes the duration, cut short
    if length < SHORTEST_SNOOZE:
        raise UsageError(f"a snooze lasts at least {format_duration(SHORTEST_SNOOZE)}")
    from agent.store import Store

    now = args.clock()
    with Store.open(paths.state) as store:
        _known_target(store, args.target)
        check = store.check_of(args.target, {c.id for c in ALL_CHECKS})
        limit = policy.snooze_limit(check)
        if length > limit:
            if check is not None and limit < policy.notify.max_snooze:
                raise UsageError(
                    f"a snooze of {check} may last at most {format_duration(limit)}: the admin "
                    f"policy {policy.locked[check]} locks it (its notify.max_snooze)"
                )
            raise UsageError(
                f"a snooze may last at most {format_duration(limit)} (the policy's "
                "notify.max_snooze)"
            )
        store.snooze(args.target, now + length, now)
    until = (now + length).astimezone()
    print(f"{printable(args.target)} is snoozed until {until:%Y-%m-%d %H:%M %Z}.")
    return EXIT_OK


def _unsnooze(args: argparse.Namespace) -> int:
    from agent.store import Store

    paths = Paths.from_environment()
    with Store.open(paths.state) as store:
        _known_target(store, args.target)
        ended = store.unsnooze(args.target, args.clock())
    print(f"{printable(args.target)} {'is no longer snoozed' if ended else 'was not snoozed'}.")
    return EXIT_OK


def _known_target(store: Store, target: str) -> None:
    if target in {c.id for c in ALL_CHECKS} or store.known_target(target):
        return
    raise UsageError(
        f"{target} is neither a check ({', '.join(c.id for c in ALL_CHECKS)}) nor a finding id "
        "the agent has seen; `hygiene status` lists finding ids"
    )


def _checks(args: argparse.Namespace) -> int:
    # The policy in force, as the agent has it; a refused file is named in a warning.
    entries = catalogue(ALL_CHECKS, _load(Paths.from_environment(), [], keep_going=True))
    if args.json:
        _print_json(entries)
    else:
        sys.stdout.write(catalogue_text(entries, width=_width()))
    return EXIT_OK


def _policy_validate(args: argparse.Namespace) -> int:
    bad = 0
    model = policy_file_model(ALL_CHECKS)
    for path in args.files:
        try:
            layer = load_file(path, ALL_CHECKS, Level.admin, model=model)
            combine([layer], ALL_CHECKS)
        except AgentError as err:
            print(f"hygiene: {printable(str(err))}", file=sys.stderr)
            bad += 1
        else:
            print(f"{printable(str(path))}: valid")
    return EXIT_USAGE if bad else EXIT_OK


def _policy_show(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    # The policy in force, as the agent has it: a broken file gives way to its last good
    # copy or is left out, and is named under "rejected"; exit 1 then, so scripts notice.
    policy = _load(paths, [], keep_going=True)
    failed = pull_errors(paths)  # the copies kept are in force; these say why none newer
    if args.json:
        data = policy_json(policy)
        data["admin"]["pull_failed"] = failed
        _print_json(data)
    else:
        sys.stdout.write(policy_text(policy) + "".join(f"pull failed: {e}\n" for e in failed))
    return EXIT_FAILING if policy.rejected else EXIT_OK


def _policy_schema() -> int:
    _print_json(policy_json_schema(ALL_CHECKS))
    return EXIT_OK


def _policy_keygen(args: argparse.Namespace) -> int:
    from agent.signing import keygen, keys_folder

    pair = keygen(args.out)
    public = printable(str(pair.public))
    print(f"private key: {printable(str(pair.private))} (keep it secret: it signs policies)")
    print(f"public key:  {public}")
    print(f"key id:      {pair.key_id}")
    print(
        f"copy {public} to {printable(str(keys_folder(Paths.from_environment())))}/ on each device"
    )
    return EXIT_OK


def _policy_sign(args: argparse.Namespace) -> int:
    from agent.signing import private_key_id, sign

    signer = private_key_id(args.key)
    target = sign(args.file, args.key)
    print(f"{printable(str(target))}: signed by key {signer}")
    return EXIT_OK


def _policy_verify(args: argparse.Namespace) -> int:
    from agent.signing import keys_folder, load_anchors, verify_file

    shown = printable(str(args.file))
    if not args.file.exists():
        raise UsageError(f"{shown} does not exist")
    if not args.file.is_file():
        raise UsageError(f"{shown} is not a file")
    if args.keys is not None and not args.keys.is_dir():
        raise UsageError(f"--keys {printable(str(args.keys))} is not a folder")
    anchors = load_anchors(args.keys or keys_folder(Paths.from_environment()))
    for warning in anchors.warnings:
        print(f"hygiene: warning: {printable(warning)}", file=sys.stderr)
    verdict = verify_file(args.file, anchors)
    print(f"{shown}: {printable(verdict.reason)}")
    return EXIT_OK if verdict.ok else EXIT_FAILING


def _load(paths: Paths, extra: Sequence[Path], *, keep_going: bool = False) -> Policy:
    policy = load_policy(paths, ALL_CHECKS, extra, keep_going=keep_going)
    for warning in policy.warnings:
        print(f"hygiene: warning: {printable(warning)}", file=sys.stderr)
    return policy


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _width() -> int:
    return shutil.get_terminal_size((100, 24)).columns
