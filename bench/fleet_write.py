"""What the fleet reports cost per cycle of the agent: write time of each output.

    .venv/bin/python bench/fleet_write.py [--runs N]

`agent.fleet.Outputs.write`, as the agent calls it at every cycle, on the state folder's disk
(a temporary folder beside this checkout, not tmpfs), with every output on and the default
policy's ten checks plus the "policy" pseudo-check, an agent with four policy layers and two
problems:

- a cycle: the results of every check (the agent's first cycle, or after a change);
- a heartbeat: no result changed (what most cycles write): the heartbeat alone.

Each output is timed alone too (osquery SQLite, JSON lines, Prometheus, each in a folder of
its own), interleaved with the whole write so that disk noise falls on all of them alike.
Medians over N runs (default 101), and the bytes of each file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent import fleet  # noqa: E402
from agent.checks import ALL_CHECKS  # noqa: E402
from agent.models import CheckResult, Finding, Severity, Status  # noqa: E402
from agent.policy_settings import LayerInfo  # noqa: E402

SCRIPT = "bench/fleet_write.py"


def results(n: int) -> list[CheckResult]:
    """One result per check, a few failing, changing with `n` so that events are written."""
    out = []
    for i, check in enumerate([c.id for c in ALL_CHECKS] + ["policy"]):
        failing = (i + n) % 3 == 0
        findings = [
            Finding(id=f"{check}-{k}", subject=f"~/thing-{k}", message="m", advice="a")
            for k in range(2 if failing else 0)
        ]
        status = Status.fail if failing else Status.passed
        out.append(
            CheckResult(
                check=check,
                status=status,
                severity=Severity.high,
                title=check,
                advice="a",
                findings=findings,
            )
        )
    return out


FACTS = fleet.AgentFacts(
    version="0.1.0",
    uid=1000,
    policy_name="acme",
    policy_revision=7,
    layers=[
        LayerInfo("built-in default", "default", "default", 1, "a" * 64),
        LayerInfo("~/.config/hygiene-agent/policies.d/mine.yaml", "user", None, None, "b" * 64),
        LayerInfo("/etc/hygiene-agent/policies.d/10-acme.yaml", "admin", "acme", 7, "c" * 64),
        LayerInfo("https://policies.example/fleet.yaml", "admin", "fleet", 3, "d" * 64, "9a"),
    ],
    problems=[("pull_failed", "https://policies.example/x.yaml could not be pulled")],
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=101)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=ROOT.parent, prefix="hygiene-fleet-bench-") as tmp:
        state = Path(tmp) / "state"
        textfiles = Path(tmp) / "textfiles"
        textfiles.mkdir()
        outputs = fleet.Outputs(state)
        at = datetime(2026, 1, 1, tzinfo=UTC)
        keys = ("cycle", "heartbeat", "osquery", "jsonl", "prometheus")
        times: dict[str, list[float]] = {k: [] for k in keys}
        cpu: dict[str, list[float]] = {k: [] for k in keys}

        def write(key: str, cycle: list[CheckResult]) -> None:
            nonlocal at
            at += timedelta(seconds=60)
            started, used = time.perf_counter(), time.process_time()
            problems = outputs.write(
                cycle,
                at,
                details=False,
                osquery=True,
                jsonl=True,
                prometheus_dir=textfiles,
                agent=FACTS,
            )
            times[key].append(time.perf_counter() - started)
            cpu[key].append(time.process_time() - used)
            if problems:
                raise SystemExit(f"{SCRIPT}: {problems[0]}")

        # Each output alone, in a folder of its own, as Outputs.write calls it.
        alone = Path(tmp) / "alone"
        alone.mkdir()
        report = fleet.SqliteReport(alone / fleet.SQLITE_FILE)
        previous: dict[str, tuple[str, int]] | None = None

        def timed(key: str, work: Callable[[], object]) -> None:
            started, used = time.perf_counter(), time.process_time()
            work()
            times[key].append(time.perf_counter() - started)
            cpu[key].append(time.process_time() - used)

        def events(cycle: list[CheckResult]) -> None:
            nonlocal previous
            fleet.append_events(alone / fleet.EVENTS_FILE, fleet.changes(previous, cycle, at=at))
            previous = fleet.snapshot(cycle)

        write("cycle", results(0))  # the first cycle makes the files
        for n in range(1, args.runs + 1):
            cycle = results(n)
            write("cycle", cycle)
            write("heartbeat", [])
            timed("osquery", lambda: report.write(cycle, at, False, FACTS))  # noqa: B023
            timed("jsonl", lambda: events(cycle))  # noqa: B023
            timed(
                "prometheus",
                lambda: fleet.write_prometheus(alone, cycle, at, FACTS),  # noqa: B023
            )
        times["cycle"], cpu["cycle"] = times["cycle"][1:], cpu["cycle"][1:]
        report.close()
        outputs.close()
        sizes = {
            "hygiene.db": (state / "report" / "hygiene.db").stat().st_size,
            "hygiene-1000.prom": (textfiles / "hygiene-1000.prom").stat().st_size,
        }
    print(f"{SCRIPT}: {args.runs} runs, medians: wall (min-max), CPU of this process")
    for key, values in times.items():
        print(
            f"  {key:<10} {statistics.median(values) * 1000:7.2f} ms "
            f"({min(values) * 1000:.2f}-{max(values) * 1000:.2f}), "
            f"CPU {statistics.median(cpu[key]) * 1000:.2f} ms"
        )
    for name, size in sizes.items():
        print(f"  {name}: {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
