"""Policies an admin serves over HTTPS, as a device pulls and judges them.

A real HTTPS server on 127.0.0.1 (http.server with a certificate made by the real openssl,
trusted by the agent through SSL_CERT_FILE, the way a company CA is), serving a policy and
its detached signature with ETags; `hygiene run --once` pulls as the agent does, and
`hygiene policy show` and `hygiene status` say what is in force and what was refused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Machine, Outcome
from tests.tls import make_certificates


@dataclass
class Site:
    """What the server serves, and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    asked: list[tuple[str, str | None, int]] = field(default_factory=list)  # path, etag, status


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.files.get(self.path)
            seen = self.headers.get("If-None-Match")
            if body is None:
                status, body = 404, b""
            else:
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                status = 304 if seen == etag else 200
            site.asked.append((self.path, seen, status))
            self.send_response(status)
            if status != 404:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", "0" if status == 304 else str(len(body)))
            self.end_headers()
            if status == 200:
                self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@dataclass
class Server:
    site: Site
    url: str
    ca: Path
    stop: Callable[[], None]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    certificates = make_certificates(tmp_path)
    site = Site()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    httpd.socket = certificates.server_context().wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stopped = [False]

    def stop() -> None:
        if not stopped[0]:
            stopped[0] = True
            httpd.shutdown()
            httpd.server_close()

    try:
        url = f"https://127.0.0.1:{httpd.server_address[1]}/fleet.yaml"
        yield Server(site, url, certificates.ca, stop)
    finally:
        stop()


@pytest.fixture
def signer(
    machine: Machine, hygiene: Callable[..., Outcome], tmp_path: Path
) -> Callable[..., bytes]:
    """Signs a policy's text with the admin's key (installed on the device) or another."""
    keys = {}
    for name in ("admin", "stranger"):
        private = tmp_path / f"{name}-key"
        assert hygiene("policy", "keygen", "--out", str(private)).code == 0
        keys[name] = private
    (machine.admin / "keys").mkdir(parents=True)
    shutil.copy(keys["admin"].with_name("admin-key.pub"), machine.admin / "keys" / "admin.pub")

    def sign(text: str, key: str = "admin") -> bytes:
        policy = tmp_path / "to-sign.yaml"
        policy.write_text(text)
        assert hygiene("policy", "sign", str(policy), "--key", str(keys[key])).code == 0
        return policy.with_name("to-sign.yaml.sig").read_bytes()

    return sign


def fleet_policy(revision: int, bits: int) -> str:
    return (
        f"schema: 1\nname: fleet\nrevision: {revision}\n"
        f"checks:\n  ssh_keys: {{min_rsa_bits: {bits}}}\n"
    )


def publish(server: Server, text: str, signature: bytes | None) -> None:
    server.site.files["/fleet.yaml"] = text.encode()
    if signature is None:
        server.site.files.pop("/fleet.yaml.sig", None)
    else:
        server.site.files["/fleet.yaml.sig"] = signature


def pull(machine: Machine, server: Server, hygiene_process: Callable[..., Outcome]) -> Outcome:
    """One agent cycle, which pulls first; the company CA is trusted as SSL_CERT_FILE."""
    time.sleep(1.1)  # the sources are due every second
    env = {**machine.env(), "SSL_CERT_FILE": str(server.ca)}
    outcome = hygiene_process("run", "--once", env=env)
    assert outcome.code == 0, outcome.err
    return outcome


def in_force(hygiene: Callable[..., Outcome]) -> tuple[int, str, list[str]]:
    data = json.loads(hygiene("policy", "show", "--json").out)
    entry = data["checks"]["ssh_keys"]
    return (
        entry["settings"]["min_rsa_bits"],
        entry["from"].get("min_rsa_bits", ""),
        data["admin"]["rejected"],
    )


