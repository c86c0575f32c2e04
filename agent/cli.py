"""The `hygiene` command: parses arguments and hands each command to the code that does it.

COMMANDS below is the one place that says which module does each command; that module is
imported only once the command is chosen. Building the parser imports none of them, so
`hygiene status` loads what reading the store needs and nothing more: no check, no policy
model, no pydantic (tests/test_light_commands.py; bench/startup.py times it).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from agent import __version__
from agent.commands import EXIT_OK, EXIT_USAGE
from agent.errors import AgentError
from agent.text import printable

Clock = Callable[[], datetime]

# Each command: the module in agent/commands and the function in it that does it.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("audit", "check"),
    "checks": ("audit", "catalogue_of_checks"),
    "run": ("run", "run"),
    "policy": ("policy", "policy"),
    "status": ("state", "status"),
    "notifications": ("state", "notifications"),
    "snooze": ("snooze", "snooze"),
    "unsnooze": ("snooze", "unsnooze"),
    "network": ("setup", "network"),
    "service": ("setup", "service"),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger("agent")


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
    module, function = COMMANDS[args.command]
    try:
        command: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"agent.commands.{module}"), function
        )
        return command(args)
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
