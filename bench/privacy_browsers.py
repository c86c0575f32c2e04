"""What privacy_settings costs on a home with two Firefox and two Chromium profiles.

    .venv/bin/python bench/privacy_browsers.py [--runs N]

In this process, the check's whole run with the built-in settings and no graphical desktop
(so only the browsers are judged), median over --runs calls, each with a new context as the
engine gives each run. The profiles are written by the real browsers:
- a Firefox profile a real headless firefox-esr started, with a user.js of 40 preferences it
  saved into prefs.js, and a copy of it with a key4.db certutil made with a Primary Password
  (so the saved-card rule asks the key store, 10000 PBKDF2 rounds: the dearest case);
- two Chromium profiles (Default, Profile 1) a real headless chromium wrote.
The machine's own /etc and Firefox install (Debian's /etc/firefox-esr defaults) are read, as
the check reads them. The goal is a median under 50 ms.
"""

from __future__ import annotations

import argparse
import os
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

from tests.browsers import CHROMIUM_FLAGS, Nss, write_profiles_ini  # noqa: E402
from tests.conftest import require_tool  # noqa: E402

GOAL_MS = 50.0


def _firefox(home: Path, scratch: Path) -> None:
    base = home / ".mozilla" / "firefox"
    first = base / "a.default-esr"
    first.mkdir(parents=True)
    (first / "user.js").write_text(
        "".join(f'user_pref("hygiene.bench.pref{n}", {n});\n' for n in range(40))
    )
    subprocess.run(
        [require_tool("firefox-esr"), "--headless", "--no-remote", "-profile", str(first),
         "--screenshot", str(scratch / "blank.png"), "about:blank"],
        env={**os.environ, "HOME": str(scratch), "MOZ_HEADLESS": "1"},
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    second = base / "b.default-esr"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("key4.db", "lock", ".parentlock"))
    primary = "Correct-Horse-9"
    Nss(require_tool("certutil")).key_store(second, password=primary)
    write_profiles_ini(base, first.name, second.name)


def _chromium(home: Path) -> None:
    user_data = home / ".config" / "chromium"
    for profile in ("Default", "Profile 1"):
        subprocess.run(
            [require_tool("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={user_data}",
             f"--profile-directory={profile}", "--dump-dom", "about:blank"],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=101)
    args = parser.parse_args()
    if not all(shutil.which(t) for t in ("certutil", "chromium", "firefox-esr")):
        print("bench/privacy_browsers.py needs certutil, chromium and firefox-esr")
        return 1
    from agent.checks.base import CheckContext  # noqa: PLC0415
    from agent.checks.privacy_settings import (  # noqa: PLC0415
        PrivacySettingsCheck,
        PrivacySettingsParams,
    )
    from agent.fingerprint import Fingerprinter  # noqa: PLC0415
    from agent.paths import Paths  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "home"
        scratch = Path(root) / "scratch"
        scratch.mkdir()
        _firefox(home, scratch)
        _chromium(home)
        state = Path(root) / "state"
        paths = Paths(home, state / "p", state / "a", state)
        fingerprint = Fingerprinter.for_state_dir(state)
        times = []
        findings = []
        for _ in range(args.runs):
            ctx = CheckContext(paths=paths, fingerprint=fingerprint, env={})
            check = PrivacySettingsCheck(PrivacySettingsParams())
            started = time.perf_counter()
            findings = check.run(ctx)
            times.append((time.perf_counter() - started) * 1000)
            assert check.notes == [
                "this computer has no graphical desktop, so no desktop settings."
            ], check.notes
    median = statistics.median(times)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.runs} runs")
    subjects = sorted({f.subject for f in findings})
    print(f"findings per run: {len(findings)} ({', '.join(subjects)})")
    verdict = "met" if median < GOAL_MS else "NOT met"
    print(
        f"privacy_settings run, two Firefox and two Chromium profiles: median {median:.2f} ms "
        f"(min {min(times):.2f}, max {max(times):.2f}); goal under {GOAL_MS:.0f} ms: {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
