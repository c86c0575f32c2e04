"""End-to-end time of one agent cycle: `hygiene run --once` starting to dunst holding the notice.

    .venv/bin/python bench/notify.py [--runs N]

Starts a private desktop (Xvfb, a session bus and dunst, from tests/desktop.py), makes a home
with one unprotected ed25519 key, then runs `hygiene run --once` (the console script next to
sys.executable) N times per row, each with a fresh state directory, interleaved so that every
row sees the same machine load. While the child runs, this process polls dunst and notes, on a
monotonic clock, when the notification is first there and when the child exits.

Rows:
- bus: the default path, BusBackend (jeepney) on DBUS_SESSION_BUS_ADDRESS.
- plyer: the same cycle (agent.cycle.run_cycle, as `hygiene run --once` runs it) in a child
  `python -c` whose backend list is only PlyerBackend, which on Linux runs notify-send. Nothing
  in the environment can make the agent skip a working session bus, so the backend is chosen
  in code; the process start, imports, audit, store and delivery are the same.
- baseline: `python -c "import psutil, pydantic, yaml"`, for scale.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/desktop.py lives in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from bench.shared import installed, interruptible, person_env  # noqa: E402
from tests.desktop import Desktop, Received  # noqa: E402

TOOLS = ("Xvfb", "dbus-daemon", "dbus-monitor", "dunst")
RUN_TIMEOUT = 15.0  # seconds a single cycle may take before the run counts as failed
POLL_PAUSE = 0.005  # between two polls of dunst, so that the child keeps the CPU it needs
SENT = re.compile(r"Sent (\d+) of (\d+) notifications")


@dataclass(frozen=True)
class Sample:
    arrived: float | None  # seconds from start until a poll saw the notice at dunst
    exited: float  # seconds from start until the child exited
    returncode: int
    flagged: bool  # the agent itself says it delivered the notice ("Sent 1 of 1")
    via: str  # who made the Notify call, told apart by what it carried


@dataclass
class Row:
    name: str
    label: str
    env: dict[str, str]
    samples: list[Sample]
    argv: list[str]


# One cycle exactly as `hygiene run --once` runs it, but delivered by plyer only.
PLYER_CYCLE = """
from datetime import UTC, datetime
from agent.checks import ALL_CHECKS
from agent.checks.base import CheckContext
from agent.cycle import run_cycle
from agent.fingerprint import Fingerprinter
from agent.notify import PlyerBackend
from agent.paths import Paths
from agent.policy import load_policy
from agent.report import run_summary
from agent.store import Store
paths = Paths.from_environment()
policy = load_policy(paths, ALL_CHECKS)
ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state))
now = datetime.now(UTC)
with Store.open(paths.state) as store:
    outcome = run_cycle(policy=policy, checks=ALL_CHECKS, ctx=ctx, store=store,
                        backends=[PlyerBackend()], now=now)
print(run_summary(outcome, now), end="")
"""


def make_home(root: Path) -> dict[str, str]:
    """A home with one unprotected ed25519 key; the environment without the caller's session."""
    ssh = root / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise SystemExit("bench/notify.py: ssh-keygen is not installed")
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_ed25519")], check=True
    )
    (root / "admin").mkdir()
    return person_env(root, state=False)


