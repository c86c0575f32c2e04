"""What the background agent's turns cost in CPU: each check's run, and the policy look.

    .venv/bin/python bench/turn.py [--runs N]

In this process, as the agent does it: the built-in default policy, the store open, each
check run alone through the engine (its own thread, as in the agent) N times (default 21)
after one warm-up, and the look for changed policy files (the stat calls the agent makes
every 5 s) 201 times. CPU is this process's user + system time (every thread) per call,
median (a child process, the credentials scanner when files changed, is not counted, as in
bench/footprint.py); "% of a core" spreads it over the check's default period. The home is
bench/footprint.py's (three real keys, one unprotected); no desktop, so the desktop checks
decide quickly that there is none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.footprint import make_home  # noqa: E402

POLICY_LOOK_SECONDS = 5.0  # agent.scheduler.POLICY_POLL_SECONDS


def cpu_ms(call: Callable[[], object], runs: int) -> float:
    """Median CPU milliseconds of one call."""
    spent = []
    for _ in range(runs):
        start = time.process_time()
        call()
        spent.append((time.process_time() - start) * 1000)
    return statistics.median(spent)


def measure(runs: int) -> None:
    from agent.checks import ALL_CHECKS  # noqa: PLC0415 - after the environment is set
    from agent.checks.base import CheckContext  # noqa: PLC0415
    from agent.engine import run_checks  # noqa: PLC0415
    from agent.fingerprint import Fingerprinter  # noqa: PLC0415
    from agent.paths import Paths  # noqa: PLC0415
    from agent.policy import load_policy  # noqa: PLC0415
    from agent.scheduler import policy_signature  # noqa: PLC0415
    from agent.store import Store  # noqa: PLC0415

    paths = Paths.from_environment()
    policy = load_policy(paths, ALL_CHECKS, keep_going=True)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; medians of {runs} runs")
    print(f"{'':<22} {'CPU per run':>12} {'every':>8} {'% of a core':>12}")
    total = 0.0
    with Store.open(paths.state, agent=True) as store:
        ctx = CheckContext(
            paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state), store=store
        )
        for check in ALL_CHECKS:

            def one(check_id: str = check.id) -> object:
                return run_checks(policy, ALL_CHECKS, ctx, only=[check_id])

            one()
            ms = cpu_ms(one, runs)
            every = policy.settings[check.id].every.total_seconds()
            share = ms / every / 10
            total += share
            print(f"{check.id:<22} {ms:>9.2f} ms {every:>6.0f} s {share:>11.4f} %")
    ms = cpu_ms(lambda: policy_signature(paths), 201)
    share = ms / POLICY_LOOK_SECONDS / 10
    total += share
    print(f"{'policy look':<22} {ms:>9.2f} ms {POLICY_LOOK_SECONDS:>6.0f} s {share:>11.4f} %")
    print(f"{'together':<22} {'':>12} {'':>8} {total:>11.4f} %")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=21, help="runs of each check (default 21)")
    args = parser.parse_args()
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        print("bench/turn.py: not installed: ssh-keygen", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hygiene-bench-") as folder:
        env = make_home(Path(folder), keygen)
        os.environ.clear()
        os.environ.update(env)
        measure(args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
