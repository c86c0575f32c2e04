"""Which files to read: each family's known paths, the policy's extra files, and .env files
under the project folders, within the bounds (no symlink out of the scanned roots, no loop,
bounded depth, a bounded number of folder entries looked at). Also what to watch: the stat
signature of every path looked at, so the agent can tell that nothing changed without
starting a scan."""

from __future__ import annotations

import errno
import fnmatch
import itertools
import os
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PureWindowsPath

from agent.credentials import GUESSED

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from agent.credentials.model import Format

# Folders never descended when looking for project files: tools' caches and vendored trees.
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".cache",
        ".tox", ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages",
        "dist", "build", "target", "vendor", ".terraform", ".gradle", ".idea",
    }
)  # fmt: skip
MAX_DIRS = 20_000
# Folder entries looked at per run, over all project roots: listing and matching 200,000
# names takes about a second, so that finding the files never uses up the check's time.
MAX_ENTRIES = 200_000

# Other programs' config files (format guessed from the name) are looked for this many
# folders below $XDG_CONFIG_HOME: ~/.config/app/config.ini, ~/.config/Code/User/settings.json.
GUESS_DEPTH = 2
GUESS_MAX_ENTRIES = 20_000
# Folders there that hold a program's data rather than settings a person wrote: browser
# profiles, Electron apps' caches and storage.
GUESS_SKIP_DIRS = SKIP_DIRS | frozenset(
    {
        "chromium", "google-chrome", "google-chrome-beta", "google-chrome-unstable",
        "BraveSoftware", "microsoft-edge", "microsoft-edge-beta", "microsoft-edge-dev",
        "vivaldi", "opera", "yandex-browser", "Cache", "Code Cache", "GPUCache", "CachedData",
        "CachedExtensionVSIXs", "CachedProfilesData", "logs", "Local Storage",
        "Session Storage", "IndexedDB", "blob_storage", "Service Worker", "Crashpad",
        "WebStorage", "DawnCache", "DawnGraphiteCache", "DawnWebGPUCache", "GrShaderCache",
        "ShaderCache", "workspaceStorage", "globalStorage", "History", "pulse", "dconf",
    }
)  # fmt: skip

_DEFAULTS = {
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "DOCKER_CONFIG": ".docker",
}

StatKey = tuple[int, int, int, int]  # device, inode, ctime_ns, mtime_ns


def stat_key(info: os.stat_result) -> StatKey:
    """What tells that a path changed. Not its size: the scan cache is kept, and the size
    of a one-line file with a password in it is the password's length plus what the cache
    already says (the field, the host, the user). The change time moves with every write
    (and with a modification time put back by hand)."""
    return (info.st_dev, info.st_ino, info.st_ctime_ns, info.st_mtime_ns)


class Candidate:
    __slots__ = ("family", "path", "real")

    def __init__(self, path: Path, real: Path, family: str) -> None:
        self.path = path  # as found (what the person sees)
        self.real = real  # what is read: the same file with symbolic links resolved
        self.family = family


class Located:
    def __init__(self) -> None:
        self.files: list[Candidate] = []
        # Every path looked at, existing or not, by its lstat signature (None: not there).
        self.watch: dict[str, StatKey | None] = {}
        self.notes: list[tuple[Path, str]] = []  # a path and what kept it out
        # Project folders not searched to the end (a bound was reached): a path and why. Files
        # there may hold secrets no one has read, so the check does not read as clean.
        self.unsearched: list[tuple[Path, str]] = []


class Settings:
    __slots__ = ("extra_files", "guess_formats", "include_system", "project_depth", "project_roots")

    def __init__(
        self,
        include_system: bool = True,
        project_roots: tuple[str, ...] = (),
        project_depth: int = 3,
        extra_files: tuple[tuple[str, str], ...] = (),  # (path, family id)
        guess_formats: bool = False,  # also other programs' config files, by their names
    ) -> None:
        self.include_system = include_system
        self.project_roots = project_roots
        self.project_depth = project_depth
        self.extra_files = extra_files
        self.guess_formats = guess_formats


