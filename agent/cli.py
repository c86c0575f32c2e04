"""The `hygiene` command: parses arguments and hands each command to the code that does it.

COMMANDS below is the one place that says which module does each command; that module is
imported only once the command is chosen. Building the parser imports none of them, so
`hygiene status` loads what reading the store needs and nothing more: no check, no policy
model, no pydantic (tests/test_light_commands.py; bench/startup.py times it).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import io
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from agent import __version__
from agent.commands import EXIT_OK, EXIT_USAGE
from agent.errors import AgentError
from agent.text import printable

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"hygiene: {printable(message)} (see `{self.prog} --help`)\n")


def _check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--only", nargs="+", action="extend", metavar="ID", default=[], help="run only these checks"
    )
    parser.add_argument(
        "--policy",
        nargs="+",
        type=Path,
        metavar="FILE",
        default=[],
        help="also apply these policy files (above yours, below the admin's)",
    )


def _json_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


def _policy(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(
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
    sign = actions.add_parser("sign", help="sign a policy file with private keys (FILE.sig)")
    sign.add_argument("file", type=Path, metavar="FILE")
    sign.add_argument(
        "--key",
        type=Path,
        required=True,
        action="append",
        metavar="KEY",
        help="from `hygiene policy keygen`; give --key twice while rotating (old and new)",
    )
    actions.add_parser(
        "pull", help="pull every policy source now, say what changed, and apply it at once"
    )
    verify = actions.add_parser("verify", help="check a policy file's signature (FILE.sig)")
    verify.add_argument("file", type=Path, metavar="FILE")
    verify.add_argument(
        "--keys",
        type=Path,
        metavar="DIR",
        help="the trusted public keys (default: keys/ in the admin folder)",
    )


def _run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once",
        action="store_true",
        help="one full cycle instead: check, store, decide, notify, then exit",
    )


def _notifications(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--limit", type=_positive, default=20, metavar="N")


def _snooze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="ID", help="a check id or a finding id")
    parser.add_argument("duration", metavar="DURATION", help='such as "4h" or "2d"')


def _unsnooze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="ID", help="a check id or a finding id")


def _open_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", metavar="URL", help="a hygiene: link from the page, such as hygiene:snooze?..."
    )


def _page(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--print-path", action="store_true", help="only write the page and print where it is"
    )


def _service(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["install", "uninstall", "status"])
    parser.add_argument(
        "--dry-run", action="store_true", help="print every file and command; change nothing"
    )


def _network(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["trust", "untrust", "list"])
    parser.add_argument(
        "--label", metavar="NAME", help="trust: what to call it; untrust: forget by this name"
    )
    parser.add_argument("--json", action="store_true", help="list: print JSON")


class Command(NamedTuple):
    module: str  # in agent/commands, imported only once the command is chosen
    function: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    # False for the commands people type to see where things stand: they say what they have
    # to say on stdout and stderr themselves, and importing logging is a tenth of their start.
    logs: bool = True


COMMANDS: dict[str, Command] = {
    "check": Command("audit", "check", "run one audit and print what fails", _check),
    "checks": Command(
        "audit",
        "catalogue_of_checks",
        "every check: what it reads, why, what it keeps",
        _json_only,
    ),
    "policy": Command(
        "policy",
        "policy",
        "validate, show, sign and verify policy files; print their schema",
        _policy,
    ),
    "run": Command(
        "run", "run", "the background agent: each check at its own pace, notices when due", _run
    ),
    "status": Command(
        "state", "status", "what is failing now, with the advice", _json_only, logs=False
    ),
    "notifications": Command(
        "state", "notifications", "the notifications sent, newest first", _notifications, logs=False
    ),
    "snooze": Command(
        "snooze", "snooze", "no notices about a check or finding for a while", _snooze, logs=False
    ),
    "unsnooze": Command("snooze", "unsnooze", "end a snooze", _unsnooze, logs=False),
    "open-url": Command(
        "open_url",
        "open_url",
        "act on a hygiene: link from the page (what a browser runs)",
        _open_url,
        logs=False,
    ),
    "page": Command(
        "page", "page", 'write the "My device" page and open it in your browser', _page
    ),
    "service": Command("setup", "service", "run the agent as a service of your own", _service),
    "network": Command(
        "setup", "network", "mark the network you are on as trusted, or not", _network
    ),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for `argv`. When its command is known, only that command's arguments are
    built: argparse pays a few milliseconds for each parser, and `hygiene status` is meant to
    answer at once. Any other `argv` (`--help`, a typo) gets every command."""
    parser = _Parser(
        prog="hygiene",
        description="Audit this computer for hygiene lapses and say what to do about them.",
    )
    parser.add_argument("--version", action="version", version=f"hygiene-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the agent does")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    named = next((word for word in argv if not word.startswith("-")), None)
    chosen = [named] if named in COMMANDS else list(COMMANDS)
    for name in chosen:
        command = COMMANDS[name]
        command.arguments(commands.add_parser(name, help=command.help))
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
    arguments = _negative_durations(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    if not arguments:
        # `hygiene` alone: the commands there are, not a complaint about a missing one. A
        # usage error all the same (exit 2): nothing was done.
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(arguments)
    args.clock = clock or utc_now
    args.pull_deadline = pull_deadline
    chosen = COMMANDS[args.command]
    if chosen.logs or args.verbose:
        from agent.logs import to_stderr  # noqa: PLC0415 - only the commands that log

        to_stderr(verbose=args.verbose)
    try:
        command: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"agent.commands.{chosen.module}"), chosen.function
        )
        return command(args)
    except AgentError as err:
        _say(f"hygiene: {printable(str(err))}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (head, less) went away: not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _output_lost(err)


def _negative_durations(argv: Sequence[str]) -> list[str]:
    """`hygiene snooze ID -5m` with the duration read as one, to be refused with the reason,
    rather than as an unknown option that leaves DURATION "required"."""
    words = list(argv)
    if "snooze" not in words or "--" in words:
        return words
    at = words.index("snooze") + 1
    for i in range(at, len(words)):
        if words[i][1:2].isdigit() and words[i].startswith("-"):
            return [*words[:i], "--", *words[i:]]
    return words


def _say(sentence: str) -> None:
    """An error's one sentence on stderr; a stderr that cannot take it (full, closed) leaves
    the exit code to say it."""
    with contextlib.suppress(OSError):
        print(sentence, file=sys.stderr)
        sys.stderr.flush()


def _output_lost(err: OSError) -> int:
    """Said when stdout would not take what a command wrote; the exit code to end with."""
    reason = (err.strerror or type(err).__name__).lower()
    _say(f"hygiene: cannot write the output: {reason}")
    return EXIT_USAGE


class _WholeWrites(io.FileIO):
    """Standard output's file, written whole or not at all. CPython's buffer takes a short
    write (a disk that fills up midway) as all it could do and drops the rest without a
    word; here the rest is written too, and a disk that is full says so (an OSError)."""

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            written = super().write(view[done:])
            if written is None:  # a non-blocking descriptor that is full
                raise BlockingIOError(errno.EAGAIN, "the output cannot take more now")
            done += written
        return done


def _standard_streams() -> None:
    """stdout and stderr as the commands need them: a closed one (`>&-`) is the null device,
    not None (print() would write to the other one); stdout writes whole (_WholeWrites)."""
    if sys.stdout is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            out = sys.stdout
            whole = io.BufferedWriter(_WholeWrites(out.fileno(), "w", closefd=False))
            sys.stdout = io.TextIOWrapper(
                whole,
                encoding=out.encoding,
                errors=out.errors,
                line_buffering=bool(out.line_buffering),
            )
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, Path(os.devnull).open("w"))  # noqa: SIM115 - open until os._exit


def console() -> NoReturn:
    """The `hygiene` console script and `python -m agent`: main(), then an exit without the
    interpreter's teardown, which frees every object and module one at a time: with pydantic
    loaded, 30 to 50 ms of each `hygiene check` (bench/check.py), for memory the system takes
    back at once. main() has closed the store and every file; what was printed is flushed."""
    _standard_streams()
    try:
        code = main()
    except SystemExit as exit_:  # --help, --version, a usage error: argparse has printed it
        code = exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        code = 130
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader (head, less) went away: as in main()
    except OSError as err:  # a full disk, say: what main() says when a write fails
        code = _output_lost(err)
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
