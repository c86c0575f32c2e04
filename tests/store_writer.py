"""A process that writes to a store until it is killed: the other half of the crash test.

    python tests/store_writer.py STATE_DIR

Python and pydantic take a quarter of a second to start, too slow to start fifty times,
so this is a small fork server: it imports the store once, then for each line "go" on
stdin forks a writer. The writer prints "start <pid>", opens the store (migrating it on
the first round) and writes in a loop, printing "<event kind> <target>" after each
write has been committed. The test kills the writer with SIGKILL; the server then
prints "end <signal> <exit code>" (signal 0: the writer ended by itself) and waits for
the next "go". stdout is written with os.write: nothing sits in a buffer when the kill
lands.
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.models import CheckResult, Finding, Severity, Status
from agent.store import Store

MAX_WRITES = 20_000  # far more than fit in the kill delays the test uses


def say(line: str) -> None:
    os.write(sys.stdout.fileno(), f"{line}\n".encode())


def write_until_killed(state_dir: Path, round_no: int) -> None:
    say(f"start {os.getpid()}")
    with Store.open(state_dir) as store:
        # Checkpoint often, so that some kills land in the middle of a checkpoint too.
        store._conn.execute("PRAGMA wal_autocheckpoint = 8")
        for i in range(MAX_WRITES):
            now = datetime.now(UTC)
            target = f"r{round_no}-{i}"
            if i % 3 == 0:
                finding = Finding(
                    id=target,
                    subject=f"~/file-{i}",
                    message="stored in plain text " * (1 + i % 40),
                    advice="move it into the keyring",
                )
                result = CheckResult(
                    check="writer",
                    status=Status.fail,
                    severity=Severity.high,
                    title="writer",
                    advice="advice",
                    findings=[finding],
                )
                store.record_results([result], now)
                say(f"appeared {target}")
            elif i % 3 == 1:
                store.record_notification(
                    at=now,
                    check="writer",
                    kind="new",
                    title="A password is stored in plain text",
                    body="body " * (1 + (i * 7) % 400),
                    urgency="normal",
                    backend="log",
                    delivered=True,
                    reason=None,
                    server_id=i,
                    finding_ids=[target],
                )
                say(f"notified {target}")
            else:
                store.snooze(target, now + timedelta(hours=1), now)
                say(f"snoozed {target}")


def main() -> None:
    state_dir = Path(sys.argv[1])
    for round_no, line in enumerate(sys.stdin):
        if line.strip() != "go":
            break
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                write_until_killed(state_dir, round_no)
            except BaseException:  # noqa: BLE001 - reported, then the child exits
                traceback.print_exc()
                sys.stderr.flush()
                code = 1
            os._exit(code)  # never run the server's own exit handlers in the child
        _, status = os.waitpid(pid, 0)
        signal_no = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0
        say(f"end {signal_no} {code}")


if __name__ == "__main__":
    main()
