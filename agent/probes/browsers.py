"""Facts about the browsers' own stores of saved passwords and cookies: where the profiles
are, how many entries each store holds, and how the store is protected. Never a value.

Firefox and its forks: the profiles that `profiles.ini` names (also in the Flatpak and Snap
folders); a profile's saved logins are counted in `logins.json` (nothing else of it is
used), and its key store (key4.db, or the legacy key3.db) is asked whether it opens with the
empty password (agent.probes._nss: one entry, made for that test).

Chromium and the browsers built on it: each profile's `Login Data` and `Cookies` databases
are counted by the first three bytes of each stored value, in SQL, so that no value reaches
this process: "v10" is Chromium's fixed key for Linux ("basic"), "v11" a key kept in the
desktop keyring. A `--password-store=basic` in the person's flags or desktop files is found
by a text search of those small files.
"""

from __future__ import annotations

import configparser
import errno
import re
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.files import FileTooLarge, NotRegularFile, json_value, read_small_file
from agent.probes._sqlite import StoreUnreadable, query_one

if TYPE_CHECKING:
    from agent.probes._nss import Protection

# Where each browser keeps its profiles, relative to the home folder: (browser, folder).
FIREFOX_FOLDERS: tuple[tuple[str, str], ...] = (
    ("Firefox", ".mozilla/firefox"),
    ("Firefox", ".config/mozilla/firefox"),
    ("Firefox", ".var/app/org.mozilla.firefox/.mozilla/firefox"),
    ("Firefox", "snap/firefox/common/.mozilla/firefox"),
    ("LibreWolf", ".librewolf"),
    ("LibreWolf", ".var/app/io.gitlab.librewolf-community/.librewolf"),
    ("Waterfox", ".waterfox"),
    ("Floorp", ".floorp"),
    ("Floorp", ".var/app/one.ablaze.floorp/.floorp"),
    ("Zen", ".zen"),
)
CHROMIUM_FOLDERS: tuple[tuple[str, str], ...] = (
    ("Chromium", ".config/chromium"),
    ("Chromium", ".var/app/org.chromium.Chromium/config/chromium"),
    ("Chromium", "snap/chromium/common/chromium"),
    ("Chrome", ".config/google-chrome"),
    ("Chrome", ".config/google-chrome-beta"),
    ("Chrome", ".config/google-chrome-unstable"),
    ("Chrome", ".var/app/com.google.Chrome/config/google-chrome"),
    ("Brave", ".config/BraveSoftware/Brave-Browser"),
    ("Brave", ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser"),
    ("Edge", ".config/microsoft-edge"),
    ("Edge", ".config/microsoft-edge-beta"),
    ("Edge", ".var/app/com.microsoft.Edge/config/microsoft-edge"),
    ("Vivaldi", ".config/vivaldi"),
    ("Vivaldi", ".var/app/com.vivaldi.Vivaldi/config/vivaldi"),
)
# Files that hold a Chromium browser's command-line flags for the person.
CHROMIUM_FLAG_FILES: tuple[tuple[str, str], ...] = (
    ("Chromium", ".config/chromium-flags.conf"),
    ("Chrome", ".config/chrome-flags.conf"),
    ("Chrome", ".config/chrome-beta-flags.conf"),
    ("Brave", ".config/brave-flags.conf"),
    ("Edge", ".config/microsoft-edge-stable-flags.conf"),
    ("Vivaldi", ".config/vivaldi-stable.conf"),
    ("Chromium", ".local/share/applications/chromium.desktop"),
    ("Chromium", ".local/share/applications/chromium-browser.desktop"),
    ("Chromium", ".local/share/applications/org.chromium.Chromium.desktop"),
    ("Chrome", ".local/share/applications/google-chrome.desktop"),
    ("Brave", ".local/share/applications/brave-browser.desktop"),
    ("Brave", ".local/share/applications/com.brave.Browser.desktop"),
    ("Edge", ".local/share/applications/microsoft-edge.desktop"),
    ("Vivaldi", ".local/share/applications/vivaldi-stable.desktop"),
)
# Debian's chromium reads every file here as shell lines that add flags.
SYSTEM_FLAG_FOLDER = "etc/chromium.d"

MAX_INI = 64 * 1024
MAX_LOGINS_JSON = 32 * 1024 * 1024
MAX_FLAGS_FILE = 64 * 1024
MAX_PROFILES = 32  # per browser folder
MAX_ENTRIES = 256  # looked at in a Chromium user-data folder
# Each database query; a browser's store is counted in milliseconds.
QUERY_TIMEOUT = 2.0

_BASIC_FLAG = re.compile(rb"--password-store(?:=|\s+)[\"']?basic\b")

_LOGINS_SQL = (
    "SELECT count(*), total(substr(password_value, 1, 3) = X'763130'), "
    "total(substr(password_value, 1, 3) = X'763131'), 0 "
    "FROM logins WHERE length(password_value) > 0"
)
_COOKIES_SQL = (
    "SELECT count(*), total(substr(encrypted_value, 1, 3) = X'763130'), "
    "total(substr(encrypted_value, 1, 3) = X'763131'), "
    "total(length(encrypted_value) = 0 AND length(value) > 0) FROM cookies"
)


@dataclass(frozen=True)
class Unreadable:
    """A place that could not be looked at, and why, in words."""

    browser: str
    path: Path
    reason: str


@dataclass(frozen=True)
class FirefoxProfile:
    browser: str
    path: Path
    logins: int  # saved logins in logins.json
    protection: Protection | None  # None: no logins, so the key store was not asked


@dataclass(frozen=True)
class Counts:
    """How a store's entries are encrypted: by prefix, counted in SQL."""

    total: int
    basic: int  # "v10": Chromium's fixed key on Linux
    keyring: int  # "v11": the key kept in the desktop keyring
    plain: int  # not encrypted at all (a cookie's value column)
    in_use: bool  # read without its lock: its browser held it


@dataclass(frozen=True)
class ChromiumProfile:
    browser: str
    path: Path
    passwords: Counts | None  # None: no Login Data
    cookies: Counts | None  # None: no Cookies


@dataclass(frozen=True)
class BasicStoreFlag:
    """A file that starts the browser with --password-store=basic."""

    browser: str
    path: Path


def reason_of(err: OSError | ValueError | sqlite3.Error) -> str:
    if isinstance(err, sqlite3.Error):
        # A store cut short by a crash, or not the browser's: what it holds cannot be told.
        return "its database cannot be read (damaged, or not the browser's)"
    if isinstance(err, OSError):
        if err.errno == errno.ELOOP:
            return "it is a symbolic link loop"
        if err.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        if isinstance(err, NotRegularFile):
            return "it is not a regular file"
        if isinstance(err, FileTooLarge):
            return "it is too large"
        if err.errno == errno.ENOENT:
            return "it does not exist"
        return (err.strerror or type(err).__name__).lower()
    if isinstance(err, sqlite3.Error):
        return f"its database cannot be read ({str(err).rstrip('.').lower()})"
    return str(err) or "it cannot be read"


def _is_dir(path: Path) -> bool:
    """Whether `path` is a folder; OSError (a loop, no permission) other than its absence."""
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except FileNotFoundError:
        return False


def _exists(path: Path) -> bool:
    """Whether something is at `path` (not followed); OSError for a loop or no permission."""
    try:
        path.lstat()
    except OSError as err:
        # Absent, or under a file (Chromium's SingletonLock and SingletonSocket are links).
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return False
        raise
    return True


# --- Firefox -----------------------------------------------------------------------------


def firefox_profile_folders(home: Path) -> tuple[list[tuple[str, Path]], list[Unreadable]]:
    """(browser, profile folder) for each profile the browsers' profiles.ini files name,
    once each, whether or not the folder exists."""
    found: list[tuple[str, Path]] = []
    problems: list[Unreadable] = []
    seen: set[Path] = set()
    for browser, folder in FIREFOX_FOLDERS:
        for path in _listed_profiles(browser, home / folder, problems):
            if path not in seen:
                seen.add(path)
                found.append((browser, path))
    return found, problems


def firefox_protection(path: Path) -> Protection:
    """Whether the key store of the Firefox profile at `path` needs a Primary Password;
    StoreUnreadable when it has none, or OSError when it cannot be read."""
    # Here, not at the top: cryptography is loaded only where a key store is to be asked
    # (the resident agent stays without it otherwise: tests/test_resident_agent.py).
    from agent.probes._nss import key3_protection, key4_protection  # noqa: PLC0415

    if _exists(path / "key4.db"):
        return key4_protection(path / "key4.db", QUERY_TIMEOUT)
    if _exists(path / "key3.db"):
        return key3_protection(path / "key3.db")
    raise StoreUnreadable("it has no key database")


def firefox_profiles(
    home: Path, protection: Callable[[Path], Protection] = firefox_protection
) -> tuple[list[FirefoxProfile], list[Unreadable]]:
    """`protection`: how a profile's key store is asked (a check shares the answer with
    others through its context's facts)."""
    profiles: list[FirefoxProfile] = []
    folders, problems = firefox_profile_folders(home)
    for browser, path in folders:
        try:
            profile = _firefox_profile(browser, path, protection)
        except (OSError, ValueError, sqlite3.Error) as err:
            problems.append(Unreadable(browser, path, reason_of(err)))
            continue
        if profile is not None:
            profiles.append(profile)
    return profiles, problems


def _listed_profiles(browser: str, base: Path, problems: list[Unreadable]) -> list[Path]:
    ini = base / "profiles.ini"
    try:
        # A folder name that is not UTF-8 stays the bytes on disk (surrogateescape), as
        # Python names such files; it is shown escaped.
        text = read_small_file(ini, MAX_INI).decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return []
    except OSError as err:
        if err.errno == errno.ENOTDIR:
            return []
        problems.append(Unreadable(browser, ini, reason_of(err)))
        return []
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        problems.append(Unreadable(browser, ini, "it is not a profiles.ini this check can read"))
        return []
    found: list[Path] = []
    for section in parser.sections():
        if not section.startswith("Profile") or not parser.has_option(section, "Path"):
            continue
        where = parser.get(section, "Path")
        relative = parser.get(section, "IsRelative", fallback="1").strip() != "0"
        found.append(base / where if relative else Path(where))
        if len(found) >= MAX_PROFILES:
            break
    return found


def _firefox_profile(
    browser: str, path: Path, protection: Callable[[Path], Protection]
) -> FirefoxProfile | None:
    if not _is_dir(path):
        return None
    logins = _count_logins(path / "logins.json")
    if logins == 0:
        return FirefoxProfile(browser, path, 0, None)
    if not (_exists(path / "key4.db") or _exists(path / "key3.db")):
        raise StoreUnreadable("it has saved logins but no key database")
    return FirefoxProfile(browser, path, logins, protection(path))


def _count_logins(path: Path) -> int:
    """How many saved logins logins.json holds; nothing else of it is looked at."""
    try:
        data = json_value(read_small_file(path, MAX_LOGINS_JSON))
    except FileNotFoundError:
        return 0
    logins = data.get("logins") if isinstance(data, dict) else None
    if not isinstance(logins, list):
        raise StoreUnreadable("its logins.json is not one Firefox writes")
    count = sum(1 for login in logins if isinstance(login, dict))
    del data, logins
    return count


# --- Chromium ----------------------------------------------------------------------------


def chromium_user_data(home: Path) -> tuple[list[tuple[str, Path, list[Path]]], list[Unreadable]]:
    """(browser, user data folder, its entries) for each Chromium browser's folder that
    exists; a profile is one of the entries (Default, Profile 1, ...)."""
    found: list[tuple[str, Path, list[Path]]] = []
    problems: list[Unreadable] = []
    for browser, folder in CHROMIUM_FOLDERS:
        base = home / folder
        try:
            if not _is_dir(base):
                continue
            entries = sorted(base.iterdir())[:MAX_ENTRIES]
        except OSError as err:
            problems.append(Unreadable(browser, base, reason_of(err)))
            continue
        found.append((browser, base, entries))
    return found, problems


def chromium_profiles(home: Path) -> tuple[list[ChromiumProfile], list[Unreadable]]:
    profiles: list[ChromiumProfile] = []
    folders, problems = chromium_user_data(home)
    for browser, _, entries in folders:
        for entry in entries:
            try:
                profile = _chromium_profile(browser, entry)
            except (OSError, ValueError, sqlite3.Error) as err:
                problems.append(Unreadable(browser, entry, reason_of(err)))
                continue
            if profile is not None:
                profiles.append(profile)
    return profiles, problems


def _chromium_profile(browser: str, path: Path) -> ChromiumProfile | None:
    logins = path / "Login Data"
    cookies = next(
        (p for p in (path / "Network" / "Cookies", path / "Cookies") if _exists(p)), None
    )
    has_logins = _exists(logins)
    if not has_logins and cookies is None:
        return None
    passwords = _counts(logins, _LOGINS_SQL) if has_logins else None
    return ChromiumProfile(
        browser, path, passwords, _counts(cookies, _COOKIES_SQL) if cookies else None
    )


def _counts(path: Path, sql: str) -> Counts:
    row, in_use = query_one(path, sql, (), QUERY_TIMEOUT)
    total, basic, keyring, plain = (int(v or 0) for v in (row or (0, 0, 0, 0)))
    return Counts(total, basic, keyring, plain, in_use)


def basic_store_flags(
    home: Path, root: Path = Path("/")
) -> tuple[list[BasicStoreFlag], list[Unreadable]]:
    """Flags and desktop files of the person's (and Debian's /etc/chromium.d) that start a
    Chromium browser with --password-store=basic."""
    found: list[BasicStoreFlag] = []
    problems: list[Unreadable] = []
    candidates = [(browser, home / name) for browser, name in CHROMIUM_FLAG_FILES]
    system = root / SYSTEM_FLAG_FOLDER
    try:
        if _is_dir(system):
            candidates += [("Chromium", p) for p in sorted(system.iterdir())[:MAX_PROFILES]]
    except OSError as err:
        problems.append(Unreadable("Chromium", system, reason_of(err)))
    for browser, path in candidates:
        try:
            data = read_small_file(path, MAX_FLAGS_FILE)
        except FileNotFoundError:
            continue
        except OSError as err:
            problems.append(Unreadable(browser, path, reason_of(err)))
            continue
        if any(
            _BASIC_FLAG.search(line) and not line.lstrip().startswith(b"#")
            for line in data.splitlines()
        ):
            found.append(BasicStoreFlag(browser, path))
    return found, problems
