"""How long the home_folders check takes, with and without the accounts to look through.

    .venv/bin/python bench/home_folders.py [--runs N]

In this process, on a temporary home with the four folders the check looks at: first as
Debian's useradd makes them (home 755, so every account can list it: no account need be
listed), then closed (700) but with an access list that lets one account through the home
folder and a group that may list ~/.config (every account of this computer is then looked
through, as the kernel would). Medians over --runs calls of the whole check. Goal: under
5 ms (it runs every 5 minutes).
"""

from __future__ import annotations

import argparse
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

from agent.checks.base import CheckContext  # noqa: E402
from agent.checks.home_folders import HomeFoldersCheck, HomeFoldersParams  # noqa: E402
from agent.fingerprint import Fingerprinter  # noqa: E402
from agent.paths import Paths  # noqa: E402

GOAL_MS = 5.0


def _median(ctx: CheckContext, runs: int) -> tuple[float, int]:
    times, findings = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        findings = len(HomeFoldersCheck(HomeFoldersParams()).run(ctx))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), findings


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=101)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "home"
        for name in (".gnupg", ".config", ".local/share"):
            (home / name).mkdir(parents=True)
        for folder in (home, home / ".config", home / ".local", home / ".local/share"):
            folder.chmod(0o755)
        state = Path(root) / "state"
        state.mkdir()
        ctx = CheckContext(
            paths=Paths(home, home / ".config/hygiene-agent", Path(root) / "etc", state),
            fingerprint=Fingerprinter.for_state_dir(state),
        )
        open_ms, open_found = _median(ctx, args.runs)
        home.chmod(0o700)
        setfacl = shutil.which("setfacl")
        if setfacl:
            subprocess.run([setfacl, "-m", "u:nobody:x", str(home)], check=True)
        shutil.chown(home / ".config", group="users")
        (home / ".config").chmod(0o750)
        closed_ms, closed_found = _median(ctx, args.runs)
    print(f"Python {sys.version.split()[0]}; {args.runs} runs each")
    for what, median, found in (
        ("home 755 (every account may list it)", open_ms, open_found),
        ("home 700 with an access list, ~/.config 750 for a group", closed_ms, closed_found),
    ):
        verdict = "met" if median < GOAL_MS else "NOT met"
        print(f"home_folders, {what}: median {median:.2f} ms, {found} findings; goal under "
              f"{GOAL_MS:g} ms: {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
