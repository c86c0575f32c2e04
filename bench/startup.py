"""Start-up of the commands people type to see where things stand, against the least any
Python program that reads the store pays.

    python bench/startup.py [--runs N]

Each of `hygiene --help`, `hygiene` alone, `status`, `notifications`, `snooze` and
`unsnooze` runs as a whole process on a store a real `hygiene run --once` filled (a home
with three SSH keys), interleaved with `python -c "import sqlite3"` so that all see the
same machine load. Prints each one's median wall time and its ratio to that floor; the
target is at most 3x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.shared import installed, person_env  # noqa: E402

TARGET = 3.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def audited_home(root: Path, hygiene: Path, keygen: str) -> tuple[dict[str, str], str]:
    """A person's home with three SSH keys and the store a real `run --once` made; the
    environment to run `hygiene` in and one finding's id."""
    env = person_env(root)
    # As a person runs it: with the bytecode cached (an installed wheel has it compiled).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ssh = root / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    for name, extra in (("id_ed25519", []), ("id_rsa", ["-t", "rsa", "-b", "3072"])):
        subprocess.run([keygen, "-q", "-N", "", "-f", str(ssh / name), *extra], check=True)
    subprocess.run([str(hygiene), "run", "--once"], env=env, capture_output=True, check=True)
    status = subprocess.run(
        [str(hygiene), "status", "--json"], env=env, capture_output=True, text=True, check=False
    )
    return env, str(json.loads(status.stdout)["failing"][0]["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()
    found = installed("bench/startup.py", ["ssh-keygen"])
    if found is None:
        return 2
    hygiene, tools = found
    with tempfile.TemporaryDirectory() as tmp:
        env, finding = audited_home(Path(tmp), hygiene, tools["ssh-keygen"])
        script = str(hygiene)
        commands = {
            'python -c "import sqlite3"': [sys.executable, "-c", "import sqlite3"],
            "hygiene --help": [script, "--help"],
            "hygiene": [script],
            "hygiene status": [script, "status"],
            "hygiene notifications": [script, "notifications"],
            "hygiene snooze ID 1h": [script, "snooze", finding, "1h"],
            "hygiene unsnooze ID": [script, "unsnooze", finding],
        }
        for argv in commands.values():
            timed(argv, env)  # warm the page cache and the bytecode
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(timed(argv, env))
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    floor_name = 'python -c "import sqlite3"'
    floor = medians[floor_name]
    print(f"runs: {args.runs} each, interleaved, Python {sys.version.split()[0]}")
    width = max(map(len, medians))
    for name, median in medians.items():
        ratio = median / floor
        mark = (
            "" if name == floor_name else f"  {ratio:4.2f}x  [{'ok' if ratio <= TARGET else 'no'}]"
        )
        print(f"{name:<{width}}  median {median * 1000:6.1f} ms{mark}")
    worst = max(m for name, m in medians.items() if name != floor_name) / floor
    print(f"slowest light command: {worst:.2f}x the floor (target: at most {TARGET:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
