"""The store soak: the agent and the command line together, with the agent killed at random.

`soak()` starts `hygiene run` on a policy whose checks (ssh_keys, credentials, vpn) run every
second, makes findings appear and resolve (a key without a passphrase made by the real
ssh-keygen, a .netrc with a weak password, the network trusted and not), and meanwhile runs
CLI commands against it one after another: status, notifications, snooze and unsnooze,
network trust, untrust and list, check, and run --once (which must be refused). At random
points it kills the agent with SIGKILL and starts it again. Throughout, a thread reads
/proc/AGENT/fd every few milliseconds for a descriptor of a deleted file.

Every process (the agent and each command) runs under an audit hook (`WATCHED`) that reports
any open() of store.db, its -wal or its -shm by Python itself, and each SQLite connection to
it: only SQLite may open those files, and the agent opens its store once per start.

Afterwards: every appeared, changed, resolved and told line the agent logged must be in the
store (events and notifications tables), `PRAGMA integrity_check` must say ok, and no
input/output error may have been logged. tests/test_soak.py runs the short form, bench/soak.py
the long one; both run everything inside a network namespace with a real gateway
(tests/netns.py) so that `hygiene network trust` has a network to trust.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# `python -c WATCHED ARGS...` is `hygiene ARGS...` with an audit hook that reports, on the
# real stderr, Python opening a store file itself and each SQLite connection to the store.
WATCHED = """
import sys
def watch(event, args):
    if event not in ("open", "sqlite3.connect") or not args:
        return
    name = str(args[0])
    if "store.db" in name and "store.db." not in name:
        what = "python opened" if event == "open" else "sqlite connected"
        sys.__stderr__.write(f"WATCH {what} {name}\\n")
        sys.__stderr__.flush()
sys.addaudithook(watch)
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""

PYTHON_OPENED = "WATCH python opened"
SQLITE_CONNECTED = "WATCH sqlite connected"

CHECKS = ("ssh_keys", "credentials", "vpn")
POLICY = (
    "schema: 1\n"
    "notify: {grace: {medium: 0s, low: 0s}, max_per_hour: 3600}\n"
    "checks:\n" + "".join(f"  {check}: {{every: 1s}}\n" for check in CHECKS)
)

_CHANGE = re.compile(r"^hygiene: info: (\w+): (appeared|changed|resolved): .*; id (\S+)$")
_TOLD = re.compile(r"^hygiene: info: told: (.*) \(([^()]*), via (\S+)\)$")
IO_ERRORS = ("input/output error", "disk i/o error")

# How often each kind of command runs, relative to the others.
KINDS: dict[str, int] = {
    "status": 3,
    "status --json": 1,
    "notifications": 2,
    "notifications --json": 1,
    "snooze": 2,
    "unsnooze": 2,
    "network trust": 1,
    "network untrust": 1,
    "network list": 1,
    "check": 1,
    "run --once": 1,
}


def watched(*argv: str) -> list[str]:
    """The command line of `hygiene ARGV` under the audit hook."""
    return [sys.executable, "-c", WATCHED, *argv]


class FdWatch:
    """Reads /proc/PID/fd of the current agent over and over; keeps every deleted target."""

    def __init__(self, interval: float = 0.005) -> None:
        self.pid: int | None = None
        self.interval = interval
        self._looking = threading.Lock()
        self.deleted: list[str] = []
        self.looks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fd-watch", daemon=True)

    def __enter__(self) -> FdWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def follow(self, pid: int | None) -> None:
        """Watch `pid` from now on (None: nobody); returns once no look at the last is going."""
        with self._looking:
            self.pid = pid

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._looking:
                pid = self.pid
                found = None if pid is None else deleted_descriptors(pid)
                if found is not None:
                    self.looks += 1
                    self.deleted.extend(found)
            self._stop.wait(self.interval)


def deleted_descriptors(pid: int) -> list[str] | None:
    """The targets of PID's descriptors that are deleted files; None if PID is gone."""
    try:
        links = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    found = []
    for link in links:
        with contextlib.suppress(OSError):
            target = str(link.readlink())
            if target.endswith(" (deleted)") and not target.startswith("/memfd:"):
                found.append(target)
    return found


