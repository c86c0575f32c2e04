"""Browser profiles made by the real programs: NSS's certutil for Firefox's key stores, a
headless firefox-esr for a whole profile, a headless chromium that visits a local server
setting a cookie (with the "basic" store, or with gnome-keyring-daemon on a private bus).

The canary values here (a cookie, a saved password) are what tests/test_browser_passwords.py
looks for in everything the agent prints and keeps.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import missing_component, require_tool
from tests.desktop import BUS_CONFIG, _die_with_parent, _stop

COOKIE_CANARY = "CanaryCookie-7f3e9a1c5b"
PASSWORD_CANARY = "CanaryLogin-4d8b2e6f0a"
KEYRING_PASSWORD = "hygiene-test-keyring"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def logins_json(count: int) -> str:
    """A logins.json as Firefox writes it, with `count` saved logins; each "encrypted" value
    carries the canary (base64, as Firefox's are), which the agent must never show."""
    secret = base64.b64encode(PASSWORD_CANARY.encode()).decode()
    logins = [
        {
            "id": n,
            "hostname": f"https://site{n}.example.org",
            "httpRealm": None,
            "formSubmitURL": f"https://site{n}.example.org",
            "usernameField": "user",
            "passwordField": "password",
            "encryptedUsername": secret,
            "encryptedPassword": secret,
            "guid": f"{{00000000-0000-0000-0000-{n:012d}}}",
            "encType": 1,
            "timeCreated": 1765000000000,
            "timeLastUsed": 1765000000000,
            "timePasswordChanged": 1765000000000,
            "timesUsed": 1,
        }
        for n in range(1, count + 1)
    ]
    return json.dumps(
        {
            "nextId": count + 1,
            "logins": logins,
            "potentiallyVulnerablePasswords": [],
            "dismissedBreachAlertsByLoginGUID": {},
            "version": 3,
        }
    )


def write_profiles_ini(base: Path, *names: str) -> None:
    base.mkdir(parents=True, exist_ok=True)
    sections = "".join(
        f"[Profile{n}]\nName={name}\nIsRelative=1\nPath={name}\n{'Default=1' if not n else ''}\n\n"
        for n, name in enumerate(names)
    )
    (base / "profiles.ini").write_text(
        f"[General]\nStartWithLastProfile=1\nVersion=2\n\n{sections}"
    )


@dataclass
class Nss:
    certutil: str

    def key_store(self, folder: Path, *, password: str = "", legacy: bool = False) -> None:
        """A key store made by NSS itself: key4.db (sql:) or the legacy key3.db (dbm:)."""
        folder.mkdir(parents=True, exist_ok=True)
        argv = [self.certutil, "-N", "-d", f"{'dbm' if legacy else 'sql'}:{folder}"]
        if password:
            pwfile = folder.parent / f".{folder.name}.pw"
            pwfile.write_text(password + "\n")
            argv += ["-f", str(pwfile)]
        else:
            argv.append("--empty-password")
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    def profile(
        self,
        home: Path,
        *,
        base: str = ".mozilla/firefox",
        name: str = "test.default",
        logins: int = 3,
        password: str = "",
        legacy: bool = False,
    ) -> Path:
        folder = home / base / name
        write_profiles_ini(home / base, name)
        self.key_store(folder, password=password, legacy=legacy)
        (folder / "logins.json").write_text(logins_json(logins))
        return folder


@pytest.fixture
def nss() -> Nss:
    return Nss(require_tool("certutil"))


class _SetsCookie(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Set-Cookie", f"session={COOKIE_CANARY}; Max-Age=86400; Path=/")
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>signed in</body></html>")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving_cookie() -> Iterator[str]:
    """A site on 127.0.0.1 that sets a persistent cookie carrying COOKIE_CANARY; its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SetsCookie)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cookie_site() -> Iterator[str]:
    with serving_cookie() as url:
        yield url


def run_chromium(user_data: Path, url: str, store: str, env: dict[str, str] | None = None) -> None:
    """A real headless chromium visits `url` once and exits, its profile in `user_data`."""
    chromium = require_tool("chromium")
    done = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={user_data}",
            f"--password-store={store}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert b"signed in" in done.stdout, done.stderr.decode(errors="replace")[-2000:]


@pytest.fixture
def keyring(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private session bus with gnome-keyring-daemon's Secret Service on it, its login
    keyring created and unlocked; the environment a program needs to use it."""
    folder = tmp_path / "keyring"
    home = folder / "home"
    runtime = folder / "run"
    home.mkdir(parents=True)
    runtime.mkdir(mode=0o700)
    (folder / "bus.conf").write_text(BUS_CONFIG.format(directory=folder))
    with contextlib.ExitStack() as stack:
        bus = subprocess.Popen(
            [
                require_tool("dbus-daemon"),
                "--config-file",
                str(folder / "bus.conf"),
                "--nofork",
                "--print-address",
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        stack.callback(_stop, bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        if not address:
            missing_component("dbus-daemon gave no address")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(runtime),
            "DBUS_SESSION_BUS_ADDRESS": address,
            "LANG": "C.UTF-8",
        }
        daemon = subprocess.Popen(
            [
                require_tool("gnome-keyring-daemon"),
                "--unlock",
                "--components=secrets",
                "--foreground",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        stack.callback(_stop, daemon)
        assert daemon.stdin is not None
        # The login keyring's password, read up to the end of input. (With an empty one
        # gnome-keyring-daemon creates no login keyring, and Chromium falls back to "basic".)
        daemon.stdin.write(KEYRING_PASSWORD.encode())
        daemon.stdin.close()
        login = home / ".local" / "share" / "keyrings" / "login.keyring"
        deadline = time.monotonic() + 15
        while not login.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gnome-keyring-daemon made no login keyring")
            time.sleep(0.05)
        yield env
