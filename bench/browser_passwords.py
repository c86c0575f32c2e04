"""What browser_passwords costs on a home with three browser profiles.

    .venv/bin/python bench/browser_passwords.py [--runs N]

In this process, the check's whole run (profile discovery, the counts, the key stores'
password-check entries), median over --runs calls, on a temporary home that holds:
- a Firefox profile whose key4.db NSS's certutil made with the empty password, with 50
  saved logins in logins.json (so its password-check entry is decrypted);
- a LibreWolf profile whose key4.db has a password (10000 PBKDF2 rounds: the dearest case);
- a Chromium profile written by a real headless chromium with --password-store=basic that
  visited a local page setting a cookie, plus 200 saved logins and 2000 cookies added to its
  own tables (prefix v10), as a profile used for a while would hold.
The goal is a median under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browsers import Nss, run_chromium, serving_cookie  # noqa: E402
from tests.conftest import require_tool  # noqa: E402

GOAL_MS = 50.0


def _chromium(home: Path) -> None:
    user_data = home / ".config" / "chromium"
    with serving_cookie() as url:
        run_chromium(user_data, url, "basic")
    profile = user_data / "Default"
    with sqlite3.connect(profile / "Login Data") as db:
        db.executemany(
            "INSERT INTO logins (origin_url, signon_realm, date_created, blacklisted_by_user, "
            "scheme, username_value, password_value) VALUES (?, ?, 0, 0, 0, 'u', ?)",
            [
                (f"https://s{n}.example.org/", f"https://s{n}.example.org/", os.urandom(40))
                for n in range(200)
            ],
        )
    with sqlite3.connect(profile / "Cookies") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(cookies)")]
        (row,) = db.execute("SELECT * FROM cookies LIMIT 1").fetchall()
        at = {name: i for i, name in enumerate(columns)}
        rows = []
        for n in range(2000):
            copy = list(row)
            copy[at["host_key"]] = f"s{n}.example.org"
            copy[at["encrypted_value"]] = b"v10" + os.urandom(32)
            rows.append(copy)
        marks = ", ".join("?" * len(columns))
        db.executemany(f"INSERT INTO cookies VALUES ({marks})", rows)  # noqa: S608 - our own table


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=101)
    args = parser.parse_args()
    if shutil.which("certutil") is None or shutil.which("chromium") is None:
        print("bench/browser_passwords.py needs certutil (libnss3-tools) and chromium")
        return 1
    from agent.checks.base import CheckContext, CheckParams  # noqa: PLC0415
    from agent.checks.browser_passwords import BrowserPasswordsCheck  # noqa: PLC0415
    from agent.fingerprint import Fingerprinter  # noqa: PLC0415
    from agent.paths import Paths  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "home"
        nss = Nss(require_tool("certutil"))
        nss.profile(home, name="a.default-release", logins=50)
        primary = "Correct-Horse-9"
        nss.profile(home, base=".librewolf", name="b.default-default", password=primary)
        _chromium(home)
        state = Path(root) / "state"
        paths = Paths(home, state / "p", state / "a", state)
        ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(state))
        times = []
        findings = []
        for _ in range(args.runs):
            check = BrowserPasswordsCheck(CheckParams())
            started = time.perf_counter()
            findings = check.run(ctx)
            times.append((time.perf_counter() - started) * 1000)
            assert not check.notes, check.notes
    median = statistics.median(times)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.runs} runs")
    print(f"findings per run: {len(findings)} ({', '.join(f.subject for f in findings)})")
    verdict = "met" if median < GOAL_MS else "NOT met"
    print(
        f"browser_passwords run, three profiles: median {median:.2f} ms "
        f"(min {min(times):.2f}, max {max(times):.2f}); goal under {GOAL_MS:.0f} ms: {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
