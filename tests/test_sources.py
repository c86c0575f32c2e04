"""Pulling admin policy sources (agent.sources) from a real HTTP server on 127.0.0.1, a real
self-signed TLS server (certificate made by the openssl command) and real files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import ssl
import stat
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.sources import (
    MAX_BYTES,
    MAX_WAIT,
    Pulled,
    backoff,
    cached,
    due,
    pull,
    source_folder,
)
from tests.conftest import require_tool

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
POLICY_V1 = b"schema: 1\nname: acme\nrevision: 1\n"
POLICY_V2 = b"schema: 1\nname: acme\nrevision: 2\n"
SIG_V1 = b"signature over revision 1\n"
SIG_V2 = b"signature over revision 2\n"


@dataclass
class Seen:
    """One request as the server saw it, and what it answered."""

    path: str
    if_none_match: str | None
    if_modified_since: str | None
    authorization: str | None
    status: int


@dataclass
class Site:
    """What the server serves, and how it misbehaves, path by path."""

    files: dict[str, bytes] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)  # answer 500
    slow: set[str] = field(default_factory=set)  # say nothing for seconds
    dripping: set[str] = field(default_factory=set)  # a byte at a time
    flooding: set[str] = field(default_factory=set)  # 2 MiB, no Content-Length
    redirects: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def put(self, path: str, data: bytes) -> None:
        self.files[path] = data
        self.versions[path] = self.versions.get(path, 0) + 1

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'

    def last_modified(self, path: str) -> str:
        return formatdate(1_700_000_000 + 3600 * self.versions[path], usegmt=True)

    def answers(self, path: str) -> list[int]:
        return [s.status for s in self.seen if s.path == path]

    def last(self, path: str) -> Seen:
        return [s for s in self.seen if s.path == path][-1]


def handler_for(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest's output for failures

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(path)

        def _answer(self, path: str) -> None:
            if path in site.redirects:
                self._head(302, path, Location=site.redirects[path], **{"Content-Length": "0"})
                return
            if path in site.failing:
                self._head(500, path, **{"Content-Length": "0"})
                return
            if path in site.slow:
                site.stop.wait(5)
            if path in site.flooding:
                self._head(200, path)
                for _ in range(32):
                    self.wfile.write(b"#" * 65536)
                return
            data = site.files.get(path)
            if data is None:
                self._head(404, path, **{"Content-Length": "0"})
                return
            validators = {"ETag": site.etag(path), "Last-Modified": site.last_modified(path)}
            if self.headers.get("If-None-Match") == site.etag(path):
                self._head(304, path, **validators)
                return
            self._head(200, path, **validators, **{"Content-Length": str(len(data))})
            if path in site.dripping:
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    if site.stop.wait(0.1):
                        return
                return
            self.wfile.write(data)

        def _head(self, status: int, path: str, **headers: str) -> None:
            site.seen.append(
                Seen(
                    path,
                    self.headers.get("If-None-Match"),
                    self.headers.get("If-Modified-Since"),
                    self.headers.get("Authorization"),
                    status,
                )
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

    return Handler


@dataclass
class Served:
    site: Site
    server: HTTPServer
    base: str
    closed: bool = False

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        """The server goes away: its port refuses connections from now on."""
        if self.closed:
            return
        self.closed = True
        self.site.stop.set()
        self.server.shutdown()
        self.server.server_close()


def serve(site: Site, server: HTTPServer, scheme: str) -> Served:
    # A short poll: shutdown() waits for it, and every test stops a server.
    poll = {"poll_interval": 0.02}
    threading.Thread(target=server.serve_forever, kwargs=poll, daemon=True).start()
    return Served(site, server, f"{scheme}://127.0.0.1:{server.server_address[1]}")


@pytest.fixture
def served() -> Iterator[Served]:
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(site))
    server.daemon_threads = True
    running = serve(site, server, "http")
    yield running
    running.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The servers here are on 127.0.0.1: a proxy set for the machine would stand between."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state / "sources"


Get = Callable[..., Pulled]


@pytest.fixture
def get(cache: Path) -> Get:
    """pull() as the tests call it: a loopback HTTP server is allowed, deadlines are short."""

    def run(
        url: str, now: datetime = NOW, *, deadline: float = 2.0, every: timedelta | None = None
    ) -> Pulled:
        return pull(url, cache, now, deadline=deadline, every=every, allow_loopback_http=True)

    return run


def pair(pulled: Pulled) -> tuple[bytes | None, bytes | None]:
    policy = pulled.policy_path.read_bytes() if pulled.policy_path else None
    signature = pulled.signature_path.read_bytes() if pulled.signature_path else None
    return policy, signature


def publish(served: Served, policy: bytes, signature: bytes | None) -> str:
    served.site.put("/p.yaml", policy)
    if signature is not None:
        served.site.put("/p.yaml.sig", signature)
    return served.url("/p.yaml")


# ---- the ordinary life of a source


def test_first_pull_keeps_the_policy_and_its_signature(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    got = get(url)
    assert got.error is None
    assert got.changed
    assert pair(got) == (POLICY_V1, SIG_V1)
    assert got.fetched_at == NOW
    assert served.site.answers("/p.yaml") == [200]
    assert served.site.answers("/p.yaml.sig") == [200]
    assert served.site.last("/p.yaml").if_none_match is None


def test_second_pull_asks_conditionally_and_keeps_the_copy(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    first = get(url)
    later = NOW + HOUR
    second = get(url, later)
    assert second.error is None
    assert not second.changed
    asked = served.site.last("/p.yaml")
    assert asked.if_none_match == served.site.etag("/p.yaml")
    assert asked.if_modified_since == served.site.last_modified("/p.yaml")
    assert asked.status == 304
    assert served.site.last("/p.yaml.sig").if_none_match == served.site.etag("/p.yaml.sig")
    assert served.site.last("/p.yaml.sig").status == 304
    assert second.policy_path == first.policy_path
    assert pair(second) == (POLICY_V1, SIG_V1)
    assert second.fetched_at == later


def test_a_changed_policy_replaces_the_pair(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    publish(served, POLICY_V2, SIG_V2)
    got = get(url, NOW + HOUR)
    assert got.error is None
    assert got.changed
    assert pair(got) == (POLICY_V2, SIG_V2)
    assert served.site.last("/p.yaml").status == 200
    # The signature of a changed policy is fetched whole, never taken as "not modified".
    assert served.site.last("/p.yaml.sig").if_none_match is None


def test_a_new_signature_for_the_same_policy_is_taken(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    served.site.put("/p.yaml.sig", b"signed again with a new key\n")
    got = get(url, NOW + HOUR)
    assert got.error is None
    assert got.changed
    assert pair(got) == (POLICY_V1, b"signed again with a new key\n")


def test_server_gone_keeps_offering_the_copy(served: Served, get: Get, cache: Path) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    served.close()
    got = get(url, NOW + HOUR)
    assert got.error == (
        f"Policy source {url} could not be fetched: {served.base.removeprefix('http://')} "
        "refused the connection (is the server down?); the copy fetched at 2025-03-01 "
        "09:00 UTC is still used."
    )
    assert not got.changed
    assert pair(got) == (POLICY_V1, SIG_V1)
    assert got.fetched_at == NOW

    offline = cached(url, cache, allow_loopback_http=True)
    assert offline.error is None
    assert pair(offline) == (POLICY_V1, SIG_V1)
    assert offline.fetched_at == NOW


def test_cached_before_any_pull_offers_nothing(cache: Path) -> None:
    got = cached("https://policies.example.org/acme.yaml", cache)
    assert got.policy_path is None
    assert got.signature_path is None
    assert got.error == (
        "Policy source https://policies.example.org/acme.yaml has not been fetched yet."
    )


def test_a_server_error_on_the_first_pull_offers_nothing(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    served.site.failing.add("/p.yaml")
    got = get(url)
    assert got.error == (
        f"Policy source {url} could not be fetched: the server answered 500 Internal Server "
        "Error; there is no earlier copy to use."
    )
    assert got.policy_path is None
    assert got.fetched_at is None


# ---- backoff


def test_backoff_grows_after_failures_and_resets(served: Served, get: Get, cache: Path) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    assert due(url, cache, NOW, HOUR)  # never pulled
    get(url)
    assert not due(url, cache, NOW + timedelta(minutes=59), HOUR)
    assert due(url, cache, NOW + HOUR, HOUR)

    served.site.failing.add("/p.yaml")
    attempt = NOW + HOUR
    waits: list[timedelta] = []
    for _ in range(6):
        assert get(url, attempt).error
        wait = backoff(url, HOUR, len(waits) + 1)
        assert not due(url, cache, attempt + wait - timedelta(seconds=1), HOUR)
        assert due(url, cache, attempt + wait, HOUR)
        waits.append(wait)
        attempt += wait
    # Doubling (jitter included, since it is fixed per address) up to the one-day ceiling.
    second = timedelta(seconds=1)
    assert abs(waits[1] - 2 * waits[0]) <= second
    assert abs(waits[2] - 4 * waits[0]) <= 2 * second
    assert waits[0] > timedelta(hours=1.8)
    assert waits[-1] <= MAX_WAIT
    assert waits[-1] == waits[-2]  # 32 h and 64 h are both capped
    meta = json.loads((source_folder(url, cache) / "meta.json").read_text())
    assert meta["failures"] == 6

    served.site.failing.clear()
    got = get(url, attempt)
    assert got.error is None
    meta = json.loads((source_folder(url, cache) / "meta.json").read_text())
    assert meta["failures"] == 0
    assert not due(url, cache, attempt + timedelta(minutes=59), HOUR)
    assert due(url, cache, attempt + HOUR, HOUR)


def test_backoff_is_fixed_per_address_and_capped() -> None:
    one, other = "https://a.example/p.yaml", "https://b.example/p.yaml"
    assert backoff(one, HOUR, 0) == HOUR
    assert backoff(one, HOUR, 1) == backoff(one, HOUR, 1)
    assert backoff(one, HOUR, 1) != backoff(other, HOUR, 1)
    for url in (one, other):
        assert timedelta(hours=1.8) <= backoff(url, HOUR, 1) <= timedelta(hours=2)
    assert timedelta(hours=21.6) <= backoff(one, HOUR, 1000) <= MAX_WAIT
    # A schedule longer than a day is never made more frequent by failing.
    assert backoff(one, timedelta(days=7), 3) >= timedelta(days=7) * 0.9


def test_a_clock_set_back_makes_the_source_due(served: Served, get: Get, cache: Path) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    assert due(url, cache, NOW - timedelta(days=3), HOUR)


# ---- the signature travels with its policy


def test_no_signature_on_the_server_means_none_kept(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, None)
    got = get(url)
    assert got.error is None
    assert served.site.answers("/p.yaml.sig") == [404]
    assert got.signature_path is None
    assert pair(got) == (POLICY_V1, None)


def test_signature_fetch_failing_keeps_the_old_pair(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    publish(served, POLICY_V2, SIG_V2)
    served.site.failing.add("/p.yaml.sig")
    got = get(url, NOW + HOUR)
    assert got.error == (
        f"Policy source {url} changed but its signature could not be fetched (the server "
        "answered 500 Internal Server Error); the copy fetched at 2025-03-01 09:00 UTC is "
        "still used."
    )
    assert not got.changed
    assert pair(got) == (POLICY_V1, SIG_V1)

    # Once the signature can be had, the new policy comes: the failed attempt's ETag was
    # not kept, so the policy is fetched in full again rather than "not modified".
    served.site.failing.clear()
    got = get(url, NOW + 2 * HOUR)
    assert got.error is None
    assert pair(got) == (POLICY_V2, SIG_V2)


def test_a_policy_changed_without_its_signature_keeps_the_old_pair(
    served: Served, get: Get
) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    served.site.put("/p.yaml", POLICY_V2)  # the admin has not uploaded the new .sig yet
    got = get(url, NOW + HOUR)
    assert got.error is not None
    assert "its signature " + url + ".sig is still the old one" in got.error
    assert pair(got) == (POLICY_V1, SIG_V1)


def test_a_signed_source_whose_signature_vanishes_keeps_the_old_pair(
    served: Served, get: Get
) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    served.site.put("/p.yaml", POLICY_V2)
    del served.site.files["/p.yaml.sig"]
    got = get(url, NOW + HOUR)
    assert got.error is not None
    assert "is gone (the server answered 404 Not Found)" in got.error
    assert pair(got) == (POLICY_V1, SIG_V1)


def test_a_torn_copy_is_not_offered_and_is_fetched_again(
    served: Served, get: Get, cache: Path
) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    first = get(url)
    assert first.policy_path is not None
    first.policy_path.write_bytes(POLICY_V2)  # as if a write had been cut short
    torn = cached(url, cache, allow_loopback_http=True)
    assert torn.policy_path is None
    assert torn.error is not None
    assert "incomplete" in torn.error
    again = get(url, NOW + HOUR)
    assert served.site.last("/p.yaml").if_none_match is None
    assert again.error is None
    assert pair(again) == (POLICY_V1, SIG_V1)


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"url": 7}', b"\x00" * 64])
def test_a_damaged_pull_record_is_moved_aside_once_and_the_source_pulled_afresh(
    served: Served, get: Get, cache: Path, caplog: pytest.LogCaptureFixture, damage: bytes
) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    (meta,) = cache.glob("*/meta.json")
    meta.write_bytes(damage)
    with caplog.at_level("WARNING", logger="agent.sources"):
        first = cached(url, cache, allow_loopback_http=True)
        second = cached(url, cache, allow_loopback_http=True)
    assert first.policy_path is None and second.policy_path is None
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1, said
    assert "was damaged, so it was moved to" in said[0]
    (aside,) = meta.parent.glob("meta.json.damaged-*")
    assert aside.read_bytes() == damage
    again = get(url, NOW + HOUR)
    assert again.error is None
    assert pair(again) == (POLICY_V1, SIG_V1)


# ---- what is refused


@pytest.mark.parametrize(
    "url",
    ["http://example.org/acme.yaml", "http://127.0.0.1:9/acme.yaml", "HTTP://example.org/x"],
)
def test_http_is_refused(url: str, cache: Path) -> None:
    got = pull(url, cache, NOW, deadline=1.0)
    assert got.error is not None
    assert got.error.endswith(
        "was refused: policy must not travel in clear, so only https:// and file:// sources "
        "are fetched."
    )
    assert got.policy_path is None
    assert not cache.exists()  # refused before anything was made or asked


def test_http_to_a_named_host_is_refused_even_for_tests(cache: Path) -> None:
    got = pull("http://example.org/acme.yaml", cache, NOW, deadline=5.0, allow_loopback_http=True)
    assert got.error is not None
    assert "policy must not travel in clear" in got.error


def test_other_schemes_are_refused(cache: Path) -> None:
    got = pull("ftp://example.org/acme.yaml", cache, NOW, deadline=5.0)
    assert got.error == (
        "Policy source ftp://example.org/acme.yaml was refused: only https:// and file:// "
        "sources are fetched."
    )


def test_a_redirect_to_http_is_refused(served: Served, get: Get) -> None:
    served.site.redirects["/moved.yaml"] = "http://example.org/acme.yaml"
    got = get(served.url("/moved.yaml"))
    assert got.error == (
        f"Policy source {served.url('/moved.yaml')} could not be fetched: it redirects to "
        "http://example.org/acme.yaml, and redirects are followed only to https:// "
        "addresses; there is no earlier copy to use."
    )


def test_a_redirect_is_followed_where_allowed(served: Served, get: Get) -> None:
    publish(served, POLICY_V1, SIG_V1)
    served.site.redirects["/moved.yaml"] = served.url("/p.yaml")
    served.site.redirects["/moved.yaml.sig"] = served.url("/p.yaml.sig")
    got = get(served.url("/moved.yaml"))
    assert got.error is None
    assert pair(got) == (POLICY_V1, SIG_V1)


@pytest.mark.parametrize("how", ["declared", "streamed"])
def test_an_oversized_policy_is_refused_and_the_copy_kept(
    served: Served, get: Get, how: str
) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url)
    if how == "declared":
        served.site.put("/p.yaml", b"#" * (MAX_BYTES + 1))
    else:
        served.site.flooding.add("/p.yaml")
    got = get(url, NOW + HOUR)
    assert got.error == (
        f"Policy source {url} could not be fetched: it is larger than 1 MiB; the copy "
        "fetched at 2025-03-01 09:00 UTC is still used."
    )
    assert pair(got) == (POLICY_V1, SIG_V1)


def test_a_silent_server_times_out(served: Served, get: Get) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    served.site.slow.add("/p.yaml")
    started = time.monotonic()
    got = get(url, deadline=0.5)
    assert time.monotonic() - started < 3
    assert got.error == (
        f"Policy source {url} could not be fetched: no answer within 0.5 seconds; there is "
        "no earlier copy to use."
    )


def test_a_trickling_server_cannot_hold_the_agent(served: Served, get: Get) -> None:
    url = publish(served, b"#" * 100, None)
    served.site.dripping.add("/p.yaml")  # a byte every 0.1 s: 10 s in all
    started = time.monotonic()
    got = get(url, deadline=0.5)
    assert time.monotonic() - started < 3
    assert got.error is not None
    assert "the whole file did not arrive within 0.5 seconds" in got.error


def test_an_unknown_host_is_one_sentence(cache: Path) -> None:
    url = "https://policies.example.invalid/acme.yaml"
    got = pull(url, cache, NOW, deadline=5.0)
    assert got.error == (
        f"Policy source {url} could not be fetched: the name policies.example.invalid could "
        "not be found; there is no earlier copy to use."
    )


def test_credentials_and_query_are_used_but_never_shown(
    served: Served, get: Get, cache: Path
) -> None:
    publish(served, POLICY_V1, SIG_V1)
    url = served.url("/p.yaml?token=hunter2").replace("//", "//ann:s3cret@", 1)
    got = get(url)
    assert got.error is None
    assert served.site.last("/p.yaml").authorization == "Basic YW5uOnMzY3JldA=="
    assert served.site.last("/p.yaml.sig").authorization == "Basic YW5uOnMzY3JldA=="

    served.site.failing.add("/p.yaml")
    failed = get(url, NOW + HOUR)
    assert failed.error == (
        f"Policy source {served.url('/p.yaml')}?(query hidden) could not be fetched: the "
        "server answered 500 Internal Server Error; the copy fetched at 2025-03-01 09:00 UTC "
        "is still used."
    )
    meta = (source_folder(url, cache) / "meta.json").read_text()
    for told in (failed.error, repr(failed), meta):
        assert "s3cret" not in told
        assert "hunter2" not in told


def test_credentials_do_not_follow_a_redirect(served: Served, get: Get) -> None:
    publish(served, POLICY_V1, SIG_V1)
    served.site.redirects["/moved.yaml"] = served.url("/p.yaml")
    served.site.redirects["/moved.yaml.sig"] = served.url("/p.yaml.sig")
    url = served.url("/moved.yaml").replace("//", "//ann:s3cret@", 1)
    got = get(url)
    assert got.error is None
    assert served.site.last("/moved.yaml").authorization is not None
    assert served.site.last("/p.yaml").authorization is None


# ---- file:// sources


def test_a_file_source(tmp_path: Path, get: Get) -> None:
    source = tmp_path / "admin share" / "acme.yaml"
    source.parent.mkdir()
    source.write_bytes(POLICY_V1)
    source.with_name("acme.yaml.sig").write_bytes(SIG_V1)
    url = source.as_uri()
    first = get(url)
    assert first.error is None
    assert first.changed
    assert pair(first) == (POLICY_V1, SIG_V1)
    assert first.policy_path != source  # a copy in the cache, not the share itself

    again = get(url, NOW + HOUR)
    assert again.error is None
    assert not again.changed

    source.write_bytes(POLICY_V2)
    source.with_name("acme.yaml.sig").write_bytes(SIG_V2)
    changed = get(url, NOW + 2 * HOUR)
    assert changed.changed
    assert pair(changed) == (POLICY_V2, SIG_V2)

    source.unlink()
    gone = get(url, NOW + 3 * HOUR)
    assert gone.error is not None
    assert gone.error.startswith(f"Policy source {url} could not be fetched: there is no such")
    assert pair(gone) == (POLICY_V2, SIG_V2)


def test_a_file_source_is_bounded_like_any_other(tmp_path: Path, get: Get) -> None:
    source = tmp_path / "acme.yaml"
    source.write_bytes(b"#" * (MAX_BYTES + 1))
    got = get(source.as_uri())
    assert got.error is not None
    assert "it is larger than 1 MiB" in got.error
    assert got.policy_path is None


def test_a_file_source_must_be_on_this_computer(cache: Path) -> None:
    got = pull("file://fileserver/share/acme.yaml", cache, NOW, deadline=5.0)
    assert got.error == (
        "Policy source file://fileserver/share/acme.yaml was refused: a file:// source must "
        "be on this computer."
    )


# ---- what is kept, and how


def test_the_cache_is_private(served: Served, get: Get, cache: Path) -> None:
    url = publish(served, POLICY_V1, SIG_V1)
    get(url, every=HOUR)
    folder = source_folder(url, cache)
    assert folder.name == hashlib.sha256(url.encode()).hexdigest()[:16]
    for path in (cache, folder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    kept = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert kept == ["meta.json", "policy.yaml", "policy.yaml.sig"]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["url"] == url
    assert meta["etag"] == served.site.etag("/p.yaml")
    assert meta["last_modified"] == served.site.last_modified("/p.yaml")
    assert meta["fetched_at"] == NOW.isoformat()
    assert meta["last_attempt"] == NOW.isoformat()
    assert meta["next_attempt"] == (NOW + HOUR).isoformat()
    assert meta["failures"] == 0


# ---- TLS: the system's trust, nothing else


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    openssl = require_tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(site))
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    running = serve(site, server, "https")
    yield running, cert
    running.close()


def test_a_self_signed_server_is_refused(self_signed: tuple[Served, Path], cache: Path) -> None:
    served, cert = self_signed
    url = publish(served, POLICY_V1, SIG_V1)
    got = pull(url, cache, NOW, deadline=5.0)
    # OpenSSL 3 says "self-signed certificate", 1.1 "self signed certificate".
    assert got.error is not None
    assert got.error.startswith(
        f"Policy source {url} could not be fetched: its TLS certificate is not trusted by "
        "this system (self"
    )
    assert got.error.endswith("signed certificate); there is no earlier copy to use.")
    assert got.policy_path is None
    # The server itself works: trusting its certificate explicitly, the same request succeeds.
    trusting = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(url, context=trusting, timeout=5) as answer:  # noqa: S310
        assert answer.read() == POLICY_V1