def logged_changes(log: str) -> Counter[tuple[str, ...]]:
    """What the agent said it stored: (kind, finding id) and ("told", title, kind, backend)."""
    said: Counter[tuple[str, ...]] = Counter()
    for line in log.splitlines():
        if change := _CHANGE.match(line):
            said[(change[2], change[3])] += 1
        elif told := _TOLD.match(line):
            said[("told", told[1], told[2], told[3])] += 1
    return said


def stored_changes(db: Path) -> Counter[tuple[str, ...]]:
    """The same, from the store's events and delivered notifications."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        found: Counter[tuple[str, ...]] = Counter()
        for kind, target in conn.execute("SELECT kind, target FROM events"):
            found[(str(kind), str(target))] += 1
        for title, kind, backend in conn.execute(
            "SELECT title, kind, backend FROM notifications WHERE delivered = 1"
        ):
            found[("told", str(title), str(kind), str(backend))] += 1
    finally:
        conn.close()
    return found


def integrity(db: Path) -> str:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


@dataclass
class SoakReport:
    commands: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    starts: int = 0
    lines_checked: Counter[str] = field(default_factory=Counter)
    missing: list[tuple[str, ...]] = field(default_factory=list)
    integrity: str = ""
    deleted: list[str] = field(default_factory=list)
    fd_looks: int = 0
    io_errors: list[str] = field(default_factory=list)
    store_errors: list[str] = field(default_factory=list)
    python_opened: list[str] = field(default_factory=list)
    agent_connections: list[int] = field(default_factory=list)  # per start
    unexpected: list[str] = field(default_factory=list)  # commands that did not behave
    seconds: float = 0.0

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.commands.items()))
        checked = ", ".join(f"{kind} {n}" for kind, n in sorted(self.lines_checked.items()))
        return [
            f"commands: {sum(self.commands.values())} ({kinds})",
            f"agent starts: {self.starts}, SIGKILLs: {self.kills}",
            f"agent log lines checked against the store: {sum(self.lines_checked.values())} "
            f"({checked}); missing from the store: {len(self.missing)}",
            f"PRAGMA integrity_check: {self.integrity}",
            f"deleted-file descriptors of the agent: {len(self.deleted)} "
            f"in {self.fd_looks} looks at /proc/PID/fd",
            f"input/output errors logged: {len(self.io_errors)}; other store errors: "
            f"{len(self.store_errors)}",
            f"store files opened by Python itself: {len(self.python_opened)}; SQLite "
            f"connections per agent start: {sorted(Counter(self.agent_connections).items())}",
            f"commands that did not behave: {len(self.unexpected)}",
            f"wall time: {self.seconds:.1f} s",
        ]


class _Agent:
    def __init__(self, prefix: Sequence[str], env: Mapping[str, str], logs: Path) -> None:
        self.prefix = list(prefix)
        self.env = dict(env)
        self.logs = logs
        self.process: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None
        self.count = 0

    def start(self) -> int:
        self.count += 1
        self.log = self.logs / f"agent-{self.count}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*self.prefix, *watched("run")],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 30
        while "started (process" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the agent did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.02)
        return self.process.pid

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


@dataclass
class Findings:
    """Files that make findings appear when put in place, and resolve when taken away."""

    home: Path
    keygen: str

    def make(self) -> None:
        spare = self.home / "soak"
        spare.mkdir(mode=0o700)
        (self.home / ".ssh").mkdir(mode=0o700, exist_ok=True)
        key = spare / "id_soak"
        subprocess.run(
            [self.keygen, "-q", "-t", "ed25519", "-N", "", "-C", "soak", "-f", str(key)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        netrc = spare / "netrc"
        netrc.write_text("machine soak.example login ann password hunter2\n")
        netrc.chmod(0o600)

    def toggle(self, rng: random.Random) -> None:
        spare = self.home / "soak"
        pairs = [
            (spare / "id_soak", self.home / ".ssh" / "id_soak"),
            (spare / "netrc", self.home / ".netrc"),
        ]
        away, there = rng.choice(pairs)
        if away.exists():
            away.rename(there)
        else:
            there.rename(away)


def _expected(kind: str, done: subprocess.CompletedProcess[str]) -> str | None:
    """Why this command's outcome is wrong, or None."""
    codes = {
        "status": (0, 1),
        "status --json": (0, 1),
        "check": (0, 1),
        "network untrust": (0, 2),  # 2: the label names no trusted network
        "run --once": (2,),
    }.get(kind, (0,))
    if "Traceback" in done.stderr:
        return "a traceback"
    if done.returncode not in codes:
        return f"exit {done.returncode}"
    if kind == "run --once" and "already running" not in done.stderr:
        return "not refused as already running"
    return None


