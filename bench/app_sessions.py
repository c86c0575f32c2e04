"""How long the app_sessions check takes on a home with both messengers.

    .venv/bin/python bench/app_sessions.py [--runs N]

In this process, on a temporary home with Telegram Desktop's tdata (the constructed
key_datas without a passcode, tests/data/app_sessions/) and Signal Desktop's config.json
with a plain key, both folders open to others: the whole check's run (every finding, the
disk facts gathered once per run as the engine does) and Telegram's part alone
(`empty_passcode_opens`), medians over --runs calls. Goal: the check under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.checks.app_sessions import AppSessionsCheck, AppSessionsParams  # noqa: E402
from agent.checks.base import CheckContext, SharedFacts  # noqa: E402
from agent.fingerprint import Fingerprinter  # noqa: E402
from agent.paths import Paths  # noqa: E402
from agent.probes.app_sessions import empty_passcode_opens  # noqa: E402

DATA = ROOT / "tests" / "data" / "app_sessions"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=101)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "home"
        tdata = home / ".local/share/TelegramDesktop/tdata"
        tdata.mkdir(parents=True)
        key_datas = (DATA / "key_datas-no-passcode").read_bytes()
        (tdata / "key_datas").write_bytes(key_datas)
        (tdata / "D877F783D5D3EF8Cs").write_bytes(b"TDF$")
        signal = home / ".config/Signal"
        signal.mkdir(parents=True)
        (signal / "config.json").write_text(json.dumps({"key": "00" * 32}))
        tdata.chmod(0o755)
        signal.chmod(0o755)
        state = Path(root) / "state"
        state.mkdir()
        paths = Paths(home, home / ".config/hygiene-agent/policies.d", Path(root) / "etc", state)
        fingerprint = Fingerprinter.for_state_dir(state)
        check_times, telegram_times = [], []
        findings = 0
        for _ in range(args.runs):
            ctx = CheckContext(paths=paths, fingerprint=fingerprint, facts=SharedFacts())
            start = time.perf_counter()
            findings = len(AppSessionsCheck(AppSessionsParams()).run(ctx))
            check_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            empty_passcode_opens(key_datas)
            telegram_times.append(time.perf_counter() - start)
    print(f"app_sessions run, {findings} findings: {statistics.median(check_times) * 1000:.2f} ms")
    print(f"  Telegram's empty-passcode test: {statistics.median(telegram_times) * 1000:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
