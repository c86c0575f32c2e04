"""The long form of tests/test_credential_fuzz.py: every credential format's parser, fed any
bytes and its damaged samples with a planted canary, N examples per format and property.

    .venv/bin/python bench/fuzz_credentials.py [--examples N] [--big M] [--only FORMAT ...]

"big inputs" is up to the scanner's 1 MiB of one repeated piece of syntax (deep nesting, many
lines, many entries), M examples (default N / 20): each takes up to seconds.
Prints, per format, how many examples each property ran, how long it took and the first
failure (hypothesis's shrunk example) if any; exits 1 when any property failed. The
properties are the tests' own: facts or a note that is not a parser's crash, and the canary
never in the answer as text, UTF-16, hex or base64.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from agent.credentials.families import FAMILIES  # noqa: E402
from bench.shared import interruptible  # noqa: E402
from tests.test_credential_fuzz import Counter, bytes_property, planted_property  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="per format and property")
    parser.add_argument("--big", type=int, help="big inputs per format (default: N / 20)")
    parser.add_argument("--only", nargs="*", default=(), metavar="FORMAT")
    args = parser.parse_args()
    interruptible()
    big = args.big if args.big is not None else max(5, args.examples // 20)
    failed = 0
    total = 0
    started = time.monotonic()
    for family in FAMILIES:
        if args.only and family.id not in args.only:
            continue
        runs = (
            ("any bytes", args.examples, bytes_property),
            ("planted canary", args.examples, planted_property),
            ("big inputs", big, partial(bytes_property, big=True)),
        )
        for name, examples, prop in runs:
            count = Counter()
            began = time.monotonic()
            try:
                prop(family.id, examples, count)()
                outcome = "ok"
            except Exception as err:  # noqa: BLE001 - printed, and the next format goes on
                failed += 1
                said = "".join(traceback.format_exception_only(err)).strip()
                outcome = f"FAILED:\n{said[:4000]}"
            total += count.examples
            print(
                f"{family.id:16s} {name:15s} {count.examples:7,d} examples "
                f"{time.monotonic() - began:7.1f} s  {outcome}",
                flush=True,
            )
    print(f"{total:,} examples in {time.monotonic() - started:.0f} s; {failed} properties failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
