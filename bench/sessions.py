"""How long the session probe takes with 50 signed-in sessions.

    sudo .venv/bin/python bench/sessions.py [--sessions N] [--runs N]

Needs root: it adds N records to /run/utmp (creating the file if this machine has none) the
way terminal emulators do, through libutempter, from one helper process that holds a pty
for each, so every record is live. Then it times, in this process, the agent's probe
(`agent.probes.sessions`: utmp, dropping dead entries, and each terminal's idle time) and
`psutil.users()` alone, and `who` as a subprocess for comparison; medians over --runs
calls, interleaved. The records are removed again at the end. When Xvfb is installed, it
also times `agent.probes.desktop_idle` against a private Xvfb (XScreenSaver; no Mutter or
logind here).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes.util
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.probes import desktop_idle, sessions  # noqa: E402
from bench.shared import interruptible  # noqa: E402

UTMP = Path("/run/utmp")
X_SOCKETS = Path("/tmp/.X11-unix")  # noqa: S108 - where every X server puts its socket

HOLDER = """
import ctypes, os, sys
lib = ctypes.CDLL(sys.argv[1])
masters = []
for i in range(int(sys.argv[2])):
    master, slave = os.openpty()
    if not lib.utempter_add_record(master, f"bench{i}.example".encode()):
        sys.exit("libutempter refused a record")
    masters.append(master)
print("ready", flush=True)
sys.stdin.readline()
for master in masters:
    lib.utempter_remove_record(master)
"""


@contextlib.contextmanager
def utmp_file() -> Iterator[None]:
    created = not UTMP.exists()
    if created:
        subprocess.run(
            ["install", "-m", "664", "-o", "root", "-g", "utmp", "/dev/null", str(UTMP)],
            check=True,
        )
    try:
        yield
    finally:
        if created:
            UTMP.unlink(missing_ok=True)


@contextlib.contextmanager
def live_sessions(count: int, library: str) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, library, str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "ready":
            raise SystemExit("bench/sessions.py: the record holder did not start")
        yield
    finally:
        if holder.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                holder.stdin.write("done\n")
                holder.stdin.flush()
        holder.wait(30)


@contextlib.contextmanager
def private_display() -> Iterator[str | None]:
    """A private Xvfb (kept from resetting when a client leaves), or None without Xvfb."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        yield None
        return
    number = next(n for n in range(90, 200) if not (X_SOCKETS / f"X{n}").exists())
    server = subprocess.Popen(
        [xvfb, f":{number}", "-noreset", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not (X_SOCKETS / f"X{number}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--runs", type=int, default=101)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/sessions.py: needs root to write /run/utmp", file=sys.stderr)
        return 2
    library = ctypes.util.find_library("utempter")
    who = shutil.which("who")
    if library is None or who is None:
        print("bench/sessions.py: needs libutempter0 and who (coreutils)", file=sys.stderr)
        return 2
    interruptible()
    try:
        with utmp_file(), live_sessions(args.sessions, library), private_display() as display:
            found = sessions(datetime.now(UTC))
            ours = [s for s in found if s.host.startswith("bench")]
            rows: dict[str, list[float]] = {"probe": [], "psutil": [], "who": [], "desktop": []}
            env = {"DISPLAY": display} if display else {}
            answer = desktop_idle(env)
            for _ in range(args.runs):
                rows["probe"].append(timed(lambda: sessions(datetime.now(UTC))))
                rows["psutil"].append(timed(psutil.users))
                rows["who"].append(
                    timed(lambda: subprocess.run([who], stdout=subprocess.DEVNULL, check=True))
                )
                if display:
                    rows["desktop"].append(timed(lambda: desktop_idle(env)))
    except KeyboardInterrupt:
        print("\nbench/sessions.py: interrupted; cleaned up", file=sys.stderr)
        return 130
    source = answer.source if answer else "no answer"
    print(
        f"{len(ours)} live utmp sessions (libutempter), {len(found)} in all; "
        f"{args.runs} calls each, interleaved; Python {sys.version.split()[0]}"
    )
    for name, label in (
        ("probe", "agent.probes.sessions() (utmp, dead entries dropped, tty idle)"),
        ("psutil", "psutil.users() alone"),
        ("who", "`who` as a subprocess"),
        ("desktop", f"agent.probes.desktop_idle() on Xvfb {display} ({source})"),
    ):
        values = rows[name]
        if not values:
            continue
        print(
            f"{label:<64} median {statistics.median(values) * 1000:7.3f} ms"
            f"  (min {min(values) * 1000:.3f}, max {max(values) * 1000:.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
