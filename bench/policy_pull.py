"""Time from publishing a policy revision to it being in force on a running agent.

    .venv/bin/python bench/policy_pull.py [--runs N] [--every-runs M]

One `hygiene run` (the console script next to sys.executable) in a temporary home, whose
admin policy names one source, a file:// address (so the figure is the agent's, not a
network's). Each round writes the next revision of the served policy whole (renamed into
place), notes the monotonic time, and waits for the agent's log line "policy loaded: fleet,
revision K":

- `hygiene policy pull` rounds (N, default 9): the command is run at once after the
  revision is written (target: in force in under 2 s);
- `every: 30s` rounds (M, default 3): nothing is run; the agent's own pulls find it
  (target: at most 35 s).

Medians, minimum and maximum are printed. Only ssh_keys runs (every 1h), so the checks do not
share the agent's time with the pulls.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.shared import installed, interruptible, person_env  # noqa: E402

SCRIPT = "bench/policy_pull.py"
CHECK_IDS_OFF = (
    "credentials",
    "disk_encryption",
    "exposed_services",
    "idle_sessions",
    "privacy_settings",
    "remote_sessions",
    "screen_lock",
    "ssh_authorized_keys",
    "vpn",
)


def publish(served: Path, revision: int) -> None:
    part = served.with_name(".fleet.yaml.part")
    part.write_text(f"schema: 1\nname: fleet\nrevision: {revision}\n")
    part.replace(served)


def prepare(root: Path) -> Path:
    """The home, the admin policy naming the source, the user policy with ssh_keys alone;
    the served file, at revision 1."""
    served = root / "served" / "fleet.yaml"
    served.parent.mkdir()
    publish(served, 1)
    admin = root / "admin" / "policies.d"
    admin.mkdir(parents=True)
    (admin / "10-site.yaml").write_text(
        f"schema: 1\nname: site\nsources: {{urls: ['file://{served}'], every: 30s}}\n"
    )
    user = root / "config" / "hygiene-agent" / "policies.d"
    user.mkdir(parents=True)
    off = "".join(f"  {c}: {{enabled: false}}\n" for c in CHECK_IDS_OFF)
    (user / "10-bench.yaml").write_text(f"schema: 1\nchecks:\n{off}  ssh_keys: {{every: 1h}}\n")
    (root / "home").mkdir()
    return served


def wait_for_line(log: Path, text: str, timeout: float) -> float | None:
    """The monotonic time the agent's log first held `text`, polled every 10 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return time.monotonic()
        time.sleep(0.01)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="hygiene policy pull rounds")
    parser.add_argument("--every-runs", type=int, default=3, help="every: 30s rounds")
    args = parser.parse_args()
    found = installed(SCRIPT, ())
    if found is None:
        return 2
    hygiene, _ = found
    interruptible()
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as folder:
        root = Path(folder)
        env = person_env(root)
        served = prepare(root)
        log = root / "agent.log"
        with log.open("wb") as sink:
            agent = subprocess.Popen([str(hygiene), "run"], env=env, stderr=sink)
        try:
            if wait_for_line(log, "policy loaded: fleet, revision 1 (", 30) is None:
                print(f"{SCRIPT}: the agent did not load the first revision", file=sys.stderr)
                return 1
            revision = 1
            pulled: list[float] = []
            for _ in range(args.runs):
                revision += 1
                publish(served, revision)
                start = time.monotonic()
                subprocess.run(
                    [str(hygiene), "policy", "pull"], env=env, capture_output=True, check=True
                )
                seen = wait_for_line(log, f"policy loaded: fleet, revision {revision} (", 10)
                if seen is None:
                    print(f"{SCRIPT}: revision {revision} was not applied", file=sys.stderr)
                    return 1
                pulled.append(seen - start)
            waited: list[float] = []
            for _ in range(args.every_runs):
                revision += 1
                publish(served, revision)
                start = time.monotonic()
                seen = wait_for_line(log, f"policy loaded: fleet, revision {revision} (", 60)
                if seen is None:
                    print(f"{SCRIPT}: revision {revision} was not applied", file=sys.stderr)
                    return 1
                waited.append(seen - start)
        finally:
            agent.terminate()
            agent.wait(10)
    print(f"Python {sys.version.split()[0]}; a file:// source; ssh_keys alone, hourly")
    for name, samples, target in (
        ("hygiene policy pull, published -> in force", pulled, 2.0),
        ("every: 30s, published -> in force", waited, 35.0),
    ):
        if not samples:
            continue
        median = statistics.median(samples)
        verdict = "ok" if median <= target else "NOT met"
        print(
            f"{name}: median {median:.2f} s, min {min(samples):.2f} s, max {max(samples):.2f} s "
            f"({len(samples)} runs; target {target:g} s: {verdict})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
