"""The long form of tests/test_install_key.py: SIGKILL around the install key's creation.

    .venv/bin/python bench/install_key_kills.py [--tries N] [--racers R] [--rounds M]

N times (default 2000): a fresh state folder, a real process that makes the key
(agent.fingerprint, as `hygiene check` does first), killed with SIGKILL a moment after the
folder appears; the moment is steered toward the edge of the key's publication after each
try, so kills land before, during and after it. After each kill the key is absent or
whole (32 bytes), and a later process reads it (or makes one) with no warning. Then M
rounds (default 200) of R processes (default 8) released at once to make the same key:
they must all get the same key. Prints the counts; exits 1 on any partial key or
disagreement.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from agent.fingerprint import KEY_BYTES  # noqa: E402
from tests.test_install_key import key_of, start  # noqa: E402


def kills(root: Path, tries: int) -> tuple[int, int, int]:
    delay, before, after, partial = 0.002, 0, 0, 0
    for attempt in range(tries):
        state = root / f"kill-{attempt}"
        child = start(state)
        while not state.exists() and child.poll() is None:
            pass
        time.sleep(random.uniform(0, delay))  # noqa: S311 - a moment, not a secret
        child.send_signal(signal.SIGKILL)
        child.communicate()
        key = key_of(state)
        if key is None:
            before, delay = before + 1, delay * 1.5
        elif len(key) == KEY_BYTES:
            after, delay = after + 1, delay / 1.5
        else:
            partial += 1
        reader = start(state)
        out, err = reader.communicate(timeout=60)
        if err or not out.strip().endswith("True") or len(key_of(state) or b"") != KEY_BYTES:
            partial += 1
    return before, after, partial


def races(root: Path, rounds: int, racers: int) -> int:
    disagreed = 0
    for round_ in range(rounds):
        state, go = root / f"race-{round_}", root / f"go-{round_}"
        children = [start(state, str(go)) for _ in range(racers)]
        time.sleep(0.3)
        go.touch()
        ids = {child.communicate(timeout=60)[0].strip() for child in children}
        disagreed += len(ids) != 1
    return disagreed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--racers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.monotonic()
        before, after, partial = kills(root, args.tries)
        print(
            f"{args.tries} SIGKILLs: {before} before the key was published, {after} after, "
            f"{partial} left a partial key or broke the next run"
        )
        disagreed = races(root, args.rounds, args.racers)
        print(
            f"{args.rounds} rounds of {args.racers} processes making the key at once: "
            f"{disagreed} disagreed"
        )
        print(f"({time.monotonic() - started:.0f} s)")
    return 1 if partial or disagreed else 0


if __name__ == "__main__":
    sys.exit(main())
