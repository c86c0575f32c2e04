"""The long form of tests/test_policy_fuzz.py: many more examples of each property.

    python bench/fuzz_policy.py [--examples N]

Any bytes and any YAML document given as a policy (to load_file, to load_policy as a user
and as an admin file, strict and as the agent reads, and to `hygiene policy validate`)
must give a policy or one PolicyError sentence, never another exception, within bounded
memory. Prints how many examples ran, by outcome; a failure prints hypothesis's smallest
failing example and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from tests.test_policy_fuzz import Counts, run_all  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=2000, help="per file property (a third per layering)"
    )
    args = parser.parse_args()
    started = time.monotonic()

    def report(counts: Counts) -> None:
        took = time.monotonic() - started
        print(f"{counts.total} examples in {took:.0f} s, no exception but PolicyError:")
        for kind, n in sorted(counts.by_kind.items()):
            print(f"  {kind:16} {n}")

    try:
        run_all(args.examples, report)
    except Exception as err:  # noqa: BLE001 - hypothesis has printed the example
        print(f"FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
