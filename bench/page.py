"""What the "My device" page costs to make: the agent rewrites it after each cycle that
changed something, so it must be cheap.

    python bench/page.py [--runs N]

In-process, on a real store in a temporary state folder: the default policy's ten checks,
three of them failing with nine findings, two snoozes, a held notice and 200 notifications
in the history (some answered). Prints the medians of `render` alone (data in, the document
out) and of `write_page` as the agent calls it (the store read, a fresh link token and the
page written whole, both fsynced), and the page's size. Target: under 20 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.checks import load_checks  # noqa: E402
from agent.links import new_token  # noqa: E402
from agent.models import CheckResult, Finding, Severity, Status  # noqa: E402
from agent.page import Facts, render, write_page  # noqa: E402
from agent.paths import Paths  # noqa: E402
from agent.policy import load_policy  # noqa: E402
from agent.store import HeldNotice, Store  # noqa: E402
from bench.shared import person_env  # noqa: E402

TARGET_MS = 20.0
NOTIFICATIONS = 200
FAILING = {"ssh_keys": 4, "credentials": 3, "exposed_services": 2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=201)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-page-") as folder:
        os.environ.update(person_env(Path(folder)))
        return measure(args.runs)


def measure(runs: int) -> int:
    paths = Paths.from_environment()
    checks = load_checks()
    policy = load_policy(paths, checks)
    now = datetime.now(UTC)
    results = []
    for check in checks:
        n = FAILING.get(check.id, 0)
        findings = [
            Finding(
                id=f"{check.id[:8]:0<8}{i:024x}"[:32].replace("_", "0"),
                subject=f"~/.config/example/file-{i}.conf",
                message=f"~/.config/example/file-{i}.conf, line {i}: something is wrong here, "
                "and this sentence says what and where, as a finding's message does.",
                advice=f"Keep the file private: chmod 600 ~/.config/example/file-{i}.conf "
                "(then check who else could read it).",
            )
            for i in range(n)
        ]
        results.append(
            CheckResult(
                check=check.id,
                status=Status.fail if n else Status.passed,
                severity=Severity.high,
                title=check.title,
                advice=check.advice,
                findings=findings,
            )
        )
    with Store.open(paths.state) as store:
        store.record_results(results, now - timedelta(days=3))
        ids = [f.id for r in results for f in r.findings]
        for i in range(NOTIFICATIONS):
            record = store.record_notification(
                at=now - timedelta(hours=NOTIFICATIONS - i),
                check="ssh_keys",
                kind="reminder" if i else "new",
                title="4 problems with your SSH keys",
                body="~/.ssh/id_ed25519, ~/.ssh/id_rsa.\nAdd a passphrase: ssh-keygen -p -f ...",
                urgency="normal",
                backend="bus",
                delivered=i % 7 != 0,
                reason=None if i % 7 else "No notification server is running.",
                server_id=i,
                finding_ids=ids[:4],
            )
            if i % 3 == 0:
                store.record_response(record, "snoozed it for 1d", record.at)
        store.snooze(ids[0], now + timedelta(days=1), now)
        store.snooze("credentials", now + timedelta(hours=4), now)
        store.replace_held(
            [
                HeldNotice(
                    "exposed_services", "new", "2 programs answer the network", "hourly cap",
                    now + timedelta(minutes=20), now, tuple(ids[-2:]),
                )
            ]
        )  # fmt: skip
        facts = Facts.read(store, now)
        token = new_token()
        rendered: list[float] = []
        written: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            document = render(facts, policy=policy, checks=checks, token=token, now=now)
            rendered.append(time.perf_counter() - start)
            start = time.perf_counter()
            page = write_page(paths, store=store, policy=policy, checks=checks, now=now)
            written.append(time.perf_counter() - start)
    size = len(document.encode("utf-8"))
    render_ms = statistics.median(rendered) * 1000
    write_ms = statistics.median(written) * 1000
    print(
        f"{len(checks)} checks, {len(facts.findings)} findings, "
        f"{len(facts.notifications)} notifications; {runs} runs, medians"
    )
    print(f"render (data in, the document out): {render_ms:.2f} ms")
    print(f"write_page (store read, token, render, written whole, fsync): {write_ms:.2f} ms")
    print(f"page size: {size:,} bytes ({size / 1024:.1f} KiB); written to {page.name}")
    met = "met" if write_ms < TARGET_MS else "NOT met"
    print(f"target: under {TARGET_MS:.0f} ms: {met}")
    return 0 if write_ms < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
