"""`hygiene page`: write the "My device" page (agent/page.py) and open it in the default
browser; `--print-path` only writes it and prints where it is."""

from __future__ import annotations

import argparse
import sys

from agent.checks import load_checks
from agent.commands import EXIT_OK, EXIT_USAGE
from agent.commands.policy import in_force
from agent.opener import open_with_default, opener_name
from agent.page import write_page
from agent.paths import Paths
from agent.store import Store
from agent.text import printable


def page(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    policy = in_force(paths)  # as the agent has it: a refused file is named on the page
    now = args.clock()
    # Read-only: the page reads what the agent recorded and changes none of it.
    store = Store.open_read_only(paths.state)
    try:
        written = write_page(paths, store=store, policy=policy, checks=load_checks(), now=now)
    except OSError as err:
        return _fail(f"cannot write the page in {paths.state}: {_reason(err)}")
    finally:
        if store is not None:
            store.close()
    shown = printable(str(written))
    if args.print_path:
        print(shown)
        return EXIT_OK
    try:
        open_with_default(written, sys.platform)
    except OSError as err:
        return _fail(
            f"cannot open the page with {opener_name(sys.platform)} ({_reason(err)}); "
            f"it is written at {shown}"
        )
    print(f"Opened {shown} in your browser.")
    return EXIT_OK


def _reason(err: OSError) -> str:
    return (err.strerror or type(err).__name__).rstrip(".").lower()


def _fail(sentence: str) -> int:
    print(f"hygiene: {printable(sentence)}.", file=sys.stderr)
    return EXIT_USAGE
