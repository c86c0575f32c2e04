"""Policy sources: admin policies pulled from https:// or file:// addresses, and the copies kept.

An admin file may name `sources:`; the background agent pulls each one on its schedule with
`pull`, and reading a policy takes the last good copy with `cached`, never waiting on a
network. Checking the signature is not done here (agent.admin_layers does it): this module
only guarantees that a policy and its detached signature (the address + ".sig") are kept as
a pair, so a new policy is never offered beside the signature of an older one.

Kept under the cache folder the caller names (<state>/sources), one folder per source named
by the first 16 hex digits of the SHA-256 of its address:
    policy.yaml       the policy's bytes as fetched
    policy.yaml.sig   its detached signature, when the source has one
    meta.json         validators (ETag, Last-Modified), the SHA-256 of both files, when it
                      was fetched, and the failures that set the backoff
meta.json is written last and is what commits a pair: a copy whose bytes do not match the
hashes in it (a write cut short) is not offered, and is fetched again in full.

Nothing here raises for a network or disk problem: a `Pulled` carries one sentence instead,
naming the source without its credentials or query, and the copy kept before, if any.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import logging
import os
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any

from agent import __version__
from agent.files import (
    FileTooLarge,
    NotRegularFile,
    ensure_private_dir,
    json_value,
    read_small_file,
    set_aside,
    write_whole,
)
from agent.http_deadline import Deadline
from agent.http_deadline import handlers as deadline_handlers
from agent.text import printable

log = logging.getLogger(__name__)

if sys.platform != "win32":
    import fcntl

MAX_BYTES = 1024 * 1024
# As many as a policy may name (sources.urls), so that every source is pulled within one
# deadline: a pull spends its time waiting on the network, not on a core.
PARALLEL_PULLS = 20
MAX_WAIT = timedelta(hours=24)
JITTER = 0.1  # backoff waits are shortened by up to this fraction, fixed per address
POLICY_FILE = "policy.yaml"
SIGNATURE_FILE = "policy.yaml.sig"
META_FILE = "meta.json"
LOCK_FILE = ".lock"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
USER_AGENT = f"hygiene-agent/{__version__}"

_META_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_TOO_LARGE = "it is larger than 1 MiB"
_GRACE = 5.0  # seconds pull_each waits beyond the deadlines: writing the copy takes time too


@dataclass(frozen=True, repr=False)
class Pulled:
    """What is known of one source after a pull, or from the cache alone."""

    url: str  # as the policy names it; may hold credentials, so repr() shows the safe form
    policy_path: Path | None  # the cached copy, present after any success
    signature_path: Path | None  # its detached signature, when the source has one
    changed: bool  # the pair kept differs from the one kept before this pull
    error: str | None  # one sentence, naming the source without credentials or query
    fetched_at: datetime | None  # when the source last answered with the copy kept

    def __repr__(self) -> str:
        return (
            f"Pulled(url={shown_url(self.url)!r}, policy_path={self.policy_path!r}, "
            f"signature_path={self.signature_path!r}, changed={self.changed!r}, "
            f"error={self.error!r}, fetched_at={self.fetched_at!r})"
        )


def pull(
    url: str,
    cache: Path,
    now: datetime,
    *,
    deadline: float,
    every: timedelta | None = None,
    allow_loopback_http: bool = False,
) -> Pulled:
    """Ask the source for a newer copy (conditional GET), keep it with its signature, and say
    what is in the cache now, all within `deadline` seconds: waiting for another pull of the
    same source, connecting, TLS, the policy and its signature together. `every`, when
    given, only sets meta.json's next_attempt for a person reading it; `due` decides.
    `allow_loopback_http` is for tests."""
    limit = Deadline.after(deadline)
    now = _utc(now)
    target = _target(url, allow_loopback_http)
    if isinstance(target, str):
        return Pulled(url, None, None, changed=False, error=target, fetched_at=None)
    folder = source_folder(url, cache)
    try:
        ensure_private_dir(cache)
        ensure_private_dir(folder)
    except OSError as err:
        sentence = f"Policy source {shown_url(url)} cannot be kept in {cache}: {_os_reason(err)}."
        return Pulled(url, None, None, changed=False, error=sentence, fetched_at=None)
    with _exclusive(folder, limit) as locked:
        if not locked:
            why = f"another pull of it did not end within {deadline:g} seconds"
            return _not_pulled(url, cache, why, allow_loopback_http=allow_loopback_http)
        return _pull_locked(url, target, folder, now, deadline=limit, every=every)


def pull_each(
    urls: Sequence[str],
    cache: Path,
    now: datetime,
    *,
    deadline: float,
    every: timedelta | None = None,
) -> dict[str, Pulled]:
    """`pull` for each source side by side, at most PARALLEL_PULLS at once, so that a source
    that does not answer delays no other. Returns within one deadline for each
    PARALLEL_PULLS sources (plus a little): a pull still running then (a disk that hangs;
    the network cannot, see agent.http_deadline) is left to finish on its own, and said."""
    slots = threading.BoundedSemaphore(PARALLEL_PULLS)
    done: dict[str, Pulled] = {}

    def one(url: str) -> None:
        with slots:
            done[url] = pull(url, cache, now, deadline=deadline, every=every)

    workers = [
        threading.Thread(target=one, args=(url,), name="pull", daemon=True)
        for url in dict.fromkeys(urls)
    ]
    for worker in workers:
        worker.start()
    rounds = -(-len(workers) // PARALLEL_PULLS)
    give_up = time.monotonic() + rounds * deadline + _GRACE
    for worker in workers:
        worker.join(max(0.0, give_up - time.monotonic()))
    late = f"the pull did not end within {deadline:g} seconds and was left to finish on its own"
    return {
        url: done.get(url) or _not_pulled(url, cache, late, allow_loopback_http=False)
        for url in dict.fromkeys(urls)
    }


def _not_pulled(url: str, cache: Path, why: str, *, allow_loopback_http: bool) -> Pulled:
    """The kept copy, with the sentence saying why this pull did not happen."""
    copy = cached(url, cache, allow_loopback_http=allow_loopback_http)
    kept = _kept_note(copy.fetched_at, copy.policy_path is not None)
    error = f"Policy source {shown_url(url)} was not pulled: {why}; {kept}."
    return dataclasses.replace(copy, changed=False, error=error)


def cached(url: str, cache: Path, *, allow_loopback_http: bool = False) -> Pulled:
    """The copy kept from the last successful pull, without touching the network."""
    shown = shown_url(url)
    refusal = _target(url, allow_loopback_http)
    if isinstance(refusal, str):
        return Pulled(url, None, None, changed=False, error=refusal, fetched_at=None)
    folder = source_folder(url, cache)
    meta = _read_meta(folder)
    if meta is None or meta.policy_sha256 is None:
        error = f"Policy source {shown} has not been fetched yet."
        return Pulled(url, None, None, changed=False, error=error, fetched_at=None)
    pair = _kept(folder, meta)
    if pair is None:
        error = (
            f"The kept copy of policy source {shown} is incomplete (a write was cut short); "
            "it will be fetched again."
        )
        return Pulled(url, None, None, changed=False, error=error, fetched_at=None)
    return _offered(url, folder, pair, changed=False, error=None, fetched_at=meta.fetched_at)


def due(url: str, cache: Path, now: datetime, every: timedelta) -> bool:
    """Whether the source should be pulled now: `every` after the last attempt, or after the
    backoff when the last attempts failed."""
    meta = _read_meta(source_folder(url, cache))
    if meta is None or meta.last_attempt is None:
        return True
    now = _utc(now)
    if meta.last_attempt > now:
        return True  # the clock was set back: waiting for it to catch up could take days
    return now >= meta.last_attempt + backoff(url, every, meta.failures)


def backoff(url: str, every: timedelta, failures: int) -> timedelta:
    """The wait before the next pull: `every`, doubled by each failure in a row, at most a
    day (or `every`, when that is longer), shortened by a fraction fixed per address so that
    sources failing together do not come back together."""
    if failures <= 0:
        return every
    ceiling = max(MAX_WAIT, every).total_seconds()
    grown = min(every.total_seconds() * 2.0 ** min(failures, 64), ceiling)
    digest = hashlib.sha256(b"backoff\x1f" + _utf8(url)).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=round(grown * (1.0 - JITTER * fraction)))


def source_folder(url: str, cache: Path) -> Path:
    return cache / hashlib.sha256(_utf8(url)).hexdigest()[:16]


def shown_url(url: str) -> str:
    """The address as it may be shown and logged: no user name or password, no query (it may
    hold a token), control characters escaped."""
    if not url.strip():
        return "(an empty address)"
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = _netloc(parts)
    except ValueError:
        scheme = url.split(":", 1)[0] if ":" in url else ""
        return printable(f"{scheme[:10]}: (an address that cannot be read)")
    hidden = "?(query hidden)" if parts.query else ""
    text = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")) + hidden
    return printable(text if len(text) <= 200 else text[:200] + "...")


# ---- where a source is fetched from


@dataclass(frozen=True)
class _Target:
    address: str  # the policy's address, without credentials (a file's path for file://)
    signature: str  # its signature's address (or path)
    host: str  # for sentences: "example.org:8443"; "" for a file
    authorization: str | None  # Basic credentials from the address, sent to that host only
    local: bool  # a file:// source, read directly
    allow_loopback_http: bool


def _target(url: str, allow_loopback_http: bool) -> _Target | str:
    """Where to fetch `url` from, or the sentence that refuses it."""
    shown = shown_url(url)
    unusable = f"Policy source {shown} is not an address the agent can use."
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = _netloc(parts)
    except ValueError:
        return unusable
    scheme = parts.scheme.lower()
    if scheme == "file":
        if netloc not in ("", "localhost"):
            return f"Policy source {shown} was refused: a file:// source must be on this computer."
        path = Path(urllib.request.url2pathname(parts.path))
        if not parts.path or not path.is_absolute():
            return unusable
        signature = path.with_name(path.name + ".sig")
        return _Target(str(path), str(signature), "", None, local=True, allow_loopback_http=False)
    if scheme == "http" and not (allow_loopback_http and parts.hostname in LOOPBACK):
        return (
            f"Policy source {shown} was refused: policy must not travel in clear, so only "
            "https:// and file:// sources are fetched."
        )
    if scheme not in ("https", "http"):
        return f"Policy source {shown} was refused: only https:// and file:// sources are fetched."
    if not parts.hostname:
        return unusable
    authorization = None
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    rest = (parts.path or "/", parts.query, "")
    return _Target(
        address=urllib.parse.urlunsplit((scheme, netloc, *rest)),
        signature=urllib.parse.urlunsplit((scheme, netloc, rest[0] + ".sig", *rest[1:])),
        host=netloc,
        authorization=authorization,
        local=False,
        allow_loopback_http=allow_loopback_http,
    )


def _netloc(parts: urllib.parse.SplitResult) -> str:
    """The host and port alone (no credentials); ValueError for a port that is not one."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    return host if port is None else f"{host}:{port}"