def locate(
    families: Sequence[Format],
    settings: Settings,
    home: Path,
    env: Mapping[str, str],
) -> Located:
    found = Located()
    roots = [home]
    seen: set[Path] = set()

    def consider(
        path: Path, family: str, within: Sequence[Path], info: os.stat_result | None = None
    ) -> None:
        real = _admit(path, within, found, info)
        if real is not None and real not in seen:
            seen.add(real)
            found.files.append(Candidate(path, real, family))

    for family in families:
        for pattern in family.paths:
            base = _expand(pattern, home, env)
            if base is None:
                continue
            system = not _inside(base, home)
            if system and not settings.include_system:
                continue
            within = [home, base.parent] if system else roots
            for path in _glob(base, found):
                consider(path, family.id, within)

    for text, family_id in settings.extra_files:
        extra = _expand(text, home, env)
        if extra is not None:
            # An extra file the policy names is read where it is, links included.
            matches = list(_glob(extra, found))
            if not matches or (len(matches) == 1 and not matches[0].exists()):
                found.notes.append((extra, "(from extra_files) does not exist"))
            elif len(matches) == 1 and matches[0].is_dir():
                found.notes.append((extra, "(from extra_files) is a folder, not a file"))
            for match in matches:
                consider(match, family_id, [home, match.parent, _resolved(match)])

    tree = [
        (f.id, f.project_files)
        for f in families
        if f.project_files and (settings.guess_formats or f.id != GUESSED)
    ]
    if tree:
        entries = [MAX_ENTRIES]
        for text in settings.project_roots:
            root = _expand(text, home, env)
            if root is not None:
                _walk(root, settings.project_depth, tree, found, consider, entries_left=entries)
    guesser = next((f for f in families if f.id == GUESSED), None)
    if settings.guess_formats and guesser is not None:
        config = _expand("$XDG_CONFIG_HOME", home, env)
        if config is not None:
            _guess(config, guesser.project_files, [home, config], found, consider)
    return found


def _guess(
    root: Path,
    names: Sequence[str],
    within: Sequence[Path],
    found: Located,
    consider: Callable[[Path, str, Sequence[Path]], None],
) -> None:
    """Look for other programs' config files under `root` ($XDG_CONFIG_HOME), GUESS_DEPTH
    folders deep, passing over programs' data folders and every path a family has already
    looked at. Reaching the bound leaves a note but nothing unchecked: a file found here
    only may be a config file."""
    pending = [(root, 0)]
    left = GUESS_MAX_ENTRIES
    while pending:
        folder, level = pending.pop()
        try:
            info = folder.stat()
            with os.scandir(folder) as listing:
                entries = list(itertools.islice(listing, left + 1))
        except OSError:
            continue  # not there, or not ours to list: nothing of a known format is missed
        found.watch[str(folder)] = stat_key(info)
        if len(entries) > left:
            found.notes.append(
                (
                    root,
                    f"holds more than {GUESS_MAX_ENTRIES:,} entries {GUESS_DEPTH} folders "
                    "deep; the rest were not searched for other programs' config files",
                )
            )
            return
        left -= len(entries)
        for entry in sorted(entries, key=lambda e: e.name):
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if level < GUESS_DEPTH and entry.name not in GUESS_SKIP_DIRS:
                    pending.append((path, level + 1))
            elif str(path) not in found.watch and any(
                fnmatch.fnmatchcase(entry.name, p) for p in names
            ):
                found.watch[str(path)] = _lstat_key(path)
                consider(path, GUESSED, within)


def _expand(pattern: str, home: Path, env: Mapping[str, str]) -> Path | None:
    if pattern == "~" or pattern.startswith("~/"):
        return home / pattern[2:]
    if pattern.startswith("$"):
        name, _, rest = pattern[1:].partition("/")
        value = env.get(name)
        if not value:
            default = _DEFAULTS.get(name)
            if default is None:
                return None
            value = str(home / default)
        return Path(value) / rest
    if PureWindowsPath(pattern).drive:
        # C:/Windows/...: a Windows system file, looked for only on Windows.
        return Path(pattern) if sys.platform == "win32" else None
    path = Path(pattern)
    return path if path.is_absolute() else home / path


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _glob(path: Path, found: Located) -> Iterable[Path]:
    """The path itself, or the matches of a "*" in its last part (its folder is watched)."""
    if "*" not in path.name:
        found.watch[str(path)] = _lstat_key(path)
        return [path]
    folder = path.parent
    found.watch[str(folder)] = _lstat_key(folder)
    try:
        names = sorted(entry.name for entry in os.scandir(folder))
    except FileNotFoundError:
        return []
    except OSError as err:
        found.notes.append((folder, f"could not be listed: {reason(err)}"))
        return []
    matches = [folder / n for n in names if fnmatch.fnmatchcase(n, path.name)]
    for match in matches:
        found.watch[str(match)] = _lstat_key(match)
    return matches