@contextlib.contextmanager
def running(
    argv: Sequence[str], env: dict[str, str], out: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The child, killed if it is still running when the block is left (Ctrl-C included)."""
    with (out / "stdout").open("wb") as stdout, (out / "stderr").open("wb") as stderr:
        child = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _seen(desktop: Desktop) -> bool:
    try:
        return bool(desktop.received(timeout=0))
    except AssertionError:
        # dunst holds a notice whose Notify call dbus-monitor has not written out yet.
        return True


def measure(
    desktop: Desktop, argv: Sequence[str], env: dict[str, str], out: Path, polls: list[float]
) -> Sample:
    """One `hygiene run --once` with a fresh state directory, timed to dunst and to exit."""
    out.mkdir(parents=True)
    env = {**env, "XDG_STATE_HOME": str(out / "state")}
    desktop.clear()
    exited: list[float] = []
    arrived: float | None = None
    start = time.monotonic()
    with running(argv, env, out) as child:

        def wait() -> None:
            child.wait()
            exited.append(time.monotonic())

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        deadline = start + RUN_TIMEOUT
        while arrived is None and time.monotonic() < deadline:
            before = time.monotonic()
            if _seen(desktop):
                arrived = time.monotonic()
            polls.append(time.monotonic() - before)
            if exited and arrived is None and exited[0] + 2.0 < time.monotonic():
                break  # exited two seconds ago and still nothing: it will not come
            time.sleep(POLL_PAUSE)
        waiter.join(max(deadline - time.monotonic(), 0))
        if not exited:
            raise RuntimeError(f"hygiene run --once did not exit within {RUN_TIMEOUT:g} s")
    got: list[Received] = desktop.received(at_least=1, timeout=2.0) if arrived else []
    via = "-"
    if got:
        sender = got[0].hints.get("sender-pid")
        if sender is not None and int(sender) != child.pid:
            via = "notify-send"  # libnotify adds the sender-pid hint; BusBackend does not
        elif sender is None and got[0].actions:
            via = "BusBackend"  # the agent offers its actions; plyer has no way to
        else:
            via = "?"
    match = SENT.search((out / "stdout").read_text(errors="replace"))
    return Sample(
        arrived=None if arrived is None else arrived - start,
        exited=exited[0] - start,
        returncode=child.returncode,
        flagged=bool(match and match.group(1) == match.group(2) != "0"),
        via=via,
    )


def timed(argv: Sequence[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False)
    return time.monotonic() - start


def spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):6.1f} ms ({min(ms):.0f}-{max(ms):.0f})"


def report(rows: Sequence[Row], baseline: Sequence[float], polls: Sequence[float]) -> None:
    runs = len(baseline)
    print(
        f"hygiene run --once -> notice at dunst: {runs} runs per row, interleaved, "
        f"Python {sys.version.split()[0]}"
    )
    print(
        "median (min-max) from the child's start; arrival = end of the first dunst poll "
        f"that saw it (one poll ~{statistics.median(polls) * 1000:.1f} ms)"
    )
    print()
    print(f"{'row':<9}{'notification arrived':<28}{'process exited':<28}notes")
    for row in rows:
        arrived = [s.arrived for s in row.samples if s.arrived is not None]
        exited = [s.exited for s in row.samples]
        missing = len(row.samples) - len(arrived)
        flagged = sum(s.flagged for s in row.samples)
        senders = collections.Counter(s.via for s in row.samples if s.arrived is not None)
        before = sum(s.arrived is not None and s.arrived <= s.exited for s in row.samples)
        notes = [
            row.label,
            f"arrived before exit {before}/{len(row.samples)}",
            f"agent says delivered {flagged}/{len(row.samples)}",
            "Notify made by " + ", ".join(f"{k} {n}" for k, n in sorted(senders.items())),
        ]
        if missing:
            notes.append(f"NEVER ARRIVED {missing}")
        failed = sum(s.returncode != 0 for s in row.samples)
        if failed:
            notes.append(f"non-zero exit {failed}")
        print(f"{row.name:<9}{spread(arrived):<28}{spread(exited):<28}{notes[0]}")
        for note in notes[1:]:
            print(f"{'':<65}{note}")
    print(
        f'{"baseline":<9}{"-":<28}{spread(baseline):<28}python -c "import psutil, pydantic, yaml"'
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="runs per row (default 15)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    ready = installed("bench/notify.py", TOOLS)
    if ready is None:
        return 2
    hygiene, tools = ready
    interruptible()
    baseline_argv = [sys.executable, "-c", "import psutil, pydantic, yaml"]
    try:
        with contextlib.ExitStack() as stack:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hygiene-bench-")))
            env = make_home(root)
            (root / "desktop").mkdir()
            desktop = Desktop(root / "desktop", tools)
            stack.callback(desktop.close)
            desktop.start()
            rows = [
                Row(
                    "bus",
                    "hygiene run --once: BusBackend (jeepney), the default",
                    {**env, **desktop.env},
                    [],
                    [str(hygiene), "run", "--once"],
                ),
                Row(
                    "plyer",
                    "the same cycle with only PlyerBackend (notify-send)",
                    {**env, **desktop.env},
                    [],
                    [sys.executable, "-c", PLYER_CYCLE],
                ),
            ]
            polls: list[float] = []
            baseline: list[float] = []
            # One discarded round warms the page cache and the bytecode caches.
            for row in rows:
                measure(desktop, row.argv, row.env, root / "runs" / f"warm-{row.name}", [])
            timed(baseline_argv, rows[0].env)
            for i in range(args.runs):
                for row in rows:
                    out = root / "runs" / f"{row.name}-{i}"
                    row.samples.append(measure(desktop, row.argv, row.env, out, polls))
                baseline.append(timed(baseline_argv, rows[0].env))
            report(rows, baseline, polls)
    except KeyboardInterrupt:
        print("\nbench/notify.py: interrupted; cleaned up", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
