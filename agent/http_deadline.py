"""HTTP and HTTPS through urllib with one deadline for the whole exchange.

urllib's `timeout` bounds each socket operation alone: a server that sends one byte every
few seconds never trips it, and holds whoever waits for it for as long as it likes. Here
every operation on the connection's socket (resolving the name, connecting, the TLS
handshake, sending the request, each receive of the headers and the body, a proxy's
CONNECT) first sets the socket's timeout to the time left before one deadline, so the
exchange as a whole ends by then, with TimeoutError.

This works on the socket itself rather than by watching from another thread: nothing is
left running after the deadline, and no socket is closed under a thread still using it.
CPython applies a socket's timeout to a whole TLS handshake, a whole TLS read and a whole
sendall, so shrinking it before each call is enough. Resolving a name has no timeout in
the C library; it runs in a helper thread that is waited for until the deadline and then
left to the resolver's own limits.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock, and the budget it was set from (for sentences)."""

    seconds: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        """Seconds left; TimeoutError once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the {self.seconds:g} seconds allowed have passed")
        return left


class DeadlineSocket(socket.socket):
    """A socket whose every blocking call ends by `deadline` (None: an ordinary socket)."""

    deadline: Deadline | None = None

    def _shrink(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.left())

    def connect(self, *args: Any, **kwargs: Any) -> None:
        self._shrink()
        super().connect(*args, **kwargs)

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self._shrink()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self._shrink()
        return super().recv_into(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        self._shrink()
        return super().send(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        self._shrink()
        super().sendall(*args, **kwargs)


class _DeadlineSSLSocket(DeadlineSocket, ssl.SSLSocket):
    """The same over TLS: each of SSLSocket's calls runs after the timeout is set. The
    handshake, done while this socket is made, takes the timeout the plain socket had left
    after its last call, which was just before."""


def resolve(host: str, port: int, deadline: Deadline) -> list[Any]:
    """getaddrinfo, waited for until the deadline (it has no timeout of its own)."""
    found: list[list[Any] | OSError] = []

    def look() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as err:
            found.append(err)

    thread = threading.Thread(target=look, name="resolve", daemon=True)
    thread.start()
    thread.join(deadline.left())
    if not found:
        raise TimeoutError(f"the name {host} was not resolved in time")
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]


def connect(address: tuple[str, int], deadline: Deadline) -> DeadlineSocket:
    """A TCP connection to the first address of the name that answers, by the deadline."""
    host, port = address
    error: OSError = OSError(f"the name {host} has no address")
    for family, kind, proto, _, where in resolve(host, port, deadline):
        sock = DeadlineSocket(family, kind, proto)
        sock.deadline = deadline
        try:
            sock.connect(where)
        except OSError as err:
            sock.close()
            error = err
            if isinstance(err, TimeoutError):
                break  # the deadline passed: no time for the next address
            continue
        return sock
    raise error


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.deadline = deadline
        # What HTTPConnection.connect calls for the TCP connection (a proxy's CONNECT and,
        # for HTTPS, the handshake then run over it).
        self._create_connection = self._connect

    def _connect(self, address: tuple[str, int], *args: Any) -> socket.socket:
        del args  # the per-operation timeout and a source address: not used here
        return connect(address, self.deadline)


class _HTTPSConnection(_HTTPConnection, http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        if isinstance(self.sock, DeadlineSocket):
            self.sock.deadline = self.deadline


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req, deadline=self._deadline)  # type: ignore[arg-type]


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline, context: ssl.SSLContext) -> None:
        context.sslsocket_class = _DeadlineSSLSocket
        super().__init__(context=context)
        self._deadline = deadline
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _HTTPSConnection,  # type: ignore[arg-type]
            req,
            context=self._tls,
            deadline=self._deadline,
        )


def handlers(deadline: Deadline, context: ssl.SSLContext) -> list[urllib.request.BaseHandler]:
    """The http:// and https:// handlers for an opener whose requests all end by `deadline`."""
    return [_HTTPHandler(deadline), _HTTPSHandler(deadline, context)]