# ---- one fetch: the policy or its signature


@dataclass(frozen=True)
class _Got:
    data: bytes
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class _NotModified:
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class _Missing:
    reason: str


@dataclass(frozen=True)
class _Failed:
    reason: str


_Answer = _Got | _NotModified | _Missing | _Failed


@dataclass(frozen=True)
class _Validators:
    etag: str | None
    last_modified: str | None


class _Refused(Exception):
    """A redirect to somewhere a policy may not come from."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Redirects followed only to https:// (or loopback http:// when the caller allows it)."""

    def __init__(self, allow_loopback_http: bool) -> None:
        super().__init__()
        self._allow_loopback_http = allow_loopback_http

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            parts = urllib.parse.urlsplit(newurl)
            host = parts.hostname
        except ValueError:
            parts, host = None, None
        scheme = parts.scheme.lower() if parts else ""
        loopback = self._allow_loopback_http and scheme == "http" and host in LOOPBACK
        if scheme != "https" and not loopback:
            fp.close()
            raise _Refused(
                f"it redirects to {shown_url(newurl)}, and redirects are followed only to "
                "https:// addresses"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(target: _Target, address: str, since: _Validators | None, deadline: Deadline) -> _Answer:
    if target.local:
        return _read_file(Path(address))
    return _fetch_http(target, address, since, deadline)


def _read_file(path: Path) -> _Answer:
    try:
        data = read_small_file(path, MAX_BYTES)
    except FileNotFoundError:
        return _Missing("there is no such file")
    except FileTooLarge:
        return _Failed(_TOO_LARGE)
    except IsADirectoryError:
        return _Failed("it is a folder, not a file")
    except NotRegularFile:
        return _Failed("it is not a regular file")
    except OSError as err:
        return _Failed(_os_reason(err))
    return _Got(data, None, None)


def _fetch_http(
    target: _Target, address: str, since: _Validators | None, deadline: Deadline
) -> _Answer:
    # The scheme was checked by _target, and redirects by _Redirects.
    request = urllib.request.Request(address, headers={"User-Agent": USER_AGENT})  # noqa: S310
    if target.authorization:
        # Unredirected: the credentials go to the host the admin named, never to another.
        request.add_unredirected_header("Authorization", target.authorization)
    if since and since.etag:
        request.add_header("If-None-Match", since.etag)
    if since and since.last_modified:
        request.add_header("If-Modified-Since", since.last_modified)
    try:
        opener = _opener(target.allow_loopback_http, deadline)
        # The timeout urllib takes is per operation; the deadline is what bounds the whole.
        with opener.open(request, timeout=deadline.left()) as response:
            if response.status != HTTPStatus.OK:
                return _Failed(_answered(response.status))
            body = _read_body(response, deadline)
            if isinstance(body, _Failed):
                return body
            headers = response.headers
            return _Got(body, _validator(headers, "ETag"), _validator(headers, "Last-Modified"))
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == HTTPStatus.NOT_MODIFIED:
            headers = err.headers
            return _NotModified(_validator(headers, "ETag"), _validator(headers, "Last-Modified"))
        if err.code in (HTTPStatus.NOT_FOUND, HTTPStatus.GONE):
            return _Missing(_answered(err.code))
        if 300 <= err.code < 400:
            return _Failed("it redirects to an address the agent does not follow")
        return _Failed(_answered(err.code))
    except _Refused as err:
        return _Failed(err.reason)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        return _Failed(_network_reason(err, target.host, deadline))


def _opener(allow_loopback_http: bool, deadline: Deadline) -> urllib.request.OpenerDirector:
    """Only what a policy fetch needs: no file://, ftp:// or data: handlers behind a redirect,
    and every connection (redirects too) bound by the pull's one deadline."""
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        *deadline_handlers(deadline, ssl.create_default_context()),
        _Redirects(allow_loopback_http),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def _read_body(response: http.client.HTTPResponse, deadline: Deadline) -> bytes | _Failed:
    declared = (response.headers.get("Content-Length") or "").strip()
    if declared.isdigit() and int(declared) > MAX_BYTES:
        return _Failed(_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    try:
        # Each receive ends by the deadline (the socket's, see agent.http_deadline).
        while chunk := response.read1(_CHUNK):
            size += len(chunk)
            if size > MAX_BYTES:
                return _Failed(_TOO_LARGE)
            chunks.append(chunk)
    except TimeoutError:
        return _Failed(f"the whole file did not arrive within {deadline.seconds:g} seconds")
    if declared.isdigit() and size != int(declared):
        return _Failed("the connection broke off before the whole file arrived")
    return b"".join(chunks)


def _validator(headers: Message | None, name: str) -> str | None:
    """A validator header worth sending back: short printable ASCII only, since it is kept
    and later written into a request."""
    value = headers.get(name) if headers is not None else None
    if not isinstance(value, str) or not value or len(value) > 256:
        return None
    if not value.isascii() or not value.isprintable():
        return None
    return value


def _answered(code: int) -> str:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"the server answered {code} {phrase}".rstrip()


def _network_reason(err: BaseException, host: str, deadline: Deadline) -> str:
    if isinstance(err, urllib.error.URLError):
        if not isinstance(err.reason, BaseException):
            return printable(str(err.reason))[:200] or "the request failed"
        err = err.reason
    if isinstance(err, ssl.SSLCertVerificationError):
        detail = f" ({printable(err.verify_message)})" if err.verify_message else ""
        return f"its TLS certificate is not trusted by this system{detail}"
    if isinstance(err, ssl.SSLError):
        detail = (err.reason or "").replace("_", " ").lower() or "no detail"
        return f"the TLS handshake with {host} failed ({printable(detail)})"
    if isinstance(err, TimeoutError):
        return f"no answer within {deadline.seconds:g} seconds"
    if isinstance(err, socket.gaierror):
        return f"the name {host.rsplit(':', 1)[0] if ':' in host else host} could not be found"
    if isinstance(err, ConnectionRefusedError):
        return f"{host} refused the connection (is the server down?)"
    if isinstance(err, (ConnectionError, http.client.IncompleteRead)):
        return "the connection broke off before the whole file arrived"
    if isinstance(err, http.client.InvalidURL):
        return "the address cannot be used"
    if isinstance(err, http.client.HTTPException):
        return "the server's answer could not be read"
    if isinstance(err, OSError):
        return _os_reason(err)
    return "the address cannot be used"


def _os_reason(err: OSError) -> str:
    reason = (err.strerror or str(err) or "an unknown error").rstrip(".")
    return reason[:1].lower() + reason[1:]


# ---- the cache


@dataclass(frozen=True)
class _Meta:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    signature_etag: str | None = None
    signature_last_modified: str | None = None
    policy_sha256: str | None = None
    signature_sha256: str | None = None
    fetched_at: datetime | None = None
    changed_at: datetime | None = None
    last_attempt: datetime | None = None
    failures: int = 0
    next_attempt: datetime | None = None
    last_error: str | None = None


_TIMES = ("fetched_at", "changed_at", "last_attempt", "next_attempt")


@dataclass(frozen=True)
class _Pair:
    policy: bytes
    signature: bytes | None


def _read_meta(folder: Path) -> _Meta | None:
    """meta.json, or None when it is absent or not what this module writes; a damaged one
    is moved aside with one warning (the next pull writes a fresh one)."""
    path = folder / META_FILE
    try:
        raw: Any = json_value(read_small_file(path, _META_LIMIT))
    except FileNotFoundError:
        return None
    except (ValueError, NotRegularFile, FileTooLarge, IsADirectoryError):
        raw = None
    except OSError:
        return None  # unreadable now (permissions): nothing to set aside
    if not isinstance(raw, dict) or not isinstance(raw.get("url"), str):
        try:
            aside = set_aside(path, "damaged")
        except OSError:
            return None
        log.warning(
            "the record of a policy source's last pull, %s, was damaged, so it was moved to "
            "%s; the source is pulled afresh",
            path,
            aside,
        )
        return None
    values: dict[str, Any] = {}
    for item in dataclasses.fields(_Meta):
        value = raw.get(item.name)
        if item.name == "failures":
            values[item.name] = value if type(value) is int and value >= 0 else 0
        elif item.name in _TIMES:
            values[item.name] = _parse_time(value)
        else:
            values[item.name] = value if isinstance(value, str) else None
    return _Meta(**values)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def _write_meta(folder: Path, meta: _Meta) -> None:
    data = {item.name: getattr(meta, item.name) for item in dataclasses.fields(_Meta)}
    for name in _TIMES:
        when = data[name]
        data[name] = when.isoformat() if isinstance(when, datetime) else None
    _write_atomic(folder / META_FILE, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _kept(folder: Path, meta: _Meta | None) -> _Pair | None:
    """The pair meta.json vouches for, or None when there is none or the files disagree."""
    if meta is None or meta.policy_sha256 is None:
        return None
    try:
        policy = read_small_file(folder / POLICY_FILE, MAX_BYTES)
        try:
            signature: bytes | None = read_small_file(folder / SIGNATURE_FILE, MAX_BYTES)
        except FileNotFoundError:
            signature = None
    except OSError:
        return None
    if _sha256(policy) != meta.policy_sha256:
        return None
    if (None if signature is None else _sha256(signature)) != meta.signature_sha256:
        return None
    return _Pair(policy, signature)


def _store(folder: Path, pair: _Pair) -> None:
    """Both files; meta.json, written after, is what makes them the kept pair."""
    signature = folder / SIGNATURE_FILE
    if pair.signature is None:
        signature.unlink(missing_ok=True)
    else:
        _write_atomic(signature, pair.signature)
    _write_atomic(folder / POLICY_FILE, pair.policy)


def _write_atomic(path: Path, data: bytes) -> None:
    write_whole(path, data, 0o600)


@contextlib.contextmanager
def _exclusive(folder: Path, deadline: Deadline) -> Iterator[bool]:
    """One pull of a source at a time (the agent and a command may both pull), waited for
    until the deadline (False: another pull still holds it). On Windows, or when the lock
    file cannot be used, meta.json's hashes still keep a torn pair from use."""
    fd: int | None = None
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            # Non-blocking: a FIFO put where the lock file goes must not hold the pull.
            flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(folder / LOCK_FILE, flags, 0o600)
    try:
        yield fd is None or _lock(fd, deadline)
    finally:
        if fd is not None:
            os.close(fd)


def _lock(fd: int, deadline: Deadline) -> bool:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                time.sleep(min(0.05, deadline.left()))
            except TimeoutError:
                return False
        except OSError:
            return True  # no lock to be had here (see _exclusive)
        else:
            return True


# ---- a pull


def _pull_locked(
    url: str,
    target: _Target,
    folder: Path,
    now: datetime,
    *,
    deadline: Deadline,
    every: timedelta | None,
) -> Pulled:
    shown = shown_url(url)
    meta = _read_meta(folder)
    kept = _kept(folder, meta)
    if meta is None or kept is None:
        # Nothing to compare with: validators would only earn a 304 for bytes not on disk.
        meta = _Meta(url=shown, failures=meta.failures if meta else 0)
    meta = dataclasses.replace(meta, url=shown)
    outcome = _next_pair(target, shown, kept, meta, deadline)
    if isinstance(outcome, str):
        error = f"{outcome}; {_kept_note(meta.fetched_at, kept is not None)}."
        failures = meta.failures + 1
        # The validators stay those of the kept pair, whatever this attempt was told.
        failed = dataclasses.replace(
            meta,
            last_attempt=now,
            failures=failures,
            next_attempt=now + backoff(url, every, failures) if every else None,
            last_error=error,
        )
        with contextlib.suppress(OSError):
            _write_meta(folder, failed)
        if kept is None:
            return Pulled(url, None, None, changed=False, error=error, fetched_at=None)
        return _offered(url, folder, kept, changed=False, error=error, fetched_at=meta.fetched_at)
    pair, validated = outcome
    changed = pair != kept
    done = dataclasses.replace(
        validated,
        policy_sha256=_sha256(pair.policy),
        signature_sha256=None if pair.signature is None else _sha256(pair.signature),
        fetched_at=now,
        changed_at=now if changed else meta.changed_at,
        last_attempt=now,
        failures=0,
        next_attempt=now + every if every else None,
        last_error=None,
    )
    try:
        if changed:
            _store(folder, pair)
        _write_meta(folder, done)
    except OSError as err:
        error = (
            f"Policy source {shown} was fetched but could not be kept in {folder}: "
            f"{_os_reason(err)}."
        )
        # What is on disk now decides what is offered: the old pair, or nothing if torn.
        left = _kept(folder, _read_meta(folder))
        if left is None:
            return Pulled(url, None, None, changed=False, error=error, fetched_at=None)
        return _offered(url, folder, left, changed=False, error=error, fetched_at=meta.fetched_at)
    return _offered(url, folder, pair, changed=changed, error=None, fetched_at=now)


_NO_COPY = "the server answered 304 Not Modified to a request that had no copy to compare"


def _next_pair(
    target: _Target, shown: str, kept: _Pair | None, meta: _Meta, deadline: Deadline
) -> tuple[_Pair, _Meta] | str:
    """The pair to keep after asking the source, with the validators to keep beside it, or
    the sentence saying why the kept pair stays."""
    since = _Validators(meta.etag, meta.last_modified) if kept else None
    body = _fetch(target, target.address, since, deadline)
    if isinstance(body, (_Failed, _Missing)):
        return f"Policy source {shown} could not be fetched: {body.reason}"
    if isinstance(body, _NotModified):
        meta = dataclasses.replace(
            meta,
            etag=body.etag or meta.etag,
            last_modified=body.last_modified or meta.last_modified,
        )
    else:
        meta = dataclasses.replace(meta, etag=body.etag, last_modified=body.last_modified)
    if kept is not None and not (isinstance(body, _Got) and body.data != kept.policy):
        return _same_policy(target, shown, kept, meta, deadline)
    if isinstance(body, _Got):
        if not _a_policy(body.data):
            # Kept, the bytes would be a copy of whatever the address names (a file:// to
            # someone's .netrc, /proc/self/environ): only a policy document is ever kept.
            return (
                f"Policy source {shown} did not send a policy file (YAML text with `schema:` "
                "at its top); nothing of it was kept"
            )
        return _new_policy(target, shown, kept, body.data, meta, deadline=deadline)
    return f"Policy source {shown} could not be fetched: {_NO_COPY}"


def _a_policy(data: bytes) -> bool:
    """Whether `data` reads as a policy document: plain YAML, a mapping that names its
    schema. Whether it is a valid one is the gate's to say (agent.admin_layers)."""
    from agent.errors import PolicyError  # noqa: PLC0415 - only when something was pulled
    from agent.policy_yaml import read_plain  # noqa: PLC0415

    if b"\x00" in data:
        return False
    try:
        document = read_plain(data.decode("utf-8"), "pulled")
    except (UnicodeDecodeError, PolicyError):
        return False
    return isinstance(document, dict) and "schema" in document


def _same_policy(
    target: _Target, shown: str, kept: _Pair, meta: _Meta, deadline: Deadline
) -> tuple[_Pair, _Meta] | str:
    """The policy did not change: only a new signature for the same bytes can."""
    since = _Validators(meta.signature_etag, meta.signature_last_modified)
    signature = _fetch(target, target.signature, since if kept.signature else None, deadline)
    problem = f"The signature of policy source {shown} could not be fetched"
    if isinstance(signature, _Failed):
        return f"{problem}: {signature.reason}"
    if isinstance(signature, _Missing):
        # A signature gone from an unchanged policy: the one kept still signs these bytes.
        return kept, meta
    if isinstance(signature, _NotModified):
        if kept.signature is None:
            return f"{problem}: {_NO_COPY}"
        return kept, dataclasses.replace(
            meta,
            signature_etag=signature.etag or meta.signature_etag,
            signature_last_modified=signature.last_modified or meta.signature_last_modified,
        )
    meta = dataclasses.replace(
        meta, signature_etag=signature.etag, signature_last_modified=signature.last_modified
    )
    return _Pair(kept.policy, signature.data), meta


def _new_policy(
    target: _Target,
    shown: str,
    kept: _Pair | None,
    policy: bytes,
    meta: _Meta,
    *,
    deadline: Deadline,
) -> tuple[_Pair, _Meta] | str:
    """The policy changed: it is kept only with a signature fetched now, never the old one."""
    signature = _fetch(target, target.signature, None, deadline)
    signed_before = kept is not None and kept.signature is not None
    sig_shown = f"{shown}.sig" if target.local else shown_url(target.signature)
    unfetched = f"Policy source {shown} changed but its signature could not be fetched"
    if isinstance(signature, _Failed):
        return f"{unfetched} ({signature.reason})"
    if isinstance(signature, _NotModified):
        return f"{unfetched} ({_NO_COPY})"
    if isinstance(signature, _Missing):
        if signed_before:
            # Taking an unsigned policy in place of a signed one would be a downgrade.
            return (
                f"Policy source {shown} changed but its signature {sig_shown} is gone "
                f"({signature.reason})"
            )
        meta = dataclasses.replace(meta, signature_etag=None, signature_last_modified=None)
        return _Pair(policy, None), meta
    if kept is not None and signature.data == kept.signature:
        return (
            f"Policy source {shown} changed but its signature {sig_shown} is still the old "
            "one (the new signature may not be uploaded yet)"
        )
    meta = dataclasses.replace(
        meta, signature_etag=signature.etag, signature_last_modified=signature.last_modified
    )
    return _Pair(policy, signature.data), meta


def _offered(
    url: str,
    folder: Path,
    pair: _Pair,
    *,
    changed: bool,
    error: str | None,
    fetched_at: datetime | None,
) -> Pulled:
    signature = folder / SIGNATURE_FILE if pair.signature is not None else None
    return Pulled(url, folder / POLICY_FILE, signature, changed, error, fetched_at)


def _kept_note(fetched_at: datetime | None, kept: bool) -> str:
    if not kept:
        return "there is no earlier copy to use"
    return f"the copy fetched {_when(fetched_at)} is still used"


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _when(when: datetime | None) -> str:
    return f"at {when:%Y-%m-%d %H:%M} UTC" if when else "earlier"
