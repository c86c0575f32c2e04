"""The `hygiene` command: parses arguments and hands each command to the code that does it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from agent import __version__
from agent.checks import ALL_CHECKS
from agent.checks.base import CheckContext
from agent.engine import run_checks
from agent.errors import AgentError, UsageError
from agent.fingerprint import Fingerprinter
from agent.models import Status
from agent.paths import Paths
from agent.policy import Level, Policy, combine, load_file, load_policy, policy_json_schema
from agent.report import (
    audit_json,
    audit_table,
    catalogue,
    catalogue_text,
    policy_json,
    policy_text,
)

log = logging.getLogger("agent")

EXIT_OK, EXIT_FAILING, EXIT_USAGE = 0, 1, 2


class _LowercaseLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return super().format(record)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"hygiene: {message} (see `{self.prog} --help`)\n")


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
    check.add_argument("--only", nargs="+", metavar="ID", default=[], help="run only these checks")
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

    policy = commands.add_parser("policy", help="validate, show or describe policy files")
    actions = policy.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )
    validate = actions.add_parser("validate", help="check policy files without applying them")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    show = actions.add_parser("show", help="the policy in force, and where each setting came from")
    show.add_argument("--json", action="store_true")
    actions.add_parser("schema", help="print the JSON Schema of policy files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_LowercaseLevel("hygiene: %(levelname)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, handlers=[handler], force=True
    )
    try:
        return _dispatch(args)
    except AgentError as err:
        print(f"hygiene: {err}", file=sys.stderr)
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
    if args.action == "validate":
        return _policy_validate(args)
    if args.action == "show":
        return _policy_show(args)
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


def _checks(args: argparse.Namespace) -> int:
    entries = catalogue(ALL_CHECKS, _load(Paths.from_environment(), []))
    if args.json:
        _print_json(entries)
    else:
        sys.stdout.write(catalogue_text(entries, width=_width()))
    return EXIT_OK


def _policy_validate(args: argparse.Namespace) -> int:
    bad = 0
    for path in args.files:
        try:
            layer = load_file(path, ALL_CHECKS, Level.admin)
            combine([layer], ALL_CHECKS)
        except AgentError as err:
            print(f"hygiene: {err}", file=sys.stderr)
            bad += 1
        else:
            print(f"{path}: valid")
    return EXIT_USAGE if bad else EXIT_OK


def _policy_show(args: argparse.Namespace) -> int:
    policy = _load(Paths.from_environment(), [])
    if args.json:
        _print_json(policy_json(policy))
    else:
        sys.stdout.write(policy_text(policy))
    return EXIT_OK


def _policy_schema() -> int:
    _print_json(policy_json_schema(ALL_CHECKS))
    return EXIT_OK


def _load(paths: Paths, extra: Sequence[Path]) -> Policy:
    policy = load_policy(paths, ALL_CHECKS, extra)
    for warning in policy.warnings:
        print(f"hygiene: warning: {warning}", file=sys.stderr)
    return policy


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _width() -> int:
    return shutil.get_terminal_size((100, 24)).columns
