"""A whole audit, as a person runs it: `hygiene check` on the default policy (all ten
checks), beside Debian's lynis on the same machine in the same run.

    python bench/check.py [--runs N] [--per-round N] [--other-files N] [--no-lynis]

The home is the one bench/credentials.py makes (credential files of every format, weak and
strong passwords, tokens, projects, documents and caches), plus three SSH keys. Each round
times, as whole processes and interleaved so that all see the same machine load, lynis once
and each of these --per-round times (default 5), in an order that turns from one repeat to
the next:
- `hygiene check` (the target: at most 0.3 s);
- `hygiene check --only ssh_keys`: start-up and policy, with one check that reads three
  files: the least any audit costs;
- `hygiene check --only credentials`: the file scanner's child process, the slowest check;
- `lynis audit system --quick --no-colors --no-log` (needs root; --no-log keeps it off
  /var/log), unless --no-lynis.
Prints the medians and the ratio of lynis's time to ours.
"""

from __future__ import annotations

import argparse
import os
import random
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

from bench.credentials import Planted, other_files  # noqa: E402
from bench.shared import installed, person_env  # noqa: E402

TARGET = 0.3
LYNIS = ["audit", "system", "--quick", "--no-colors", "--no-log"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def make_home(root: Path, keygen: str, others: int) -> dict[str, str]:
    """bench/credentials.py's home with three SSH keys; the environment to audit it in."""
    home = root / "home"
    rng = random.Random(80063)  # noqa: S311 - the same home every run, not secrets
    Planted(home, rng, shutil.which("rclone"))
    other_files(home, rng, others)
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    for name, extra in (
        ("id_ed25519", []),
        ("id_rsa", ["-t", "rsa", "-b", "3072"]),
        ("legacy", ["-t", "rsa", "-b", "2048", "-m", "PEM"]),
    ):
        subprocess.run([keygen, "-q", "-N", "", "-f", str(ssh / name), *extra], check=True)
    env = person_env(root)
    # As a person runs it: with the bytecode cached (an installed wheel has it compiled).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds")
    parser.add_argument("--other-files", type=int, default=2_000)
    parser.add_argument("--no-lynis", action="store_true", help="time hygiene alone")
    parser.add_argument(
        "--per-round", type=int, default=5, help="runs of each of ours per round (per lynis run)"
    )
    args = parser.parse_args()
    found = installed("bench/check.py", ["ssh-keygen"])
    if found is None:
        return 2
    hygiene, tools = found
    lynis = None if args.no_lynis else shutil.which("lynis") or "/usr/sbin/lynis"
    if lynis is not None and not (Path(lynis).exists() and os.geteuid() == 0):
        print(
            "bench/check.py: lynis needs root and /usr/sbin/lynis; see --no-lynis", file=sys.stderr
        )
        return 2
    script = str(hygiene)
    commands = {
        "hygiene check": [script, "check"],
        "hygiene check --only ssh_keys": [script, "check", "--only", "ssh_keys"],
        "hygiene check --only credentials": [script, "check", "--only", "credentials"],
    }
    if lynis is not None:
        commands["lynis " + " ".join(LYNIS)] = [lynis, *LYNIS]
    with tempfile.TemporaryDirectory() as tmp:
        env = make_home(Path(tmp), tools["ssh-keygen"], args.other_files)
        for argv in commands.values():
            timed(argv, env)  # warm the page cache, the bytecode and the install key
        times: dict[str, list[float]] = {name: [] for name in commands}
        mine = [name for name in commands if not name.startswith("lynis")]
        for turn in range(args.runs):
            if lynis is not None:
                times["lynis " + " ".join(LYNIS)].append(timed([lynis, *LYNIS], env))
            # Each of ours several times a round, in a turning order: the run right after
            # lynis's 45 s of disk and CPU is not always the same command's.
            for repeat in range(args.per_round):
                first = (turn + repeat) % len(mine)
                for name in mine[first:] + mine[:first]:
                    times[name].append(timed(commands[name], env))
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    print(
        f"rounds: {args.runs} (lynis once, each of ours {args.per_round} times), interleaved, "
        f"Python {sys.version.split()[0]}"
    )
    width = max(map(len, medians))
    for name, median in medians.items():
        print(f"{name:<{width}}  median {median * 1000:8.1f} ms")
    ours = medians["hygiene check"]
    verdict = "ok" if ours <= TARGET else "no"
    print(f"[{verdict}] hygiene check on the default policy within {TARGET * 1000:.0f} ms")
    if lynis is not None:
        theirs = medians["lynis " + " ".join(LYNIS)]
        print(f"lynis / hygiene check: {theirs / ours:.1f}x (lynis audits the whole system)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
