"""The credentials check on a checkout holding many .env files, run after run.

    .venv/bin/python bench/credentials_tree.py [--files N] [--timeout S] [--runs R]

Makes a home in a temporary folder whose ~/src/mono holds N (default 20,000) `.env.*` files,
100 to a service folder three levels down (within the default project_depth), each with a
weak database password, a token and a URL with a password in it: the case where reading and
grading every file takes longer than the check's timeout. Then runs the check as the agent
does, R times at most (default: until a run finds everything read, or 20), each run with the
same state folder (store and scan cache) and the check's timeout (default 60 s), and prints
per run: the wall time, the check's status, how many files had been read by then (the
check's progress note), the findings and the rest of the notes. A last run after touching
one file shows the cost of a re-scan that reads one file again.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from agent.checks.base import CheckContext  # noqa: E402
from agent.checks.credentials import CredentialsCheck, CredentialsParams  # noqa: E402
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


def make_tree(home: Path, files: int) -> Path:
    root = home / "src" / "mono"
    for n in range(files):
        folder = root / "services" / f"svc{n // PER_FOLDER:04d}"
        if n % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f".env.part{n % PER_FOLDER:03d}").write_text(ENV.format(n=n, k=n % 10))
    return root


def one_run(paths: Paths, timeout: float) -> tuple[float, Outcome]:
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
        started = time.monotonic()
        try:
            findings = check.run(ctx)
            error = None
        except AgentError as err:
            findings, error = [], str(err)
        elapsed = time.monotonic() - started
    status = "error" if error else "fail" if findings else "pass"
    if elapsed > timeout:
        status, error = "error", f"did not finish within {timeout:g}s"
    return elapsed, Outcome(status, len(findings), error, check.notes)


@dataclass
class Outcome:
    status: str
    findings: int
    error: str | None
    notes: list[str]


def show(run: int, elapsed: float, result: Outcome) -> bool:
    """Print one run; whether it read everything."""
    progress = [n for n in result.notes if re.search(r"scanned [\d,]+ of [\d,]+ files", n)]
    said = progress[0] if progress else (result.error or "")
    match = re.search(r"scanned ([\d,]+) of ([\d,]+) files", said)
    done = match is None and result.status in ("pass", "fail")
    scanned = match.group(1) if match else ("all" if done else "?")
    others = [n for n in result.notes if n not in progress]
    print(
        f"run {run:2d}: {elapsed:6.2f} s  status {result.status:5s}  "
        f"files scanned {scanned:>7s}  findings {result.findings:6d}"
        + (f"  error: {result.error}" if result.error else "")
    )
    for note in (*progress, *others[:3]):
        print(f"         note: {note}")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    interruptible()
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
        tree = make_tree(home, args.files)
        print(f"{args.files:,} .env files under {tree} in {time.monotonic() - started:.1f} s")
        paths = Paths.from_environment()
        for run in range(1, args.runs + 1):
            elapsed, result = one_run(paths, args.timeout)
            if show(run, elapsed, result):
                break
        touched = next(tree.rglob(".env.part000"))
        touched.write_text(touched.read_text() + "EXTRA_SECRET=abc123\n")
        elapsed, result = one_run(paths, args.timeout)
        print("after editing one file:")
        show(run + 1, elapsed, result)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