def soak(
    *,
    env: Mapping[str, str],
    state: Path,
    home: Path,
    user_policies: Path,
    prefix: Sequence[str],
    keygen: str,
    commands: int,
    kills: int,
    rng: random.Random,
    logs: Path,
) -> SoakReport:
    """Run the soak; `prefix` runs a command inside the network namespace."""
    started = time.monotonic()
    report = SoakReport()
    (user_policies / "50-soak.yaml").write_text(POLICY)
    findings = Findings(home, keygen)
    findings.make()
    kill_before = set(rng.sample(range(1, commands), min(kills, commands - 1)))
    kinds = list(KINDS)
    weights = [KINDS[k] for k in kinds]
    agent = _Agent(prefix, env, logs)
    said: list[str] = []
    with FdWatch() as fds:
        try:
            fds.follow(agent.start())
            for index in range(commands):
                if index in kill_before:
                    time.sleep(rng.uniform(0, 1.0))  # anywhere in the agent's second
                    agent.kill()
                    report.kills += 1
                    fds.follow(agent.start())
                if rng.random() < 0.4:
                    findings.toggle(rng)
                kind = rng.choices(kinds, weights)[0]
                done = subprocess.run(
                    [*prefix, *watched(*_argv(kind, rng))],
                    env=dict(env),
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                report.commands[kind] += 1
                said.append(done.stderr)
                if (why := _expected(kind, done)) is not None:
                    report.unexpected.append(f"{kind}: {why}: {done.stderr.strip()[-500:]}")
        finally:
            # An orderly stop closes the last connection, and SQLite removes the WAL and its
            # index before it closes their descriptors: not watched, only kills are.
            fds.follow(None)
            agent.stop()
        report.deleted = list(fds.deleted)
        report.fd_looks = fds.looks
    report.starts = agent.count
    _judge(report, logs, state, said)
    report.seconds = time.monotonic() - started
    return report


def _judge(report: SoakReport, logs: Path, state: Path, said: Sequence[str]) -> None:
    """Hold what the agents logged and the commands said against the store."""
    agent_logs = [
        (logs / f"agent-{n}.log").read_text(errors="replace") for n in range(1, report.starts + 1)
    ]
    db = state / "hygiene-agent" / "store.db"
    logged: Counter[tuple[str, ...]] = Counter()
    for text in agent_logs:
        logged.update(logged_changes(text))
        report.agent_connections.append(text.count(SQLITE_CONNECTED))
    stored = stored_changes(db)
    for key, count in logged.items():
        report.lines_checked[key[0]] += count
        if stored[key] < count:
            report.missing.append(key)
    report.integrity = integrity(db)
    for text in [*agent_logs, *said]:
        for line in text.splitlines():
            lower = line.lower()
            if any(sign in lower for sign in IO_ERRORS):
                report.io_errors.append(line)
            elif "the store" in lower and "error" in lower:
                report.store_errors.append(line)
            if PYTHON_OPENED in line:
                report.python_opened.append(line)


def _argv(kind: str, rng: random.Random) -> list[str]:
    target = rng.choice(CHECKS)
    return {
        "snooze": ["snooze", target, "1h"],
        "unsnooze": ["unsnooze", target],
        "network trust": ["network", "trust", "--label", "soak"],
        "network untrust": ["network", "untrust", "--label", "soak"],
        "check": ["check", "--only", "ssh_keys", "vpn"],
    }.get(kind, kind.split())
