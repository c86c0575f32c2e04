"""Time from a planted problem to its notice arriving at dunst, on the default cadence.

    .venv/bin/python bench/latency.py [--runs N] [--seed S]

Starts a private desktop (Xvfb, a session bus and dunst, from tests/desktop.py) and one
`hygiene run` (the console script next to sys.executable) on a home whose only key has a
passphrase, so the agent starts with nothing to say. Then, N times (default 15, after one
discarded warm-up round):

1. wait a random part of the check's period (seeded), so that the key lands anywhere in the
   agent's cycle rather than always just after a run;
2. plant a new unprotected key, a new file name each time (`ssh-keygen -t ed25519 -N ""`),
   and note the monotonic time just after ssh-keygen returns;
3. poll dunst until it holds a notice whose body names that key; the latency is the time
   of the first poll that saw it;
4. wait another random part of the period, delete the key and wait the same way for the
   agent's "Fixed, thank you" naming it, so that the next round starts with no finding and
   nothing in flight (that latency, from the deletion, is reported too).

The check's cadence is the default policy's (ssh_keys every 5s); the script reads it back
with `hygiene policy show --json` and prints it. One thing is changed: the nudge caps notices
at notify.max_per_hour (4 by default), which a run of 15 rounds with two notices each would
hit, so a user policy file raises that cap alone to 1000. The output says so.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/desktop.py lives in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from agent.durations import parse_duration  # noqa: E402
from bench.shared import desktop_and_agent, installed, interruptible, person_env  # noqa: E402
from tests.desktop import Desktop, Received  # noqa: E402

TOOLS = ("Xvfb", "dbus-daemon", "dbus-monitor", "dunst", "ssh-keygen")
CHECK = "ssh_keys"
MAX_PER_HOUR = 1000
POLICY_FILE = "bench-latency.yaml"
POLICY = f"""# bench/latency.py: two notices a round would hit the default cap of 4 an hour.
schema: 1
notify:
  max_per_hour: {MAX_PER_HOUR}
