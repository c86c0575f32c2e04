"""What the running agent costs: peak memory and average CPU over a fixed window.

    .venv/bin/python bench/footprint.py [--seconds N]

Starts `hygiene run` (the console script next to sys.executable) on the built-in default
policy alone: HOME, XDG_CONFIG_HOME, XDG_STATE_HOME and HYGIENE_ADMIN_DIR point into a
temporary folder, with no policy file in it. The home holds real ssh-keygen keys, two with a
passphrase and one without, so the agent has a finding and sends one notice. The agent talks
to a private desktop (Xvfb, a session bus and dunst, from tests/desktop.py), as on a real
one; the desktop's processes are not measured.

Once the agent logs "started", this process samples it for N seconds (default 120):
- peak RSS: psutil's memory_info().rss every 0.5 s, and the kernel's own high-water mark
  (VmHWM in /proc/<pid>/status) read at the end of the window, which also counts the
  start-up before "started" and any peak between two samples;
- RSS at rest: the last sample, long after the first audit (what a computer carries for
  days; the peak is start-up and the first audit, all ten checks at once);
- the children it starts (the credentials scanner): their kernel high-water mark, read
  every 50 ms while they live; not part of the agent's RSS, shown beside it;
- CPU: user + system time used during the window over the wall time, in % of one core,
  plus the busiest 12 s and 6 s stretches (osquery's watchdog stops a worker that stays over
  its CPU limit for 12 s, or 6 s when restrictive).
The first audit and its notice run inside the window. Then it sends SIGTERM and reports the
exit code and how long the agent took to stop.

Sizes are in MB of 2^20 bytes, as /proc and osquery count them. osquery's limits are looser
than they read here: its memory limit applies to growth since the worker started, and its CPU
limit is a share of all the machine's cores; this compares whole RSS and one core.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/desktop.py lives in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from bench.shared import desktop_and_agent, installed, interruptible, person_env  # noqa: E402

TOOLS = ("Xvfb", "dbus-daemon", "dbus-monitor", "dunst", "ssh-keygen")
INTERVAL = 0.5  # seconds between two samples
START_TIMEOUT = 30.0  # seconds the agent may take to log "started"
STOP_TIMEOUT = 10.0  # seconds the agent may take to exit after SIGTERM
STEADY_AFTER = 10.0  # seconds into the window after which the first audit is long done
MB = 1024 * 1024
TARGET_RSS_MB, TARGET_CPU = 32.0, 0.25
OSQUERY_NORMAL = (200.0, 10.0, 12.0)  # MB, % CPU, seconds the CPU limit may be exceeded
OSQUERY_RESTRICTIVE = (100.0, 5.0, 6.0)
STARTED = re.compile(r"hygiene: info: started \(process (\d+)\)")


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic seconds
    rss: int  # bytes
    cpu: float  # user + system seconds since the process started


@dataclass(frozen=True)
class Stopped:
    returncode: int
    seconds: float
    logged: bool  # the agent logged "stopped"


def make_home(root: Path, keygen: str) -> dict[str, str]:
    """A home with three real keys, one of them without a passphrase; no policy files."""
    ssh = root / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    for name, passphrase, extra in (
        ("id_ed25519", "correct horse battery staple", ["-t", "ed25519"]),
        ("id_rsa", "correct horse battery staple", ["-t", "rsa", "-b", "3072"]),
        ("deploy_ed25519", "", ["-t", "ed25519"]),
    ):
        subprocess.run(
            [keygen, "-q", "-N", passphrase, "-C", name, "-f", str(ssh / name), *extra],
            check=True,
        )
    (ssh / "known_hosts").write_text("example.org ssh-ed25519 AAAA\n" * 50)
    (ssh / "config").write_text("Host example.org\n    User ann\n")
    for folder in ("config", "state", "admin"):
        (root / folder).mkdir()
    return person_env(root)


def wait_started(agent: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds from now until the agent's log says "started"."""
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT:
        match = STARTED.search(log.read_text(errors="replace"))
        if match:
            if int(match.group(1)) != agent.pid:
                raise SystemExit(
                    f"bench/footprint.py: started as {match.group(1)}, not {agent.pid}"
                )
            return time.monotonic() - start
        if agent.poll() is not None:
            break
        time.sleep(0.01)
    tail = log.read_text(errors="replace")[-2000:]
    state = f"exited with {agent.returncode}" if agent.poll() is not None else "timed out"
    raise SystemExit(f'bench/footprint.py: the agent {state} before "started":\n{tail}')


