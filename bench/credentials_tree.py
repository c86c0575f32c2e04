"""The credentials check on checkouts of 1,000 to 100,000 .env files, run after run.

    .venv/bin/python bench/credentials_tree.py [--files 1000,10000,100000] [--timeout S]

For each size N, makes a home in a temporary folder whose ~/src/mono holds N `.env.*` files,
100 to a service folder three levels down (within the default project_depth), each with a
weak database password, a token and a URL with a password in it: the case where reading and
grading every file takes longer than the check's timeout. Then runs the check as the agent
does, with one state folder (store and scan cache) and the check's timeout (default 60 s),
until a run finds every file read (at most --max-runs), and prints one row per size:
- runs: how many runs it took, the median and the longest run (each must stay within the
  timeout: the engine gives up on a check that does not);
- total: the runs' time added up, and per file (the curve is linear when this stays flat),
  with the CPU time per file (this process and the scanner child: steadier on a busy
  machine than the wall time);
- re-scan: a run with nothing changed (no scanner child: a stat call per path) and a run
  after one file was edited (the child reads that file);
- the project walk's counts beside its bounds (MAX_DIRS folders, MAX_ENTRIES entries), so
  that one sees how far a tree is from being cut short.
--verbose also prints every run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from agent.checks.base import CheckContext  # noqa: E402
from agent.checks.credentials import CredentialsCheck, CredentialsParams  # noqa: E402
from agent.credentials import locate  # noqa: E402
from agent.errors import AgentError  # noqa: E402
from agent.fingerprint import Fingerprinter  # noqa: E402
from agent.paths import Paths  # noqa: E402
from agent.store import Store  # noqa: E402
from bench.shared import interruptible  # noqa: E402

PER_FOLDER = 100
ENV = """\
# generated for the benchmark
APP_ENV=production
DB_HOST=db{n}.internal
DB_USER=app{n}
DB_PASSWORD=changeme{k}
API_TOKEN=tok_{n:06d}_a8f3e1c9d2b74f60
DATABASE_URL=postgres://app{n}:Summer{k}@db{n}.internal/app
CACHE_TTL=300
"""
PROGRESS = re.compile(r"scanned ([\d,]+) of ([\d,]+) files")


def make_tree(home: Path, files: int) -> Path:
    root = home / "src" / "mono"
    for n in range(files):
        folder = root / "services" / f"svc{n // PER_FOLDER:04d}"
        if n % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f".env.part{n % PER_FOLDER:03d}").write_text(ENV.format(n=n, k=n % 10))
    return root


@dataclass
class Outcome:
    elapsed: float
    cpu: float  # this process's and the scanner child's, user and system
    status: str
    findings: int
    error: str | None
    notes: list[str]

    @property
    def scanned(self) -> int | None:
        """Files read so far, when the run says that some are left."""
        for text in [*self.notes, self.error or ""]:
            match = PROGRESS.search(text)
            if match:
                return int(match.group(1).replace(",", ""))
        return None

    @property
    def done(self) -> bool:
        return self.scanned is None and self.status in ("pass", "fail")


def one_run(paths: Paths, timeout: float) -> Outcome:
    """The check as the engine runs it (an error is its AgentError)."""
    check = CredentialsCheck(
        CredentialsParams(include_system=False, timeout=timedelta(seconds=timeout))
    )
    with Store.open(paths.state) as store:
        ctx = CheckContext(
            paths=paths,
            fingerprint=Fingerprinter.for_state_dir(paths.state),
            env={},
            store=store,
        )
        started, times = time.monotonic(), os.times()
        try:
            findings = check.run(ctx)
            error = None
        except AgentError as err:
            findings, error = [], str(err)
        elapsed = time.monotonic() - started
        cpu = sum(os.times()[:4]) - sum(times[:4])
    status = "error" if error else "fail" if findings else "pass"
    if elapsed > timeout:
        status, error = "error", f"did not finish within {timeout:g}s"
    return Outcome(elapsed, cpu, status, len(findings), error, check.notes)


def show(run: int, result: Outcome) -> None:
    scanned = "all" if result.done else f"{result.scanned or 0:,}"
    print(
        f"  run {run:2d}: {result.elapsed:6.2f} s (CPU {result.cpu:6.2f} s)  "
        f"status {result.status:5s}  "
        f"files read {scanned:>7s}  findings {result.findings:6d}"
        + (f"  error: {result.error}" if result.error else "")
    )


@dataclass
class Curve:
    files: int
    runs: list[Outcome] = field(default_factory=list)
    unchanged: float = 0.0
    edited: float = 0.0
    finished: bool = False
    folders: int = 0
    entries: int = 0
    unsearched: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(r.elapsed for r in self.runs)

    @property
    def cpu(self) -> float:
        return sum(r.cpu for r in self.runs)


def walk_counts(home: Path, curve: Curve) -> None:
    """How many folders and entries the project walk looks at (the same rules: project_depth
    3, SKIP_DIRS), and what a real walk left unsearched."""
    from agent.credentials.families import FAMILIES  # noqa: PLC0415 - the child's side

    pending = [(home / "src", 0)]
    while pending:
        folder, level = pending.pop()
        curve.folders += 1
        with os.scandir(folder) as listing:
            for entry in listing:
                curve.entries += 1
                if (
                    level < 3
                    and entry.name not in locate.SKIP_DIRS
                    and entry.is_dir(follow_symlinks=False)
                ):
                    pending.append((Path(entry.path), level + 1))
    settings = locate.Settings(include_system=False, project_roots=("~/src",), project_depth=3)
    found = locate.locate(FAMILIES, settings, home, {})
    curve.unsearched = [text for _, text in found.unsearched]


def measure(files: int, timeout: float, max_runs: int, verbose: bool) -> Curve:
    curve = Curve(files)
    root = Path(tempfile.mkdtemp(prefix="hygiene-bench-tree-"))
    saved = dict(os.environ)
    try:
        home = root / "home"
        os.environ.update(
            HOME=str(home),
            XDG_STATE_HOME=str(root / "state"),
            XDG_CONFIG_HOME=str(root / "config"),
            HYGIENE_ADMIN_DIR=str(root / "admin"),
        )
        started = time.monotonic()
        tree = make_tree(home, files)
        print(f"{files:,} .env files made in {time.monotonic() - started:.1f} s", flush=True)
        walk_counts(home, curve)
        paths = Paths.from_environment()
        for run in range(1, max_runs + 1):
            result = one_run(paths, timeout)
            curve.runs.append(result)
            if verbose:
                show(run, result)
            if result.done:
                curve.finished = True
                break
        curve.unchanged = one_run(paths, timeout).elapsed
        touched = next(tree.rglob(".env.part000"))
        touched.write_text(touched.read_text() + "EXTRA_SECRET=abc123\n")
        curve.edited = one_run(paths, timeout).elapsed
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)
    return curve


def table(curves: list[Curve], timeout: float) -> bool:
    """Prints the curve; whether every tree was read, each run within the timeout, and the
    cost per file stayed flat (the largest tree's CPU time per file at most 1.5 times the
    next one's: CPU time, as a busy machine stretches the wall time of some runs only)."""
    print(
        f"{'files':>8} {'runs':>5} {'median run':>11} {'longest':>8} {'total':>8} "
        f"{'per file':>9} {'CPU/file':>9} {'re-scan':>8} {'per file':>9} {'1 edited':>9} "
        f"{'folders':>8} {'entries':>8}"
    )
    for c in curves:
        times = [r.elapsed for r in c.runs]
        runs = f"{len(c.runs)}" + ("" if c.finished else "+")
        print(
            f"{c.files:8,} {runs:>5} {statistics.median(times):9.2f} s {max(times):6.2f} s "
            f"{c.total:6.1f} s {1000 * c.total / c.files:6.2f} ms "
            f"{1000 * c.cpu / c.files:6.2f} ms {c.unchanged:6.2f} s "
            f"{1e6 * c.unchanged / c.files:6.1f} µs {c.edited:7.2f} s "
            f"{c.folders:8,} {c.entries:8,}"
        )
        for text in c.unsearched:
            print(f"         cut short: {text}")
    print(
        f"bounds: {locate.MAX_DIRS:,} folders, {locate.MAX_ENTRIES:,} entries per run; "
        f"the check's timeout {timeout:g} s"
    )
    finished = all(c.finished for c in curves)
    within = all(r.elapsed <= timeout for c in curves for r in c.runs)
    print(f"[{_ok(finished)}] every tree read to the end, run after run")
    print(f"[{_ok(within)}] every run within the check's timeout")
    linear = True
    if len(curves) > 1:
        small, large = curves[-2], curves[-1]
        ratio = (large.cpu / large.files) / (small.cpu / small.files)
        wall = (large.total / large.files) / (small.total / small.files)
        linear = ratio <= 1.5
        print(
            f"[{_ok(linear)}] CPU time per file at {large.files:,} files is {ratio:.2f}x that "
            f"at {small.files:,} (linear: at most 1.5x; wall time per file {wall:.2f}x)"
        )
    return finished and within and linear


def _ok(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="1000,10000,100000", help="tree sizes, comma-separated")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--max-runs", type=int, default=60)
    parser.add_argument("--verbose", action="store_true", help="print every run")
    args = parser.parse_args()
    interruptible()
    sizes = [int(n) for n in args.files.split(",")]
    curves = []
    for files in sizes:
        curves.append(measure(files, args.timeout, args.max_runs, args.verbose))
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, check timeout {args.timeout:g} s"
    )
    table(curves, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
