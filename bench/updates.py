"""What the updates check costs, with apt asked (cold) and answered from the store (warm).

    .venv/bin/python bench/updates.py [--runs N] [--packages N]

On the real apt, pointed at private folders (tests/apt_repo.py): two local file://
repositories with --packages security updates waiting (and one normal update), fetched with
a real `apt-get update`. Interleaved, median over --runs rounds of:
- cold: the check's whole run with an empty store, so apt is asked (apt-config, then
  `apt-get -s upgrade`), and what it said is kept;
- warm: the check's whole run again with that store: the files apt reads have not changed,
  so the kept answer is used (a stat of each of them, one read of the store);
- baseline: `apt-get -s upgrade` alone, as a person would type it, on the same folders.
With --system, also this machine's own apt (its real lists, read-only): the probe asked
cold, beside `apt-get -s upgrade` over every list, interleaved.
Goals: cold under 300 ms, warm under 5 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.apt_repo import PACKAGES, build  # noqa: E402

COLD_GOAL_MS = 300.0
WARM_GOAL_MS = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--system", action="store_true", help="also this machine's own apt")
    args = parser.parse_args()
    if not all(shutil.which(t) for t in ("apt-get", "apt-ftparchive", "dpkg-deb")):
        print("bench/updates.py needs apt-get (apt), apt-ftparchive (apt-utils) and dpkg-deb")
        return 1
    from agent.checks.base import CheckContext  # noqa: PLC0415
    from agent.checks.updates import UpdatesCheck, UpdatesParams  # noqa: PLC0415
    from agent.fingerprint import Fingerprinter  # noqa: PLC0415
    from agent.paths import Paths  # noqa: PLC0415
    from agent.store import Store  # noqa: PLC0415

    cold: list[float] = []
    warm: list[float] = []
    baseline: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        repo = build(root / "apt", extra_security=args.packages)
        repo.update()
        apt_get = ["apt-get", "-s", "upgrade"]
        for n in range(args.runs):
            state = root / f"state{n}"
            paths = Paths(root, state / "u", state / "a", state)
            with Store.open(state) as store:
                ctx = CheckContext(
                    paths=paths,
                    fingerprint=Fingerprinter.for_state_dir(state),
                    env=repo.env,
                    store=store,
                )
                for times in (cold, warm):
                    check = UpdatesCheck(UpdatesParams())
                    started = time.perf_counter()
                    check.run(ctx)
                    times.append((time.perf_counter() - started) * 1000)
                    assert not check.notes, check.notes
            started = time.perf_counter()
            subprocess.run(apt_get, env=repo.env, capture_output=True, check=True)
            baseline.append((time.perf_counter() - started) * 1000)
            shutil.rmtree(state)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.runs} rounds")
    security = args.packages + sum(1 for _, fixed, _ in PACKAGES.values() if fixed)
    normal = sum(1 for _, _, newer in PACKAGES.values() if newer)
    print(f"{security} security updates and {normal} normal update(s) waiting")
    rows = [
        ("updates, cold (apt asked)", cold, COLD_GOAL_MS),
        ("updates, warm (store)", warm, WARM_GOAL_MS),
        ("apt-get -s upgrade alone", baseline, None),
    ]
    if args.system:
        rows += _system(args.runs)
    for name, times, goal in rows:
        median = statistics.median(times)
        verdict = "" if goal is None else f"; goal under {goal:g} ms: "
        if goal is not None:
            verdict += "met" if median < goal else "NOT met"
        print(
            f"{name}: median {median:.2f} ms (min {min(times):.2f}, max {max(times):.2f}){verdict}"
        )
    return 0


def _system(runs: int) -> list[tuple[str, list[float], float | None]]:
    """This machine's own apt: the probe (no store, so apt is asked) and apt-get alone."""
    from agent.probes import updates  # noqa: PLC0415

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    probe: list[float] = []
    whole: list[float] = []
    found = None
    for _ in range(max(3, runs // 3)):
        started = time.perf_counter()
        found = updates(env)
        probe.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        subprocess.run(["apt-get", "-s", "upgrade"], env=env, capture_output=True, check=False)
        whole.append((time.perf_counter() - started) * 1000)
    if found is not None:
        waiting = sum(1 for p in found.pending if p.security)
        print(f"this machine's apt: {waiting} security updates waiting")
    return [
        ("this machine's apt, the probe (security lists alone)", probe, COLD_GOAL_MS),
        ("this machine's apt, apt-get -s upgrade over every list", whole, None),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
