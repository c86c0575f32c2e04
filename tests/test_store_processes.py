"""The store shared by real processes: the running agent and the commands a person types.

The agent and each command run under the audit hook of tests/soak.py, which reports any
open() of store.db (or its -wal, -shm) by Python itself: only SQLite may open those files,
since closing any other descriptor of them drops the process's locks and lets the next
command delete the WAL the agent is writing into.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.cli import main
from agent.models import CheckResult, Finding, Severity, Status
from agent.store import Store
from tests.conftest import Machine, Outcome, require_tool
from tests.soak import PYTHON_OPENED, SQLITE_CONNECTED, FdWatch, watched

NOBODY = 65534
FAST = "schema: 1\nchecks:\n" + "".join(
    f"  {check}: {{every: 1s}}\n" for check in ("ssh_keys", "credentials", "vpn")
)


def run(machine: Machine, *argv: str, timeout: float = 60) -> Outcome:
    done = subprocess.run(
        watched(*argv),
        env=machine.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


@contextlib.contextmanager
def running_agent(machine: Machine, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    machine.keep_only("ssh_keys", "credentials", "vpn")
    (machine.user_policies / "fast.yaml").write_text(FAST)
    with log.open("wb") as out:
        # Not pytest's stdout: it is a deleted temporary file, which would be seen below.
        agent = subprocess.Popen(
            watched("run"), env=machine.env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        wait_for_line(log, "started (process")
        yield agent
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)


def wait_for_line(log: Path, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if text in line:
                return line
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not logged:\n{log.read_text(errors='replace')[-2000:]}")


def test_commands_beside_the_agent_leave_its_database_whole(
    machine: Machine, make_key: Callable[..., Path], tmp_path: Path
) -> None:
    log = tmp_path / "agent.log"
    outcomes: dict[str, Outcome] = {}
    with running_agent(machine, log) as agent, FdWatch() as fds:
        fds.follow(agent.pid)
        wait_for_line(log, "ssh_keys: pass")
        make_key(machine.ssh / "id_beside")
        appeared = wait_for_line(log, "ssh_keys: appeared: ")
        finding_id = appeared.split()[-1]  # the last word, as a double click takes it
        for argv in (
            ("status", "--json"),
            ("notifications",),
            ("network", "list"),
            ("snooze", finding_id, "1h"),
            ("status",),
            ("unsnooze", finding_id),
            ("notifications", "--json"),
        ):
            outcomes[" ".join(argv)] = run(machine, *argv)
        # The credentials check keeps its cache, the vpn check reads trusted networks: both
        # through the agent's one connection, from their threads, every second.
        time.sleep(2.5)
        (machine.ssh / "id_beside").unlink()
        wait_for_line(log, "ssh_keys: resolved: ")
        after = run(machine, "status", "--json")
    agent_log = log.read_text(errors="replace")
    everything = agent_log + "".join(o.err for o in outcomes.values())
    assert PYTHON_OPENED not in everything
    assert agent_log.count(SQLITE_CONNECTED) == 1  # a new store: no earlier file to judge
    assert fds.looks > 100
    assert fds.deleted == [], sorted(set(fds.deleted))
    assert "Traceback" not in everything
    assert "error" not in agent_log.replace("notification not shown", "")
    # What the agent logged as appeared is what status read, and the snooze reached it.
    shown = [f["id"] for f in json.loads(outcomes["status --json"].out)["failing"]]
    assert finding_id in shown
    assert outcomes[f"snooze {finding_id} 1h"].code == 0
    assert outcomes[f"unsnooze {finding_id}"].out == f"{finding_id} is no longer snoozed.\n"
    assert finding_id not in [f["id"] for f in json.loads(after.out)["failing"]]
    with Store.open(machine.state / "hygiene-agent") as store:
        kinds = [e.kind for e in store.events(finding_id) if e.kind != "delivery failed"]
    assert kinds == ["appeared", "snoozed", "unsnoozed", "resolved"]


def test_run_once_is_refused_while_the_agent_runs(machine: Machine, tmp_path: Path) -> None:
    with running_agent(machine, tmp_path / "agent.log") as agent:
        once = run(machine, "run", "--once")
    assert once.code == 2
    assert once.out == ""
    (line,) = once.err.splitlines()
    assert line.startswith(
        f"hygiene: an agent is already running for this user (process {agent.pid}, "
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("status",),
        ("notifications",),
        ("network", "list"),
        ("snooze", "ssh_keys", "1h"),
        ("unsnooze", "ssh_keys"),
        ("run", "--once"),
        ("run",),
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("where", ["store.db", "store.db-wal"])
def test_a_fifo_at_the_store_is_one_sentence_never_a_hang(
    machine: Machine, argv: tuple[str, ...], where: str
) -> None:
    machine.keep_only("ssh_keys")
    state = machine.state / "hygiene-agent"
    state.mkdir(parents=True, mode=0o700)
    if where != "store.db":
        Store.open(state).close()
    os.mkfifo(state / where, 0o600)
    # A hang would be the timeout's exception, not a failed assertion.
    said = run(machine, *argv, timeout=30)
    assert said.code == 2
    assert said.out == ""
    assert said.err == (
        f"hygiene: The store {state / where} is a named pipe (FIFO), not a file; move it "
        "away and the agent starts a fresh store.\n"
    )
    assert stat.S_ISFIFO((state / where).stat().st_mode)  # left where it was


@pytest.mark.parametrize("made", [os.mkdir, lambda p: os.mknod(p, 0o600 | stat.S_IFSOCK)])
def test_a_folder_or_socket_at_the_store_is_refused_too(
    machine: Machine, hygiene: Callable[..., Outcome], made: Callable[[Path], None]
) -> None:
    state = machine.state / "hygiene-agent"
    state.mkdir(parents=True, mode=0o700)
    made(state / "store.db")
    for argv in (("status",), ("snooze", "ssh_keys", "1h")):
        said = hygiene(*argv)
        assert said.code == 2
        assert said.err.count("\n") == 1
        assert f"The store {state / 'store.db'} is a " in said.err


# --- a read-only state folder ---------------------------------------------------------


@contextlib.contextmanager
def as_nobody_here() -> Iterator[None]:
    """This process as nobody, for what it does inside (root ignores permissions)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def nobodys(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A person's folders that nobody owns, outside pytest's root-only temporary folder."""
    base = Path(tempfile.mkdtemp(prefix="hygiene-ro-"))
    if os.geteuid() == 0:
        os.chown(base, NOBODY, NOBODY)
    for key in list(os.environ):
        if key.startswith(("XDG_", "HYGIENE_")) and key != "HYGIENE_REQUIRE_REAL":
            monkeypatch.delenv(key)
    for key, folder in (
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("HYGIENE_ADMIN_DIR", "admin"),
    ):
        monkeypatch.setenv(key, str(base / folder))
    with as_nobody_here():
        (base / "home").mkdir()
    try:
        yield base
    finally:
        for path in [base, *base.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o700)
        shutil.rmtree(base)


def hygiene_as_nobody(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    capsys.readouterr()
    with as_nobody_here():
        code = main(list(argv))
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def _fill(state: Path) -> None:
    with Store.open(state) as store:
        finding = Finding(id="f1", subject="~/.ssh/id_a", message="no passphrase", advice="add")
        at = datetime.now(UTC)
        result = CheckResult(
            check="ssh_keys",
            status=Status.fail,
            severity=Severity.high,
            title="t",
            advice="a",
            findings=[finding],
        )
        store.record_results([result], at)
        store.record_notification(
            at=at,
            check="ssh_keys",
            kind="new",
            title="An SSH key is not protected",
            body="~/.ssh/id_a has no passphrase.",
            urgency="critical",
            backend="dbus",
            delivered=True,
            reason=None,
            server_id=3,
            finding_ids=["f1"],
        )


def _left_open_by_a_killed_writer(state: Path) -> None:
    """Write, then end as a SIGKILL would: the -wal and -shm stay, nothing checkpointed."""
    pid = os.fork()
    if pid == 0:
        try:
            _fill(state)  # its connection is closed: open another one that is never closed
            Store.open(state).snoozes(datetime.now(UTC))
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)


@pytest.mark.parametrize("left", ["closed cleanly", "writer killed", "nothing stored"])
def test_status_and_notifications_read_a_read_only_state_folder(
    nobodys: Path, capsys: pytest.CaptureFixture[str], left: str
) -> None:
    state = nobodys / "state" / "hygiene-agent"
    with as_nobody_here():
        state.mkdir(parents=True, mode=0o700)
        if left == "closed cleanly":
            _fill(state)
        elif left == "writer killed":
            _left_open_by_a_killed_writer(state)
    names = sorted(p.name for p in state.iterdir())
    if left == "writer killed":
        assert {"store.db-wal", "store.db-shm"} <= set(names)
    elif left == "closed cleanly":
        assert names == ["store.db"]
    state.chmod(0o500)
    status = hygiene_as_nobody(capsys, "status", "--json")
    notes = hygiene_as_nobody(capsys, "notifications", "--json")
    listed = hygiene_as_nobody(capsys, "network", "list", "--json")
    assert (status.err, notes.err, listed.err) == ("", "", "")
    assert sorted(p.name for p in state.iterdir()) == names  # nothing made, nothing moved
    if left == "nothing stored":
        assert status.code == 1
        assert json.loads(status.out)["failing"] == []
        assert json.loads(notes.out) == []
        return
    assert status.code == 1
    assert [f["id"] for f in json.loads(status.out)["failing"]] == ["f1"]
    assert [n["title"] for n in json.loads(notes.out)] == ["An SSH key is not protected"]
    assert json.loads(listed.out) == []


def test_status_creates_no_store(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    said = hygiene("status")
    assert said.code == 1
    assert "has not audited this computer yet" in said.out
    assert hygiene("notifications", "--json").out == "[]\n"
    assert not (machine.state / "hygiene-agent" / "store.db").exists()


# --- a command never moves the agent's store ------------------------------------------


def _said(outcome: Outcome) -> str:
    """What the person reads on stderr, without the audit hook's own lines."""
    return "".join(
        line for line in outcome.err.splitlines(keepends=True) if not line.startswith("WATCH ")
    )


def _stores_aside(state: Path) -> int:
    return sum(not p.name.endswith(("-wal", "-shm")) for p in state.glob("store.db.newer-*"))


def _set_user_version(store: Path, version: int) -> None:
    """As another version of hygiene-agent would leave it, with the real sqlite3 tool."""
    subprocess.run(
        [require_tool("sqlite3"), str(store), f"PRAGMA user_version={version}"],
        check=True,
        capture_output=True,
    )


def test_a_command_never_moves_the_running_agents_store_aside(
    machine: Machine, make_key: Callable[..., Path], tmp_path: Path
) -> None:
    state = machine.state / "hygiene-agent"
    log = tmp_path / "agent.log"
    with running_agent(machine, log):
        wait_for_line(log, "ssh_keys: pass")
        before = sorted(p.name for p in state.glob("store.db*"))
        _set_user_version(state / "store.db", 999)
        said = run(machine, "snooze", "vpn", "1h")
        assert said.code == 2
        assert said.out == ""
        assert _said(said) == (
            f"hygiene: The store {state / 'store.db'} was written by a newer version of "
            "hygiene-agent, which is running; use that version's hygiene command.\n"
        )
        assert sorted(p.name for p in state.glob("store.db*")) == before  # nothing moved
        # The agent still writes into store.db, where status reads it.
        _set_user_version(state / "store.db", Store.SCHEMA_VERSION)
        make_key(machine.ssh / "id_after")
        appeared = wait_for_line(log, "ssh_keys: appeared: ")
        shown = run(machine, "status", "--json")
    finding_id = appeared.split()[-1]  # the last word, as a double click takes it
    assert finding_id in [f["id"] for f in json.loads(shown.out)["failing"]]
    assert "moved to" not in log.read_text()
    # With no agent running, a command sets the newer store aside; and so does the agent's
    # own cycle, which holds the lock itself.
    for argv in (("snooze", "vpn", "1h"), ("run", "--once")):
        _set_user_version(state / "store.db", 999)
        aside = _stores_aside(state)
        assert run(machine, *argv).code == 0
        assert _stores_aside(state) == aside + 1


# --- store.db deleted or replaced under the agent -------------------------------------


def _store_fds(pid: int) -> list[str]:
    where = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in where.iterdir():
        with contextlib.suppress(OSError):
            targets.append(str(fd.readlink()))
    return [t for t in targets if "/store.db" in t]


@pytest.mark.parametrize("how", ["deleted", "renamed", "replaced"])
def test_the_agent_follows_a_store_deleted_or_replaced_under_it(
    machine: Machine, make_key: Callable[..., Path], tmp_path: Path, how: str
) -> None:
    state = machine.state / "hygiene-agent"
    store = state / "store.db"
    log = tmp_path / "agent.log"
    with running_agent(machine, log) as agent:
        wait_for_line(log, "ssh_keys: pass")
        # Held still, so that a command surely runs before the agent's next turn.
        agent.send_signal(signal.SIGSTOP)
        try:
            if how == "deleted":
                store.unlink()
            elif how == "renamed":
                store.rename(tmp_path / "kept.db")
            else:  # another store put in its place, as a restored copy would be
                Store.open(tmp_path).close()
                shutil.copy(tmp_path / "store.db", tmp_path / "copy.db")
                (tmp_path / "copy.db").replace(store)
            early = run(machine, "snooze", "vpn", "1h")
        finally:
            agent.send_signal(signal.SIGCONT)
        if how != "replaced":
            # Not beside the -wal and -shm the agent still has: it starts the store itself.
            assert early.code == 2
            assert _said(early) == (
                f"hygiene: The store {store} is missing while the agent runs; it starts a "
                "fresh one within seconds, so try again then.\n"
            )
        wait_for_line(log, "was deleted or replaced while the agent ran")
        wait_for_line(log, "vpn: ", timeout=10)
        make_key(machine.ssh / "id_after")
        appeared = wait_for_line(log, "ssh_keys: appeared: ")
        finding_id = appeared.split()[-1]  # the last word, as a double click takes it
        outcomes = [run(machine, *argv) for argv in (("snooze", finding_id, "1h"), ("status",))]
        shown = run(machine, "status", "--json")
        held = _store_fds(agent.pid)
    assert [o.code for o in outcomes] == [0, 1]
    failing = {f["id"]: f for f in json.loads(shown.out)["failing"]}
    assert failing[finding_id]["snoozed_until"] is not None  # the snooze reached the agent
    assert held and not [t for t in held if t.endswith("(deleted)") or "kept.db" in t], held
    text = log.read_text()
    assert text.count("was deleted or replaced while the agent ran") == 1
    assert "Traceback" not in text


# --- a store made read-only for a while -----------------------------------------------


def _person_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    return [
        require_tool("setpriv"),
        "--bounding-set",
        "-dac_override,-dac_read_search,-fowner",
        "--inh-caps=-all",
        "--",
    ]


def as_a_person(machine: Machine, *argv: str) -> Outcome:
    """`hygiene ARGV` bound by file permissions as a normal user is: root without the
    capabilities that let it ignore them (the files stay root's, as a person's are theirs)."""
    done = subprocess.run(
        [*_person_prefix(), *watched(*argv)],
        env=machine.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def _read_by_sqlite3_while_read_only(state: Path) -> None:
    """What any reader of a read-only WAL store leaves: a -wal and -shm as read-only as it."""
    store = state / "store.db"
    store.chmod(0o400)
    subprocess.run(
        [*_person_prefix(), require_tool("sqlite3"), str(store), "SELECT count(*) FROM checks"],
        check=True,
        capture_output=True,
    )
    store.chmod(0o600)


def _side_modes(state: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in state.glob("store.db-*")}


def test_a_reader_of_a_read_only_store_leaves_nothing_the_writer_cannot_use(
    machine: Machine,
) -> None:
    machine.keep_only("ssh_keys")
    state = machine.state / "hygiene-agent"
    assert as_a_person(machine, "run", "--once").code == 0
    (state / "store.db").chmod(0o400)
    status = as_a_person(machine, "status", "--json")
    assert (status.code, _said(status)) == (0, "")
    assert json.loads(status.out)["audited"] is True  # it was read
    assert all(mode & 0o600 == 0o600 for mode in _side_modes(state).values())
    # The real sqlite3 tool makes them as read-only as the store; the writer, the store
    # writable again, takes them back (they are its own).
    _read_by_sqlite3_while_read_only(state)
    assert _side_modes(state)["store.db-shm"] == 0o400
    again = as_a_person(machine, "run", "--once")
    assert (again.code, "read-only" in again.err) == (0, False), again.err
    assert as_a_person(machine, "status").code == 0


def test_a_side_file_the_writer_may_not_change_is_named(machine: Machine) -> None:
    machine.keep_only("ssh_keys")
    state = machine.state / "hygiene-agent"
    assert as_a_person(machine, "run", "--once").code == 0
    _read_by_sqlite3_while_read_only(state)
    shm = state / "store.db-shm"
    if os.geteuid() == 0:
        os.chown(shm, NOBODY, NOBODY)  # someone else's: not the writer's to mend
    shm.chmod(0o400)
    said = as_a_person(machine, "snooze", "ssh_keys", "1h")
    assert said.code == 2
    assert _said(said) == (
        f"hygiene: The store {state / 'store.db'} cannot be opened for writing: the file "
        f"{shm} beside it is read-only (permission denied).\n"
    )