def _admit(
    path: Path, within: Sequence[Path], found: Located, info: os.stat_result | None = None
) -> Path | None:
    """The real path to read, or None (not there, or a note says why it is not read).
    `info`: the path's lstat, when the caller has it already."""
    try:
        info = info or path.lstat()
    except FileNotFoundError:
        return None
    except OSError as err:
        found.notes.append((path, f"could not be looked at: {reason(err)}"))
        return None
    if stat.S_ISDIR(info.st_mode):
        return None
    if not stat.S_ISLNK(info.st_mode):
        return path
    try:
        real = Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return None  # a dangling link holds nothing
    except OSError as err:
        if err.errno == errno.ELOOP:
            found.notes.append((path, "is a loop of symbolic links; it was not read"))
        else:
            found.notes.append((path, f"could not be followed: {reason(err)}"))
        return None
    except RuntimeError:  # Python < 3.13 raises this for some loops
        found.notes.append((path, "is a loop of symbolic links; it was not read"))
        return None
    if real == Path(os.devnull):
        return None  # NetworkManager's way of marking a profile gone: nothing to read
    if not any(_inside(real, root) for root in within):
        found.notes.append(
            (path, f"links outside the folders this check reads (to {real}); not followed")
        )
        return None
    found.watch[str(real)] = _lstat_key(real)
    return real


def _walk(
    root: Path,
    depth: int,
    tree: list[tuple[str, tuple[str, ...]]],
    found: Located,
    consider: Callable[[Path, str, Sequence[Path], os.stat_result | None], None],
    *,
    entries_left: list[int],
) -> None:
    """Look for project files under `root`, `depth` folders deep; `entries_left` (one
    number, shared by every root) is what may still be looked at and is counted down."""
    pending = [(root, 0)]
    visited = 0
    while pending:
        folder, level = pending.pop()
        visited += 1
        if visited > MAX_DIRS or entries_left[0] <= 0:
            bound = f"{MAX_DIRS:,} folders" if visited > MAX_DIRS else f"{MAX_ENTRIES:,} entries"
            found.unsearched.append((root, _cut_short(bound)))
            return
        try:
            info = folder.stat()
            with os.scandir(folder) as listing:
                # One more than may be looked at: enough to know that the folder was cut.
                entries = list(itertools.islice(listing, entries_left[0] + 1))
        except FileNotFoundError:
            if folder == root:
                found.watch[str(root)] = None
            continue
        except OSError as err:
            found.notes.append((folder, f"could not be listed: {reason(err)}"))
            continue
        found.watch[str(folder)] = stat_key(info)
        entries.sort(key=lambda e: e.name)
        cut = len(entries) > entries_left[0]
        del entries[entries_left[0] :]
        entries_left[0] -= len(entries)
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if level + 1 <= depth and entry.name not in SKIP_DIRS:
                    pending.append((Path(entry.path), level + 1))
                continue
            for family_id, patterns in tree:
                if any(fnmatch.fnmatchcase(entry.name, p) for p in patterns):
                    # One lstat for what is watched and what is admitted: a big tree's
                    # files are each looked at once per run.
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        found.watch[entry.path] = None
                        break
                    found.watch[entry.path] = stat_key(info)
                    consider(Path(entry.path), family_id, [root], info)
                    break
        if cut:
            found.unsearched.append((root, _cut_short(f"{MAX_ENTRIES:,} entries")))
            return


def _cut_short(bound: str) -> str:
    return (
        f"holds more than {bound} within project_depth; the rest were not searched (list "
        "fewer or narrower project_roots, or a smaller project_depth)"
    )


def _resolved(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, RuntimeError):
        return path


def _lstat_key(path: Path) -> StatKey | None:
    try:
        return stat_key(path.lstat())
    except OSError:
        return None


def reason(err: OSError) -> str:
    return (err.strerror or type(err).__name__).rstrip(".").lower()
