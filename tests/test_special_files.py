"""A FIFO where the agent keeps a file never holds it up, and bounded numbers stay bounded.

Opening a FIFO for writing waits for a reader that never comes, so each state file the agent
writes is replaced whole (a new file renamed over whatever is there) or opened
non-blocking and refused. Each attempt is given a few seconds by an alarm: a hang fails the
test instead of stopping the run.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest

from agent.errors import AgentError
from agent.fleet import EVENTS_FILE, PROM_FILE, FleetError, append_events, write_prometheus
from agent.instance import LOCK_FILE as LOCK
from agent.instance import InstanceLock, running_agent
from agent.models import CheckResult, Severity, Status
from agent.paths import Paths
from agent.sources import LOCK_FILE, META_FILE, POLICY_FILE, SIGNATURE_FILE, pull, source_folder
from agent.store import NotificationRecord
from tests.agents import quiet_agent
from tests.conftest import Machine, Outcome

T = TypeVar("T")
NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


class Blocked(Exception):
    pass


def within(seconds: int, attempt: Callable[[], T]) -> T | Exception:
    """What `attempt` returns or raises; an alarm ends it, failing the test, if it blocks."""

    def interrupt(signum: int, frame: object) -> None:
        raise Blocked

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(seconds)
    try:
        return attempt()
    except Blocked:
        pytest.fail(f"still blocked after {seconds} s")
    except Exception as err:  # noqa: BLE001 - handed back to the test
        return err
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path, 0o600)
    return path


def is_regular(path: Path) -> bool:
    return stat.S_ISREG(path.lstat().st_mode)


def test_the_details_replace_a_fifo_named_page_html(machine: Machine) -> None:
    machine.keep_only()
    paths = Paths.from_environment()
    paths.state.mkdir(parents=True, mode=0o700)
    page = fifo(paths.state / "page.html")
    record = NotificationRecord(
        id=1, at=NOW, check="ssh_keys", kind="appeared", title="t", body="b",
        urgency="normal", backend="log", delivered=False, reason=None, server_id=None,
        finding_ids=(),
    )  # fmt: skip
    # On "win32" here the page is written, and opening it is not tried: not this test's.
    with quiet_agent(platform="win32") as agent:
        assert within(10, lambda: agent._open_details(record, NOW)) is None
    assert is_regular(page)
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert "My device" in page.read_text()


def result() -> CheckResult:
    return CheckResult(
        check="ssh_keys", status=Status.passed, severity=Severity.high, title="t", advice="a"
    )


def test_fleet_outputs_never_wait_on_a_fifo(tmp_path: Path) -> None:
    events = fifo(tmp_path / EVENTS_FILE)
    said = within(10, lambda: append_events(events, [{"check": "ssh_keys"}]))
    assert isinstance(said, FleetError)
    assert str(said) == f"Cannot append to the event log {events}: it is not a regular file."
    prom = fifo(tmp_path / PROM_FILE)
    within(10, lambda: write_prometheus(tmp_path, [result()], NOW))
    assert is_regular(prom)


def test_service_install_replaces_a_fifo_where_the_unit_goes(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    unit = fifo(machine.config / "systemd" / "user" / "hygiene-agent.service")
    outcome = within(20, lambda: hygiene("service", "install"))
    assert isinstance(outcome, Outcome) and outcome.code == 0, outcome
    assert is_regular(unit)
    assert "ExecStart=" in unit.read_text()


@pytest.fixture
def policy_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"schema: 1\nname: acme\nrevision: 1\n" if self.path == "/p.yaml" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/p.yaml"
    server.shutdown()
    server.server_close()


def test_fifos_in_a_sources_cache_never_hold_a_pull(tmp_path: Path, policy_server: str) -> None:
    cache = tmp_path / "state" / "sources"
    folder = source_folder(policy_server, cache)
    for name in (LOCK_FILE, META_FILE, POLICY_FILE, SIGNATURE_FILE):
        fifo(folder / name)
    cache.chmod(0o700)
    folder.chmod(0o700)
    got = within(
        10,
        lambda: pull(policy_server, cache, NOW, deadline=5, allow_loopback_http=True),
    )
    assert not isinstance(got, BaseException), got
    assert got.error is None
    assert got.policy_path is not None and is_regular(got.policy_path)
    assert is_regular(folder / META_FILE)


def test_a_fifo_named_agent_lock_holds_no_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    lock = fifo(state / LOCK)
    state.chmod(0o700)
    # Asking whether an agent runs (status, service status) does not wait for a writer.
    assert within(10, lambda: running_agent(state)) in (None, 0)
    # Nor does starting one: it takes the lock or says why not, at once.
    taken = within(10, lambda: InstanceLock(state).acquire())
    if isinstance(taken, InstanceLock):
        taken.release()
    else:
        assert isinstance(taken, AgentError), taken
    assert stat.S_ISFIFO(lock.lstat().st_mode)
