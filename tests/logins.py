"""Real logins for the session checks: /run/utmp, sshd on 127.0.0.1 with a private config,
a real ssh client whose session stays open, and libutempter records.

These need root (sshd writes utmp and logs in as the test's user, which is root in CI);
without root or the tools they skip, or fail when HYGIENE_REQUIRE_REAL=1.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_library, require_root, require_tool

UTMP = Path("/run/utmp")
LOGIN_TIMEOUT = 20.0


@pytest.fixture(scope="session")
def utmp() -> Iterator[Path]:
    """/run/utmp, created as the system would (root:utmp 0664) when this machine has none."""
    require_root("real logins need root (sshd, /run/utmp)")
    created = not UTMP.exists()
    if created:
        subprocess.run(
            ["install", "-m", "664", "-o", "root", "-g", "utmp", "/dev/null", str(UTMP)],
            check=True,
        )
    yield UTMP
    if created:
        UTMP.unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Sshd:
    port: int
    client_key: Path
    log: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def sshd(utmp: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """sshd listening on 127.0.0.1 only, with its own host key, config and authorized key."""
    daemon = require_tool("sshd")
    keygen = require_tool("ssh-keygen")
    require_tool("ssh")
    folder = tmp_path_factory.mktemp("sshd")
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")], check=True
    )
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "client_key")], check=True
    )
    authorized = folder / "authorized_keys"
    authorized.write_text((folder / "client_key.pub").read_text())
    authorized.chmod(0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {authorized}\n"
        f"PidFile {folder / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PrintMotd no\n"
        "PrintLastLog no\n"
        "LogLevel VERBOSE\n"
    )
    log = folder / "sshd.log"
    process = subprocess.Popen([daemon, "-D", "-e", "-f", str(config)], stderr=log.open("wb"))
    deadline = time.monotonic() + LOGIN_TIMEOUT
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"sshd did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    try:
        yield Sshd(port, folder / "client_key", log, process)
    finally:
        process.terminate()
        process.wait(10)


class Login:
    """One real `ssh -tt` login that stays open; `terminal` is its pty, such as "pts/3"."""

    def __init__(self, server: Sshd) -> None:
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.user = user
        self.process = subprocess.Popen(
            [
                "ssh",
                "-tt",
                "-F",
                "/dev/null",
                "-i",
                str(server.client_key),
                "-p",
                str(server.port),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                f"{user}@127.0.0.1",
                "/bin/sh",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._seen = b""
        self.type("tty")
        match = self.expect(rb"/dev/(pts/\d+)")
        self.terminal = match.group(1).decode()

    def type(self, line: str) -> None:
        """Type a line into the session, as a person at that terminal would."""
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def expect(self, pattern: bytes, timeout: float = LOGIN_TIMEOUT) -> re.Match[bytes]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self._seen)) is None:
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                pytest.fail(f"the ssh login never printed {pattern!r}; it said {self._seen!r}")
            if select.select([fd], [], [], left)[0]:
                self._seen += os.read(fd, 4096)
        self._seen = self._seen[match.end() :]
        return match

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.type("exit")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def ssh_login(sshd: Sshd) -> Iterator[Login]:
    login = Login(sshd)
    try:
        yield login
    finally:
        login.close()


def utempter_add_and_die(host: str) -> int:
    """Have a child process add a libutempter record and end without removing it.

    That leaves what a terminal emulator killed with SIGKILL leaves: a utmp entry whose
    process is gone. Returns the dead process's id.
    """
    library = require_library("utempter")
    code = (
        "import ctypes, os, sys\n"
        f"lib = ctypes.CDLL({library!r})\n"
        "master, slave = os.openpty()\n"
        f"ok = lib.utempter_add_record(master, {host.encode()!r})\n"
        "print(os.getpid(), flush=True)\n"
        "os._exit(0 if ok else 1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, f"libutempter refused the record: {done.stderr}"
    return int(done.stdout.strip())


@contextlib.contextmanager
def live_records(hosts: list[str]) -> Iterator[int]:
    """libutempter records with these hosts, held by one live process (its pid is yielded),
    as terminal emulators and multiplexers hold theirs; removed again at the end."""
    library = require_library("utempter")
    code = (
        "import ctypes, os, sys\n"
        f"lib = ctypes.CDLL({library!r})\n"
        "masters = []\n"
        "for host in sys.argv[1:]:\n"
        "    master, slave = os.openpty()\n"
        "    assert lib.utempter_add_record(master, host.encode())\n"
        "    masters.append(master)\n"
        "print(os.getpid(), flush=True)\n"
        "sys.stdin.readline()\n"
        "for master in masters:\n"
        "    lib.utempter_remove_record(master)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, *hosts], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        yield int(holder.stdout.readline())
    finally:
        assert holder.stdin is not None
        holder.stdin.write(b"done\n")
        holder.stdin.close()
        holder.wait(30)