def sample(process: psutil.Process) -> Sample:
    with process.oneshot():
        times = process.cpu_times()
        return Sample(time.monotonic(), process.memory_info().rss, times.user + times.system)


def watch(agent: subprocess.Popen[bytes], seconds: float) -> list[Sample]:
    """Samples every INTERVAL seconds, on a fixed grid, for `seconds` seconds."""
    process = psutil.Process(agent.pid)
    samples = [sample(process)]
    start = samples[0].at
    ticks = round(seconds / INTERVAL)
    for tick in range(1, ticks + 1):
        time.sleep(max(0.0, start + tick * INTERVAL - time.monotonic()))
        if agent.poll() is not None:
            raise SystemExit(
                f"bench/footprint.py: the agent exited with {agent.returncode} "
                f"{tick * INTERVAL:.1f} s into the window"
            )
        samples.append(sample(process))
    return samples


def high_water_mark(pid: int) -> int:
    """VmHWM from /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) * 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


class ChildWatch:
    """The peak RSS of each process the agent starts, read every 50 ms while it lives."""

    def __init__(self, pid: int) -> None:
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (what it runs, VmHWM bytes)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(pid,), daemon=True)
        self._thread.start()

    def _watch(self, pid: int) -> None:
        parent = psutil.Process(pid)
        while not self._done.wait(0.05):
            with contextlib.suppress(psutil.Error):
                for child in parent.children(recursive=True):
                    with contextlib.suppress(psutil.Error, OSError, RuntimeError):
                        name = " ".join(child.cmdline()[-2:])
                        self.peaks[child.pid] = (name, high_water_mark(child.pid))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def stop(agent: subprocess.Popen[bytes], log: Path) -> Stopped:
    start = time.monotonic()
    agent.send_signal(signal.SIGTERM)
    try:
        agent.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
    seconds = time.monotonic() - start
    logged = log.read_text(errors="replace").rstrip().endswith("hygiene: info: stopped")
    return Stopped(agent.returncode, seconds, logged)


def kill(agent: subprocess.Popen[bytes]) -> None:
    if agent.poll() is None:
        agent.kill()
        agent.wait()


def cpu_percent(first: Sample, last: Sample) -> float:
    return 100.0 * (last.cpu - first.cpu) / (last.at - first.at)


def busiest(samples: Sequence[Sample], seconds: float) -> float:
    """The highest average CPU (% of one core) over any `seconds`-long stretch of samples."""
    span = round(seconds / INTERVAL)
    if len(samples) <= span:
        return cpu_percent(samples[0], samples[-1])
    return max(cpu_percent(a, b) for a, b in zip(samples, samples[span:], strict=False))


def verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "OVER"


def report(
    samples: Sequence[Sample],
    hwm: int,
    started_after: float,
    log: Path,
    stopped: Stopped,
    *,
    children: dict[int, tuple[str, int]],
) -> None:
    window = samples[-1].at - samples[0].at
    peak = max(s.rss for s in samples) / MB
    mark = hwm / MB
    average = cpu_percent(samples[0], samples[-1])
    steady = [s for s in samples if s.at - samples[0].at >= STEADY_AFTER]
    after = cpu_percent(steady[0], steady[-1]) if len(steady) > 1 else None
    normal, restrictive = OSQUERY_NORMAL, OSQUERY_RESTRICTIVE
    busy_normal = busiest(samples, normal[2])
    busy_restrictive = busiest(samples, restrictive[2])
    text = log.read_text(errors="replace")
    told = [line.split("told: ", 1)[1] for line in text.splitlines() if "told: " in line]
    print(
        f"hygiene run on the built-in default policy; {len(samples)} samples every "
        f'{INTERVAL:g} s over {window:.1f} s from its "started" line '
        f"(logged {started_after:.2f} s after the process started)"
    )
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; bus: a private session bus "
        "with dunst on Xvfb; no policy files"
    )
    print(f"notices sent in the window: {'; '.join(told) if told else 'none'}")
    print()
    rows = [
        ("", "measured", "target", "osquery normal", "osquery restrictive"),
        (
            "peak RSS, psutil every 0.5 s",
            f"{peak:.1f} MB",
            f"{TARGET_RSS_MB:g} MB {verdict(peak, TARGET_RSS_MB)}",
            f"{normal[0]:g} MB {verdict(peak, normal[0])}",
            f"{restrictive[0]:g} MB {verdict(peak, restrictive[0])}",
        ),
        (
            "peak RSS, kernel VmHWM",
            f"{mark:.1f} MB",
            f"{TARGET_RSS_MB:g} MB {verdict(mark, TARGET_RSS_MB)}",
            f"{normal[0]:g} MB {verdict(mark, normal[0])}",
            f"{restrictive[0]:g} MB {verdict(mark, restrictive[0])}",
        ),
        ("RSS at rest (the last sample)", f"{samples[-1].rss / MB:.1f} MB", "", "", ""),
        (
            f"CPU, average over {window:.0f} s",
            f"{average:.3f} %",
            f"{TARGET_CPU:g} % {verdict(average, TARGET_CPU)}",
            f"{normal[1]:g} % {verdict(average, normal[1])}",
            f"{restrictive[1]:g} % {verdict(average, restrictive[1])}",
        ),
        (
            f"CPU, from {STEADY_AFTER:g} s on",
            "-" if after is None else f"{after:.3f} %",
            "" if after is None else f"{TARGET_CPU:g} % {verdict(after, TARGET_CPU)}",
            "",
            "",
        ),
        (
            f"CPU, busiest {normal[2]:g} s",
            f"{busy_normal:.2f} %",
            "",
            f"{normal[1]:g} % for {normal[2]:g} s {verdict(busy_normal, normal[1])}",
            "",
        ),
        (
            f"CPU, busiest {restrictive[2]:g} s",
            f"{busy_restrictive:.2f} %",
            "",
            "",
            f"{restrictive[1]:g} % for {restrictive[2]:g} s "
            f"{verdict(busy_restrictive, restrictive[1])}",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print("CPU in % of one core (the kernel counts CPU time in 10 ms ticks); MB = 2^20 bytes")
    for name, peak_bytes in sorted(set(children.values())):
        print(f"child process {name}: peak RSS {peak_bytes / MB:.1f} MB (VmHWM, not counted above)")
    print()
    print(
        f"SIGTERM: exit code {stopped.returncode}, stopped after {stopped.seconds * 1000:.0f} ms"
        + ("" if stopped.logged else ' (no "stopped" line in its log)')
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="length of the window (default 120)"
    )
    args = parser.parse_args()
    if args.seconds < 2 * INTERVAL:
        parser.error(f"--seconds must be at least {2 * INTERVAL:g}")
    ready = installed("bench/footprint.py", TOOLS)
    if ready is None:
        return 2
    hygiene, found = ready
    interruptible()
    try:
        with contextlib.ExitStack() as stack:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hygiene-bench-")))
            env = make_home(root, found["ssh-keygen"])
            _, agent, log = desktop_and_agent(stack, root, hygiene, env, found)
            stack.callback(kill, agent)
            children = ChildWatch(agent.pid)
            stack.callback(children.stop)
            started_after = wait_started(agent, log)
            samples = watch(agent, args.seconds)
            hwm = high_water_mark(agent.pid)
            children.stop()
            stopped = stop(agent, log)
            report(samples, hwm, started_after, log, stopped, children=children.peaks)
    except KeyboardInterrupt:
        print("\nbench/footprint.py: interrupted; cleaned up", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
