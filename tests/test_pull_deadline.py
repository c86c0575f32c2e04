"""One deadline per policy pull, whatever the server does, and no source waiting on another.

Real TLS servers on 127.0.0.1 (certificates made by openssl, trusted through SSL_CERT_FILE
as a company CA is), each misbehaving in one way a per-read timeout does not catch: every
byte comes well within the timeout of the read that waits for it, but the whole never
does. The deadline here is 3 s; the servers would go on for minutes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import inspect
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.cli import main
from agent.scheduler import PULL_DEADLINE, Agent, pull_due
from agent.sources import LOCK_FILE, pull, source_folder
from tests.agents import quiet_agent
from tests.conftest import Machine, Outcome
from tests.tls import Certificates, make_certificates

DEADLINE = 3.0
DRIP = 0.5  # seconds between two bytes: far within any per-read timeout
NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
POLICY = b"schema: 1\nname: fleet\nrevision: 1\nchecks:\n  ssh_keys: {min_rsa_bits: 4096}\n"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/yaml\r\nContent-Length: 400\r\n\r\n"


@dataclass
class Server:
    """A TLS server on 127.0.0.1 that answers every request with `behaviour`."""

    name: str
    url: str
    served: list[float] = field(default_factory=list)  # when a whole answer went out


Behaviour = Callable[[socket.socket, threading.Event], None]


def _drip(conn: socket.socket, data: bytes, stop: threading.Event) -> None:
    for byte in data:
        if stop.wait(DRIP):
            return
        conn.sendall(bytes([byte]))


def _request(conn: socket.socket) -> str:
    seen = b""
    while b"\r\n\r\n" not in seen:
        chunk = conn.recv(4096)
        if not chunk:
            break
        seen += chunk
    return seen.split(b" ", 2)[1].decode() if seen.count(b" ") >= 2 else ""


@pytest.fixture
def certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Certificates:
    made = make_certificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(made.ca))
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return made


@pytest.fixture
def start(certificates: Certificates) -> Iterator[Callable[[str], Server]]:
    """Start a server by the name of its behaviour; all stop when the test ends."""
    stop = threading.Event()
    listeners: list[socket.socket] = []
    context = certificates.server_context()

    def start_one(name: str) -> Server:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        listeners.append(listener)
        server = Server(name, f"https://127.0.0.1:{listener.getsockname()[1]}/fleet.yaml")

        def answer(conn: socket.socket) -> None:
            conn.settimeout(30)
            try:
                if name == "stalls the TLS handshake":
                    conn.recv(4096)  # the client's hello
                    # A handshake record 16 KiB long, then its bytes one at a time.
                    conn.sendall(b"\x16\x03\x03\x40\x00")
                    _drip(conn, bytes(16384), stop)
                    return
                with context.wrap_socket(conn, server_side=True) as tls:
                    path = _request(tls)
                    if name == "trickles the headers":
                        _drip(tls, HEAD, stop)
                    elif name == "trickles the body":
                        tls.sendall(HEAD)
                        _drip(tls, POLICY.ljust(400), stop)
                    elif name == "never answers":
                        stop.wait(120)
                    elif path.endswith(".sig"):
                        tls.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    else:
                        length = f"Content-Length: {len(POLICY)}\r\n\r\n".encode()
                        tls.sendall(b"HTTP/1.1 200 OK\r\n" + length + POLICY)
                        server.served.append(time.monotonic())
            except OSError:
                pass  # the client gave up: what the test wants
            finally:
                conn.close()

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                threading.Thread(target=answer, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return server

    yield start_one
    stop.set()
    for listener in listeners:
        listener.close()


STUCK = ["trickles the headers", "trickles the body", "never answers", "stalls the TLS handshake"]
SAID = {
    "trickles the headers": "no answer within 3 seconds",
    "trickles the body": "the whole file did not arrive within 3 seconds",
    "never answers": "no answer within 3 seconds",
    "stalls the TLS handshake": "no answer within 3 seconds",
}


@pytest.mark.parametrize("behaviour", STUCK)
def test_a_stuck_server_ends_the_pull_at_its_deadline(
    behaviour: str, start: Callable[[str], Server], tmp_path: Path
) -> None:
    server = start(behaviour)
    started = time.monotonic()
    got = pull(server.url, tmp_path / "sources", NOW, deadline=DEADLINE)
    took = time.monotonic() - started
    # The server would have gone on for minutes: the pull ends at the deadline, not before.
    assert DEADLINE - 0.1 <= took < DEADLINE + 2, took
    assert got.error == (
        f"Policy source {server.url} could not be fetched: {SAID[behaviour]}; there is no "
        "earlier copy to use."
    )
    assert got.policy_path is None
    # The failure counts for the backoff like any other.
    meta = json.loads((source_folder(server.url, tmp_path / "sources") / "meta.json").read_text())
    assert meta["failures"] == 1


def test_a_pull_waits_for_another_pull_of_its_source_no_longer_than_its_deadline(
    start: Callable[[str], Server], tmp_path: Path
) -> None:
    server = start("healthy")
    cache = tmp_path / "sources"
    assert pull(server.url, cache, NOW, deadline=DEADLINE).error is None
    # Another process pulling the same source, stuck: it holds the source's lock.
    fd = os.open(source_folder(server.url, cache) / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        got = pull(server.url, cache, NOW, deadline=1.0)
    finally:
        os.close(fd)
    assert got.error == (
        f"Policy source {server.url} was not pulled: another pull of it did not end within "
        "1 seconds; the copy fetched at 2025-03-01 09:00 UTC is still used."
    )
    assert got.policy_path is not None and got.policy_path.read_bytes() == POLICY


def admin_sources(machine: Machine, urls: list[str]) -> None:
    listed = ", ".join(f"'{url}'" for url in urls)
    (machine.admin_policies / "00-boot.yaml").write_text(
        f"schema: 1\nname: boot\nsources: {{urls: [{listed}], every: 1s}}\n"
    )


def run_once(capsys: pytest.CaptureFixture[str]) -> Outcome:
    capsys.readouterr()
    code = main(["run", "--once"], pull_deadline=DEADLINE)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def test_stuck_sources_cost_one_deadline_and_delay_no_healthy_one(
    machine: Machine,
    start: Callable[[str], Server],
    hygiene: Callable[..., Outcome],
    capsys: pytest.CaptureFixture[str],
) -> None:
    machine.keep_only("ssh_keys")
    stuck = [start(name) for name in STUCK]
    healthy = start("healthy")
    admin_sources(machine, [s.url for s in [*stuck, healthy]])  # the healthy one last

    started = time.monotonic()
    outcome = run_once(capsys)
    took = time.monotonic() - started
    assert outcome.code == 0, outcome.err
    # Four stuck sources pulled one after the other would have taken four deadlines.
    assert took < 2 * DEADLINE, took
    # The healthy source was answered before the first stuck pull could have ended: it did
    # not wait its turn behind them.
    assert healthy.served and healthy.served[0] < started + DEADLINE
    shown = json.loads(hygiene("policy", "show", "--json").out)
    assert shown["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 4096
    # Each stuck pull: one sentence, in the log, `hygiene status` and `policy show`.
    status = " ".join(hygiene("status").out.split())
    for server in stuck:
        sentence = f"Policy source {server.url} could not be fetched: {SAID[server.name]}"
        assert f"hygiene: warning: {sentence}" in outcome.err
        assert sentence in status
        assert any(line.startswith(sentence) for line in shown["admin"]["pull_failed"])
        assert f"pull failed: {sentence}" in hygiene("policy", "show").out
    assert "Traceback" not in outcome.err


LOOP_DEADLINE = 1.5  # shorter: this test waits for it twice


def test_the_agent_loop_goes_on_while_a_pull_is_stuck_and_pulls_again_after(
    machine: Machine, start: Callable[[str], Server]
) -> None:
    machine.keep_only()
    stuck, healthy = start("trickles the headers"), start("healthy")
    admin_sources(machine, [stuck.url, healthy.url])
    with quiet_agent(poll_seconds=0, pull_deadline=LOOP_DEADLINE, source_look_seconds=0) as agent:
        agent.tick()
        puller = agent._puller
        # The turn is over while the stuck pull goes on in its own thread.
        assert puller is not None and puller.is_alive()
        puller.join(LOOP_DEADLINE + 10)
        assert not puller.is_alive()
        assert len(healthy.served) == 1
        time.sleep(1.1)  # the sources are due again every second
        agent.tick()
        again = agent._puller
        assert again is not None and again is not puller  # a stuck pull stops no later one
        again.join(LOOP_DEADLINE + 10)
    assert len(healthy.served) == 2


def test_a_pull_is_given_30_seconds_unless_a_test_says_otherwise() -> None:
    assert PULL_DEADLINE == 30.0
    assert inspect.signature(pull_due).parameters["deadline"].default == PULL_DEADLINE
    assert inspect.signature(Agent).parameters["pull_deadline"].default == PULL_DEADLINE
    assert inspect.signature(main).parameters["pull_deadline"].default is None  # PULL_DEADLINE