"""
POLL_PAUSE = 0.02  # seconds between two polls of dunst
START_TIMEOUT = 30.0
TARGET = 5.0  # seconds
THANKS = "Fixed, thank you"
STARTED = re.compile(r"hygiene: info: started \(process (\d+)\)")


@dataclass(frozen=True)
class Round:
    name: str
    warning: float | None  # seconds from ssh-keygen returning to the notice at dunst
    thanks: float | None  # seconds from deleting the key to the thank-you at dunst


@dataclass(frozen=True)
class Cadence:
    every: float  # seconds
    every_text: str
    every_from: str
    max_per_hour: int
    max_per_hour_from: str


def make_home(root: Path, keygen: str) -> dict[str, str]:
    """A home with one key that has a passphrase, and the policy file that lifts the cap."""
    ssh = root / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    protected = ["-N", "correct horse battery staple", "-C", "id_ed25519"]
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", *protected, "-f", str(ssh / "id_ed25519")], check=True
    )
    (ssh / "known_hosts").write_text("example.org ssh-ed25519 AAAA\n" * 50)
    policies = root / "config" / "hygiene-agent" / "policies.d"
    policies.mkdir(parents=True)
    (policies / POLICY_FILE).write_text(POLICY)
    for folder in ("state", "admin"):
        (root / folder).mkdir()
    return person_env(root)


def read_cadence(hygiene: Path, env: dict[str, str]) -> Cadence:
    """The settings the agent will run with, as `hygiene policy show --json` reports them."""
    shown = subprocess.run(
        [str(hygiene), "policy", "show", "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    policy = json.loads(shown.stdout)
    check = policy["checks"][CHECK]
    notify = policy["notify"]
    every = str(check["settings"]["every"])
    return Cadence(
        every=parse_duration(every).total_seconds(),
        every_text=every,
        every_from=check["from"].get("every", "the check's default"),
        max_per_hour=int(notify["settings"]["max_per_hour"]),
        max_per_hour_from=notify["from"].get("max_per_hour", "the agent's default"),
    )


def wait_log(agent: subprocess.Popen[bytes], log: Path, pattern: str, what: str) -> None:
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT:
        if re.search(pattern, log.read_text(errors="replace"), re.MULTILINE):
            return
        if agent.poll() is not None:
            break
        time.sleep(0.01)
    tail = log.read_text(errors="replace")[-2000:]
    state = f"exited with {agent.returncode}" if agent.poll() is not None else "timed out"
    raise SystemExit(f"bench/latency.py: the agent {state} before {what}:\n{tail}")


def stop(agent: subprocess.Popen[bytes]) -> None:
    if agent.poll() is None:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


def wait_notice(
    desktop: Desktop,
    wanted: Callable[[Received], bool],
    since: float,
    timeout: float,
    polls: list[float],
) -> float | None:
    """Seconds from `since` until the first dunst poll that saw a notice `wanted` accepts.

    Notices are told apart by what they say, not by dunst's id: each of the agent's notices
    replaces the check's previous one, and dunst gives the new one the same id.
    """
    while time.monotonic() - since < timeout:
        before = time.monotonic()
        # One property read: cheap enough to poll often without taking the agent's CPU.
        showing = desktop.showing()
        seen = time.monotonic()
        polls.append(seen - before)
        # Reading closes what dunst shows, so the next notice shows up on its own again.
        if showing and any(wanted(notice) for notice in desktop.received(timeout=2.0)):
            return seen - since
        time.sleep(POLL_PAUSE)
    return None


def names(key: str) -> Callable[[Received], bool]:
    shown = f"~/.ssh/{key} "
    return lambda n: n.summary != THANKS and (shown in n.body or shown in n.body_text)


def thanks_for(key: str) -> Callable[[Received], bool]:
    shown = f"~/.ssh/{key} "
    return lambda n: n.summary == THANKS and (shown in n.body or shown in n.body_text)


def one_round(
    desktop: Desktop,
    *,
    keygen: str,
    ssh: Path,
    name: str,
    offsets: tuple[float, float],
    timeout: float,
    polls: list[float],
) -> Round:
    time.sleep(offsets[0])
    key = ssh / name
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    planted = time.monotonic()
    warning = wait_notice(desktop, names(name), planted, timeout, polls)
    time.sleep(offsets[1])
    key.unlink()
    key.with_name(f"{name}.pub").unlink()
    deleted = time.monotonic()
    thanks = wait_notice(desktop, thanks_for(name), deleted, timeout, polls)
    return Round(name, warning, thanks)


def spread(values: Sequence[float]) -> str:
    if not values:
        return "none arrived"
    return (
        f"median {statistics.median(values):.2f} s   min {min(values):.2f} s   "
        f"max {max(values):.2f} s"
    )


def report(
    rounds: Sequence[Round],
    cadence: Cadence,
    polls: Sequence[float],
    seed: int,
    log: Path,
) -> None:
    warnings = [r.warning for r in rounds if r.warning is not None]
    thanks = [r.thanks for r in rounds if r.thanks is not None]
    text = log.read_text(errors="replace")
    told = sum("hygiene: info: told: " in line for line in text.splitlines())
    trouble = [line for line in text.splitlines() if ": warning: " in line or ": error: " in line]
    print(
        f"planted unprotected key -> notice at dunst: {len(rounds)} rounds after 1 warm-up, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    print(
        f"cadence: {CHECK} every {cadence.every_text} ({cadence.every_from}), not changed; "
        f"each key planted, and deleted, at a random point of that period (seed {seed})"
    )
    print(
        f"policy: the built-in default, plus a user file {POLICY_FILE} that raises only "
        f"notify.max_per_hour from 4 to {cadence.max_per_hour} (in force: from "
        f"{Path(cadence.max_per_hour_from).name})"
    )
    print(
        f"arrival = the first dunst poll that saw it; a poll every {POLL_PAUSE * 1000:.0f} ms, "
        f"one poll ~{statistics.median(polls) * 1000:.1f} ms"
    )
    print()
    within = sum(w <= TARGET for w in warnings)
    missed = len(rounds) - len(warnings)
    verdict = "ok" if warnings and statistics.median(warnings) <= TARGET else "OVER"
    print('key planted (ssh-keygen -N "" returned) -> "An SSH key has no passphrase" at dunst')
    print(f"    {spread(warnings)}   target <= {TARGET:g} s: {verdict}")
    print(
        f"    {within}/{len(rounds)} rounds within {TARGET:g} s"
        + (f"; NEVER ARRIVED in {missed}" if missed else "")
    )
    print("    each, sorted: " + " ".join(f"{w:.2f}" for w in sorted(warnings)))
    print(f'key deleted -> "{THANKS}" at dunst')
    print(f"    {spread(thanks)}")
    if len(thanks) < len(rounds):
        print(f"    NEVER ARRIVED in {len(rounds) - len(thanks)}")
    print()
    print(f"agent log: {told} notices told (warm-up included), {len(trouble)} warnings or errors")
    for line in trouble[:5]:
        print(f"    {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="rounds measured (default 15)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random wait before each key (default 0)"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    ready = installed("bench/latency.py", TOOLS)
    if ready is None:
        return 2
    hygiene, found = ready
    keygen = found["ssh-keygen"]
    # Only when each key is planted; seeded so that a rerun plants at the same points.
    rng = random.Random(args.seed)  # noqa: S311
    interruptible()
    try:
        with contextlib.ExitStack() as stack:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hygiene-bench-")))
            env = make_home(root, keygen)
            cadence = read_cadence(hygiene, env)
            timeout = 3 * cadence.every + 10.0
            desktop, agent, log = desktop_and_agent(stack, root, hygiene, env, found)
            stack.callback(stop, agent)
            wait_log(agent, log, STARTED.pattern, '"started"')
            # The first audit finds nothing: from here on every notice is one a round caused.
            wait_log(agent, log, rf"^hygiene: info: {CHECK}: pass$", "its first audit")
            ssh = root / "home" / ".ssh"
            polls: list[float] = []
            tag = f"{rng.randrange(16**6):06x}"
            one_round(
                desktop,
                keygen=keygen,
                ssh=ssh,
                name=f"warm-{tag}",
                offsets=(0.0, 0.0),
                timeout=timeout,
                polls=[],
            )
            rounds = []
            for i in range(args.runs):
                offsets = (rng.uniform(0.0, cadence.every), rng.uniform(0.0, cadence.every))
                name = f"planted-{i:03d}-{tag}"
                rounds.append(
                    one_round(
                        desktop,
                        keygen=keygen,
                        ssh=ssh,
                        name=name,
                        offsets=offsets,
                        timeout=timeout,
                        polls=polls,
                    )
                )
            stop(agent)
            report(rounds, cadence, polls, args.seed, log)
    except KeyboardInterrupt:
        print("\nbench/latency.py: interrupted; cleaned up", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