def test_pulled_signed_policies_end_to_end(
    machine: Machine,
    server: Server,
    signer: Callable[..., bytes],
    hygiene: Callable[..., Outcome],
    hygiene_process: Callable[..., Outcome],
) -> None:
    machine.keep_only("ssh_keys")
    boot = machine.admin_policies / "00-boot.yaml"
    boot.write_text(f"schema: 1\nname: boot\nsources: {{urls: ['{server.url}'], every: 1s}}\n")
    boot.with_name("00-boot.yaml.sig").write_bytes(signer(boot.read_text()))

    # A good signed policy is applied, and said to be signed and pulled.
    text = fleet_policy(2, 3072)
    publish(server, text, signer(text))
    pull(machine, server, hygiene_process)
    bits, origin, rejected = in_force(hygiene)
    assert (bits, rejected) == (3072, [])
    assert origin.startswith(f"{server.url} (pulled ") and "signed by key" in origin

    # Unchanged: the device asks with the ETag and the server answers 304.
    server.site.asked.clear()
    pull(machine, server, hygiene_process)
    assert ("/fleet.yaml", server.site.asked[0][1], 304) == server.site.asked[0]
    assert server.site.asked[0][1] is not None

    # Tampered, unsigned, signed by a stranger, an old revision: each refused, 3072 stays.
    cases = {
        "tampered": (fleet_policy(3, 1024), signer(fleet_policy(3, 4096))),
        "unsigned": (fleet_policy(3, 1024), None),
        "stranger": (fleet_policy(3, 1024), signer(fleet_policy(3, 1024), "stranger")),
        "downgrade": (fleet_policy(1, 1024), signer(fleet_policy(1, 1024))),
    }
    said = {
        "tampered": "the signature does not match the file",
        # A signed source never loses its signature: the pull keeps the pair it had (here
        # the tampered one just refused), which the device refuses again.
        "unsigned": "the signature does not match the file",
        "stranger": "which is not among the trusted keys",
        "downgrade": "its revision 1 of 'fleet' is lower than revision 2 in force",
    }
    for case, (body, signature) in cases.items():
        publish(server, body, signature)
        outcome = pull(machine, server, hygiene_process)
        bits, _, rejected = in_force(hygiene)
        assert bits == 3072, case
        told = " ".join([*rejected, outcome.err])
        assert said[case] in told, (case, told)
        status = " ".join(hygiene("status").out.split())
        if rejected:
            assert "POLICY" in status and "its last good copy stays in force" in status

    # A signed copy that does not read as a policy: refused at the pull, nothing of it kept,
    # the device keeps going, and the next good copy is pulled and taken (a broken source
    # never stops the agent).
    broken = "schema: 1\nname: fleet\nrevision: 3\nchecks: [\n"
    publish(server, broken, signer(broken))
    refused = pull(machine, server, hygiene_process)
    bits, _, rejected = in_force(hygiene)
    assert bits == 3072
    told = " ".join([refused.err, *hygiene("status").out.split()])
    assert "did not send a policy file" in told
    # The new text without its own signature is refused too, and said.
    publish(server, fleet_policy(3, 2048), signer(broken))
    time.sleep(1)  # the refused pull above doubled the wait (backoff)
    pull(machine, server, hygiene_process)
    assert in_force(hygiene)[0] == 3072
    assert "signature" in " ".join(hygiene("status").out.split())

    # The server goes away: the cached copy keeps working, with a sentence in the log.
    text = fleet_policy(4, 4096)
    publish(server, text, signer(text))
    time.sleep(2)  # the failed pull above doubled the wait (backoff)
    pull(machine, server, hygiene_process)
    assert in_force(hygiene)[0] == 4096
    server.stop()
    outcome = pull(machine, server, hygiene_process)
    assert "Traceback" not in outcome.err
    assert in_force(hygiene)[:2][0] == 4096


def test_a_token_in_a_source_address_is_never_shown(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    """An admin may put a token in a source's address (a query, a user and password): it is
    the admin's secret, and neither `policy show`, `status` nor the log repeats it."""
    canary = "TokenCanary7731"
    served = machine.home / "served"
    served.mkdir()
    (served / "broken.yaml").write_text("schema: 1\nchecks: [\n")
    urls = [
        f"file://{served}/broken.yaml?token={canary}",
        f"file://{served}/missing.yaml?token={canary}",
    ]
    listed = "".join(f"    - {url}\n" for url in urls)
    (machine.admin_policies / "10-sources.yaml").write_text(
        f"schema: 1\nname: fleet\nsources:\n  urls:\n{listed}"
    )
    machine.keep_only("ssh_keys")
    outcomes = [
        hygiene("run", "--once"),
        hygiene("policy", "show"),
        hygiene("policy", "show", "--json"),
        hygiene("status"),
        hygiene("status", "--json"),
    ]
    said = "".join(o.out + o.err for o in outcomes)
    assert "(query hidden)" in said  # the sources are shown, without what they carry
    assert canary not in said
    for path in machine.state.rglob("*"):
        if path.is_file() and path.suffix != ".yaml":
            assert canary.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("target", ["netrc", "environ", "broken"])
def test_a_source_that_is_not_a_policy_is_never_kept(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """A source names a file; only a policy document is ever kept from it. A file:// address
    of someone's .netrc, or of the agent's own environment, must leave no copy behind."""
    canary = "PulledCanary5512"
    monkeypatch.setenv("HYGIENE_TEST_CANARY", canary)
    netrc = machine.home / ".netrc"
    netrc.write_text(f"machine example.com login ann password {canary}\n")
    broken = machine.home / "broken.yaml"
    broken.write_text(f"schema: 1\nname: [{canary}\n")
    url = {
        "netrc": f"file://{netrc}",
        "environ": "file:///proc/self/environ",
        "broken": f"file://{broken}",
    }[target]
    (machine.admin_policies / "10-sources.yaml").write_text(
        f"schema: 1\nname: fleet\nsources:\n  urls: ['{url}']\n"
    )
    machine.keep_only("ssh_keys")
    outcomes = [hygiene("run", "--once"), hygiene("status"), hygiene("policy", "show")]
    said = "".join(o.out + o.err for o in outcomes)
    if target != "broken":
        assert "did not send a policy file" in said
    assert canary not in said
    for path in machine.state.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    if target != "broken":
        assert not list((machine.state / "hygiene-agent" / "sources").glob("*/policy.yaml"))
