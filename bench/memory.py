"""Where the running agent's memory goes: by layer of imports, and by kind of page.

    .venv/bin/python bench/memory.py [--seconds N]

1. Layers: a fresh interpreter imports what the resident agent imports, one layer at a time
   in the order below, and prints its RSS after each (/proc/self/status: anonymous pages,
   Python's objects and native heaps, apart from file-backed ones, the shared libraries'
   pages it touched). A module two layers need is counted in the first. The layers marked
   "policy child only" are what the agent's policy reader (agent/policy_child.py) loads on
   top: the resident agent never imports them.
2. The agent itself: `hygiene run` on the built-in default policy (the home, desktop and
   person of bench/footprint.py), read N seconds (default 20) after it logs "started":
   /proc/<pid>/smaps_rollup (RSS and PSS, anonymous and file-backed), the mappings holding
   the most RSS, its threads, and the size of its SQLite store (SQLite's page cache holds
   at most the pages read, so a store this size bounds it).

MB = 2^20 bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/desktop.py lives in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from bench.footprint import TOOLS, kill, make_home, stop, wait_started  # noqa: E402
from bench.shared import desktop_and_agent, installed, interruptible  # noqa: E402

MB = 1024 * 1024
KB_PER_MB = 1024

# Each layer: its name and the statement that loads it, run in the measuring interpreter.
LAYERS = (
    ("Python itself", "pass"),
    (
        "standard library (logging, sqlite3, subprocess, ctypes, argparse...)",
        "import argparse, ctypes, dataclasses, datetime, json, logging, pathlib, re, select,"
        " socket, sqlite3, subprocess, threading, typing",
    ),
    ("hashlib and hmac (OpenSSL's libcrypto, for HMAC fingerprints)", "import hashlib, hmac"),
    ("psutil", "import psutil"),
    ("schedule, platformdirs, jeepney (D-Bus)", "import schedule, platformdirs, jeepney"),
    (
        "agent.models and agent.settings (findings, settings as dataclasses)",
        "import agent.settings, agent.models",
    ),
    (
        "the ten checks, their probes and settings",
        "from agent.checks import load_checks\nload_checks()",
    ),
    (
        "store, notify, nudge, fleet, report, scheduler, the run command",
        "import agent.cli, agent.commands.run, agent.scheduler",
    ),
    # What the resident agent leaves to its policy child (agent.policy_child), on top:
    ("policy child only: PyYAML", "import yaml"),
    ("policy child only: pydantic, imported", "import pydantic"),
    (
        "policy child only: the policy machinery and the default policy validated",
        "from agent.checks import ALL_CHECKS\n"
        "from agent.paths import Paths\n"
        "from agent.policy import load_policy\n"
        "load_policy(Paths.from_environment(), ALL_CHECKS, keep_going=True)",
    ),
)

MEASURE = """
import json, sys
def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0])
    return fields
for name, statement in json.loads(sys.argv[1]):
    exec(statement)
    print(json.dumps([name, status(), len(sys.modules)]), flush=True)
"""


def layers(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(LAYERS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    print("1. by layer of imports (a fresh interpreter, RSS after each layer)")
    print(f"   {'layer':<74} {'+RSS':>7} {'+anon':>7} {'+file':>7} {'RSS':>7} modules")
    before = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    for line in done.stdout.splitlines():
        name, after, modules = json.loads(line)
        delta = {k: (after[k] - before[k]) / KB_PER_MB for k in before}
        print(
            f"   {name:<74} {delta['VmRSS']:>7.1f} {delta['RssAnon']:>7.1f} "
            f"{delta['RssFile']:>7.1f} {after['VmRSS'] / KB_PER_MB:>7.1f} {modules:>7}"
        )
        before = after
    print()


def smaps_rollup(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        fields[key] = int(value.split()[0])
    return fields


def mappings(pid: int) -> list[tuple[int, int, str]]:
    """(RSS kB, anonymous kB, what) per mapped file (or [heap], [anon]...), largest first."""
    totals: dict[str, list[int]] = {}
    what = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if not parts[0].endswith(":"):
            what = parts[5] if len(parts) > 5 else "[anon]"
        elif parts[0] in ("Rss:", "Anonymous:"):
            entry = totals.setdefault(what, [0, 0])
            entry[0 if parts[0] == "Rss:" else 1] += int(parts[1])
    return sorted(((r, a, w) for w, (r, a) in totals.items()), reverse=True)


def running(pid: int, state: Path) -> None:
    rollup = smaps_rollup(pid)
    threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
    print("2. the running agent")
    anon, rss = rollup["Anonymous"] / KB_PER_MB, rollup["Rss"] / KB_PER_MB
    print(
        f"   RSS {rss:.1f} MB: anonymous {anon:.1f} MB, file-backed {rss - anon:.1f} MB; "
        f"PSS {rollup['Pss'] / KB_PER_MB:.1f} MB (file pages shared with other processes "
        "counted by share)"
    )
    print(f"   threads now: {threads}")
    stores = list(state.rglob("store.db*"))  # with its -wal and -shm
    size = sum(p.stat().st_size for p in stores) / 1024
    print(f"   SQLite store: {size:.0f} KB on disk with its WAL (page cache: at most that)")
    print("   the mappings holding the most RSS (MB: RSS, of which anonymous):")
    for rss, anon, what in mappings(pid)[:10]:
        print(f"     {rss / KB_PER_MB:6.1f} {anon / KB_PER_MB:6.1f}  {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="how long after 'started' the running agent is read (default 20)",
    )
    args = parser.parse_args()
    ready = installed("bench/memory.py", TOOLS)
    if ready is None:
        return 2
    hygiene, found = ready
    interruptible()
    print(f"Python {sys.version.split()[0]}; MB = 2^20 bytes\n")
    try:
        with contextlib.ExitStack() as stack:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hygiene-bench-")))
            env = make_home(root, found["ssh-keygen"])
            layers(env)
            _, agent, log = desktop_and_agent(stack, root, hygiene, env, found)
            stack.callback(kill, agent)
            wait_started(agent, log)
            time.sleep(args.seconds)
            running(agent.pid, root / "state")
            stop(agent, log)
    except KeyboardInterrupt:
        print("\nbench/memory.py: interrupted; cleaned up", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
