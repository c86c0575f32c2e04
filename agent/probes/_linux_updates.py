"""Updates waiting on Linux, from what the package manager already knows. Facts only.

Nothing here refreshes a package list or contacts the network, and nothing needs root:

- apt (Debian, Ubuntu): `apt-config shell` names the folders apt uses, resolved as apt
  resolves them (Dir::State::lists, the dpkg status file, apt.conf.d, the sources), under
  the APT_CONFIG of the caller's environment. The lists folder's Release files say which
  sources are security ones; apt is then given a folder of links to their lists alone and
  `apt list --upgradable` names what they would upgrade (the whole lists made apt take 2 to
  12 s on a Debian with 60,000 packages, and the simulated upgrade's resolver 0.3 s more).
  Where no security source is found, `apt-get -s upgrade` (a simulation, which neither locks
  nor downloads) over every list says what an upgrade would install, one line
  `Inst NAME [INSTALLED] (VERSION ORIGINS [ARCH])` each, ORIGINS being apt's
  `pkgCache::VerIterator::RelStr()`: `Label:Version/Archive` per source, joined by ", "
  (Label and Version are left out when the Release file has none). A source is a security
  one when its archive (the Release file's Suite) ends in `-security` (Debian's
  `bookworm-security`, Ubuntu's `jammy-security`, Ubuntu Pro's `jammy-apps-security`) or
  its label is `Debian-Security` (also older Debian's `stable/updates`). When the lists
  were last fetched: the newest file in the lists folder, or the periodic job's stamps
  (`update-success-stamp`, `update-stamp`) when newer. Automatic security updates:
  `APT::Periodic::Unattended-Upgrade` not 0, and the unattended-upgrades package installed
  (from the dpkg status file). A restart: `/run/reboot-required` and its `.pkgs`.
- dnf (Fedora, RHEL): `dnf -C updateinfo list --security --available` (cache only; dnf5
  takes the same words and prints a table with a header); the lists' date is the newest
  `repodata/repomd.xml` under /var/cache/dnf or /var/cache/libdnf5; dnf-automatic's timers
  and `apply_updates`; `dnf -C needs-restarting -r` (exit status 1: a restart is needed).
- zypper (openSUSE, SLE): `zypper --no-refresh --xmlout list-patches --category security`;
  the newest `repodata/repomd.xml` under /var/cache/zypp/raw; the automatic online update
  (`AOU_ENABLE_CRONJOB`) or transactional-update's timer; `zypper needs-rebooting` (exit
  status 102: a restart is needed).
- PackageKit: `/var/lib/PackageKit/prepared-update`, the offline update GNOME Software and
  KDE Discover download by themselves and install at the next restart (a key file whose
  `[update] prepared_ids` lists package ids, or one id a line in older versions).

Every command runs with LC_ALL=C, no shell, no standard input, a time limit and an output
limit; what a tool prints on its standard error is never read. `updates` never raises for
a tool that fails or prints something it does not know: that is a problem in the answer.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from agent.errors import ProbeUnavailable
from agent.files import read_small_file
from agent.probes import PendingUpdate, Updates
from agent.probes._command import Answer, ask

__all__ = [
    "APT_KEYS",
    "apt_updates",
    "dnf_updates",
    "packagekit_updates",
    "parse_apt_shell",
    "parse_apt_simulation",
    "parse_apt_upgradable",
    "parse_dnf_updateinfo",
    "parse_prepared_update",
    "parse_zypper_patches",
    "updates",
    "zypper_updates",
]

# A simulated upgrade of a big system takes seconds (it reads every package list); the
# check's own timeout is the outer bound.
TIMEOUT_SECONDS = 50.0
QUICK_SECONDS = 10.0
MAX_OUTPUT = 8 * 1024 * 1024
MAX_LIST_FILES = 10_000
MAX_STATUS = 64 * 1024 * 1024
MAX_SMALL = 1024 * 1024
MAX_PENDING = 10_000
MAX_RELEASE_HEAD = 64 * 1024

Runner = Callable[[Sequence[str]], Answer | str]

# Names for apt-config shell: the variable, then what apt resolves (/d a folder, /f a file).
APT_KEYS = {
    "LISTS": "Dir::State::lists/d",
    "STATE": "Dir::State/d",
    "STATUS": "Dir::State::status/f",
    "MAIN": "Dir::Etc::main/f",
    "PARTS": "Dir::Etc::parts/d",
    "SOURCELIST": "Dir::Etc::sourcelist/f",
    "SOURCEPARTS": "Dir::Etc::sourceparts/d",
    "PREFERENCES": "Dir::Etc::preferences/f",
    "PREFERENCESPARTS": "Dir::Etc::preferencesparts/d",
    "UNATTENDED": "APT::Periodic::Unattended-Upgrade",
}
_SHELL_LINE = re.compile(r"^([A-Z]+)='((?:[^']|'\\'')*)'$")
_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*)\)(?: \[[^\]]*\])*$")
_UPGRADABLE = re.compile(r"^(\S+?)/\S+ (\S+) \S+ \[upgradable from: ([^\]]+)\]$")
_ARCH = re.compile(r"\s*\[[^\[\]]*\]$")
_NOT_LISTS = frozenset({"lock", "partial", "auxfiles"})
_STAMPS = ("periodic/update-success-stamp", "periodic/update-stamp")
_TIMERS = Path("/etc/systemd/system/timers.target.wants")
_ZYPPER_UPDATE = re.compile(r"<update\s([^<>]*)>")
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"<>]*)"')
_NEVRA = re.compile(r"^(?P<name>.+)-(?P<version>(?:\d+:)?[^-]+-[^-]+)\.(?P<arch>[^.]+)$")


def updates(env: Mapping[str, str], timeout: float = TIMEOUT_SECONDS) -> Updates:
    """What the first package manager found (apt, dnf, zypper, PackageKit alone) knows."""
    search = env.get("PATH") or os.defpath
    child = {"LC_ALL": "C", "PATH": search}
    if env.get("APT_CONFIG"):
        child["APT_CONFIG"] = env["APT_CONFIG"]
    run = _asker(child, timeout)
    apt_get = shutil.which("apt-get", path=search)
    if apt_get is not None and shutil.which("apt-config", path=search) is not None:
        flag = Path(env.get("HYGIENE_REBOOT_REQUIRED") or "/run/reboot-required")
        apt = shutil.which("apt", path=search) or apt_get
        return apt_updates(run, (apt_get, apt), flag, env.get("APT_CONFIG"))
    for dnf in ("dnf", "dnf5"):
        if shutil.which(dnf, path=search) is not None:
            return dnf_updates(run, dnf)
    if shutil.which("zypper", path=search) is not None:
        return zypper_updates(run)
    found = packagekit_updates()
    if found is not None:
        return found
    raise ProbeUnavailable(
        "no package manager this agent knows (apt, dnf, zypper, PackageKit) is on this computer"
    )


def _asker(env: Mapping[str, str], most: float) -> Runner:
    def run(argv: Sequence[str]) -> Answer | str:
        slow = argv[0].endswith("apt-get") or "list-patches" in argv or "updateinfo" in argv
        timeout = min(most, TIMEOUT_SECONDS if slow else QUICK_SECONDS)
        return ask(argv, env, timeout=timeout, limit=MAX_OUTPUT)

    return run


# --- apt -------------------------------------------------------------------------------------


def apt_updates(
    run: Runner, tools: tuple[str, str], restart_flag: Path, config_file: str | None = None
) -> Updates:
    """`tools`: apt-get and apt. `config_file`: APT_CONFIG, one more file whose change
    changes the answer."""
    apt_get, apt = tools
    problems: list[str] = []
    argv = ["apt-config", "shell"]
    for name, key in APT_KEYS.items():
        argv += [name, key]
    said = run(argv)
    if isinstance(said, str) or said.code != 0:
        why = said if isinstance(said, str) else f"it failed with exit status {said.code}"
        raise ProbeUnavailable(f"apt's settings could not be read: {why}.")
    conf = parse_apt_shell(said.out)
    if "LISTS" not in conf or "STATUS" not in conf:
        raise ProbeUnavailable("apt-config did not name apt's package lists or dpkg's status.")
    lists = Path(conf["LISTS"])
    # apt reads every list it has, 60,000 packages on Debian, and that took 2 to 12 s a run;
    # given the security sources' lists alone it reads a few thousand (bench/updates.py).
    only = _security_lists(lists)
    try:
        if only is not None:
            # The security lists alone: whatever is upgradable is a security update waiting.
            asked = run(
                [apt, "-o", "Debug::NoLocking=true", *_only_these(only), "list", "--upgradable"]
            )
        else:
            asked = run([apt_get, "-s", *_SIMULATE, "upgrade"])
    finally:
        if only is not None:
            shutil.rmtree(only, ignore_errors=True)
    pending: tuple[PendingUpdate, ...] | None = None
    if isinstance(asked, str):
        problems.append(f"what is waiting could not be asked: {asked}")
    elif asked.code != 0:
        problems.append(
            f"apt could not tell what is waiting (exit status {asked.code}; "
            "sudo apt-get check says why)"
        )
    else:
        found = (
            parse_apt_upgradable(asked.out) if only is not None else parse_apt_simulation(asked.out)
        )
        if found is None:
            problems.append("apt answered in a form this agent does not know")
        else:
            pending = found
    state = Path(conf.get("STATE", str(lists.parent)))
    checked, listed, list_problem = _lists_date(lists, [state / s for s in _STAMPS])
    if list_problem:
        problems.append(list_problem)
    automatic, how = _unattended(conf.get("UNATTENDED"), Path(conf["STATUS"]), problems)
    restart, restart_for, restart_since = _reboot_required(restart_flag)
    sources = [
        *([config_file] if config_file else []),
        str(lists),
        *listed,
        *(str(state / s) for s in _STAMPS),
        conf["STATUS"],
        *_with_entries(conf, "MAIN", "PARTS", "SOURCELIST", "SOURCEPARTS"),
        *_with_entries(conf, "PREFERENCES", "PREFERENCESPARTS"),
        str(restart_flag),
        f"{restart_flag}.pkgs",
    ]
    return Updates(
        "apt",
        pending or (),
        listed=pending is not None,
        checked=checked,
        automatic=automatic,
        automatic_how=how,
        restart=restart,
        restart_for=restart_for,
        restart_since=restart_since,
        problems=tuple(problems),
        # Unread problems mean a fresh look next time, not a kept answer.
        sources=tuple(dict.fromkeys(sources)) if not problems else (),
    )


_SIMULATE = (
    "-o",
    "Debug::NoLocking=true",
    "-o",
    "APT::Get::Show-User-Simulation-Note=false",
    # What `apt upgrade` (the advice) installs: an update that needs a new package (a
    # kernel's new ABI) is not kept back.
    "-o",
    "APT::Get::Upgrade-Allow-New=true",
)
_RELEASE_FIELD = re.compile(rb"^(Suite|Label): *(\S[^\n]*?) *$", re.M)


def _security_lists(lists: Path) -> Path | None:
    """A new folder of links to the lists of the security sources alone (their Release
    file says a `*-security` suite or the Debian-Security label), or None when there is
    none or the lists cannot be looked at (then apt is given all of them)."""
    try:
        with os.scandir(lists) as entries:
            names = sorted(e.name for e in entries if e.is_file())[:MAX_LIST_FILES]
    except OSError:
        return None
    prefixes = []
    for name in names:
        stem = name.removesuffix("InRelease").removesuffix("Release")
        if stem == name or not _security_release(lists / name):
            continue
        prefixes.append(stem)
    if not prefixes:
        return None
    chosen = [n for n in names if n.startswith(tuple(prefixes))]
    folder = Path(tempfile.mkdtemp(prefix="hygiene-apt-lists-"))
    for name in chosen:
        (folder / name).symlink_to(lists / name)
    return folder


def _security_release(path: Path) -> bool:
    """Whether a Release or InRelease file's head names a security suite or label."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return False
        head = handle.read(MAX_RELEASE_HEAD)
    # The fields before the first checksum list; in an InRelease, after the PGP header.
    head = head.split(b"\nMD5Sum:", 1)[0].split(b"\nSHA256:", 1)[0]
    fields: dict[str, str] = {}
    for match in _RELEASE_FIELD.finditer(head):
        fields.setdefault(match.group(1).decode(), match.group(2).decode("utf-8", "replace"))
    suite, label = fields.get("Suite", ""), fields.get("Label", "")
    return suite.lower().endswith("-security") or label.lower() == "debian-security"


def _only_these(folder: Path) -> list[str]:
    # No binary cache: the system's was built from every list, and one built from these
    # alone must not take its place (the agent may run as root).
    return [
        "-o",
        f"Dir::State::lists={folder}/",
        "-o",
        "Dir::Cache::pkgcache=",
        "-o",
        "Dir::Cache::srcpkgcache=",
    ]


def parse_apt_shell(text: str) -> dict[str, str]:
    """`apt-config shell`'s NAME='value' lines (a quote inside written '\\''), by name."""
    found = {}
    for line in text.splitlines():
        match = _SHELL_LINE.match(line.strip())
        if match is not None:
            found[match.group(1)] = match.group(2).replace("'\\''", "'")
    return found


def parse_apt_upgradable(text: str) -> tuple[PendingUpdate, ...] | None:
    """`apt list --upgradable`'s lines, `NAME/SUITES VERSION ARCH [upgradable from: OLD]`,
    given the security sources' lists alone; None when the text is not apt's."""
    found: list[PendingUpdate] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("Listing..."):
            continue
        match = _UPGRADABLE.match(line)
        if match is None:
            return None
        name, version, installed = match.groups()
        found.append(PendingUpdate(name, installed, version, security=True))
    return tuple(found[:MAX_PENDING])


def parse_apt_simulation(text: str) -> tuple[PendingUpdate, ...] | None:
    """The Inst lines of `apt-get -s upgrade`; None when the text is not apt's (no line of
    apt's summary and no Inst line)."""
    found: list[PendingUpdate] = []
    summary = False
    for line in text.splitlines():
        if line.startswith("Inst "):
            match = _INST.match(line)
            if match is None:
                return None
            name, installed, version, rest = match.groups()
            if installed is None:
                continue  # a new package another one's upgrade pulls in: part of that one
            origins = _ARCH.sub("", rest)
            found.append(PendingUpdate(name, installed, version, _security(origins)))
        elif re.match(r"^\d+ upgraded, \d+ newly installed", line):
            summary = True
    if not found and not summary:
        return None
    return tuple(found[:MAX_PENDING])


def _security(origins: str) -> bool:
    for origin in origins.split(", "):
        label, _, rest = origin.partition(":") if ":" in origin else ("", "", origin)
        archive = rest.rpartition("/")[2]
        if archive.lower().endswith("-security") or label.lower() == "debian-security":
            return True
    return False


def _lists_date(
    lists: Path, stamps: Sequence[Path]
) -> tuple[datetime | None, list[str], str | None]:
    """When apt last fetched its lists, the list files, and why that is not known."""
    newest = 0.0
    listed: list[str] = []
    try:
        with os.scandir(lists) as entries:
            for entry in entries:
                if entry.name in _NOT_LISTS or entry.name.endswith(".lock"):
                    continue
                if len(listed) >= MAX_LIST_FILES:
                    break
                listed.append(entry.path)
                # The entry itself: for a file: source apt links to the repository's file,
                # and the link's date is when apt fetched it.
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
    except FileNotFoundError:
        return None, [], "apt has no package lists yet (sudo apt update fetches them)"
    except OSError as err:
        why = (err.strerror or "not readable").lower()
        return None, [], f"apt's package lists could not be read ({why})"
    for stamp in stamps:
        try:
            newest = max(newest, stamp.stat().st_mtime)
        except OSError:
            continue
    if not listed:
        return None, [], "apt has no package lists yet (sudo apt update fetches them)"
    return datetime.fromtimestamp(newest, UTC), sorted(listed), None


def _unattended(value: str | None, status: Path, problems: list[str]) -> tuple[bool | None, str]:
    installed = _dpkg_installed(status, "unattended-upgrades", problems)
    if installed is False:
        return False, "the unattended-upgrades package is not installed"
    if value is None or value.strip() in ("", "0"):
        return False, "APT::Periodic::Unattended-Upgrade is 0 or not set"
    if installed is None:
        return None, "whether unattended-upgrades is installed cannot be told"
    return True, "unattended-upgrades runs by itself"


def _dpkg_installed(status: Path, package: str, problems: list[str]) -> bool | None:
    try:
        data = read_small_file(status, MAX_STATUS)
    except OSError as err:
        why = (err.strerror or "not readable").lower()
        problems.append(f"dpkg's status file could not be read ({why})")
        return None
    start = data.find(f"Package: {package}\n".encode())
    while start > 0 and data[start - 1 : start] != b"\n":
        start = data.find(f"Package: {package}\n".encode(), start + 1)
    if start < 0:
        return False
    end = data.find(b"\n\n", start)
    stanza = data[start : end if end >= 0 else len(data)]
    return re.search(rb"^Status: \S+ ok installed$", stanza, re.MULTILINE) is not None


def _reboot_required(flag: Path) -> tuple[bool | None, tuple[str, ...], datetime | None]:
    """Debian's and Ubuntu's flag: packages that need a restart write /run/reboot-required
    (update-notifier-common's and needrestart's hooks) and their names in its .pkgs."""
    try:
        since = datetime.fromtimestamp(flag.lstat().st_mtime, UTC)
    except FileNotFoundError:
        return False, (), None
    except OSError:
        return None, (), None
    try:
        names = read_small_file(Path(f"{flag}.pkgs"), MAX_SMALL).decode("utf-8", "replace")
    except OSError:
        return True, (), since
    lines = dict.fromkeys(n.strip() for n in names.splitlines() if n.strip())
    return True, tuple(lines)[:MAX_PENDING], since


def _with_entries(conf: Mapping[str, str], *names: str) -> list[str]:
    """The files and folders named, and the files in the folders (whose changes the
    folders' own dates do not show)."""
    found = []
    for name in names:
        if name not in conf:
            continue
        found.append(conf[name].rstrip("/") or "/")
        if conf[name].endswith("/"):
            try:
                with os.scandir(conf[name]) as entries:
                    found += sorted(e.path for e in entries)[:MAX_LIST_FILES]
            except OSError:
                continue
    return found


# --- dnf -------------------------------------------------------------------------------------


def dnf_updates(run: Runner, dnf: str, root: Path = Path("/")) -> Updates:
    """`root` stands for / in tests (this machine has no dnf)."""
    said = run([dnf, "-C", "-q", "updateinfo", "list", "--security", "--available"])
    trouble = None
    if isinstance(said, Answer) and said.code != 0:
        trouble = (
            f"dnf could not tell what is waiting from its cache (exit status {said.code}); "
            "sudo dnf makecache fetches it"
        )
    automatic, how = _dnf_automatic(root)
    return _cached_manager(
        "dnf",
        said,
        trouble,
        parse_dnf_updateinfo,
        checked=_newest(root, ("var/cache/dnf", "var/cache/libdnf5")),
        automatic=(automatic, how),
        # Exit status 1: a restart is needed; 0: not.
        restart=_exit_says(run([dnf, "-C", "-q", "needs-restarting", "-r"]), yes=1),
        root=root,
    )


def _cached_manager(
    manager: str,
    said: Answer | str,
    trouble: str | None,
    parse: Callable[[str], tuple[PendingUpdate, ...] | None],
    *,
    checked: datetime | None,
    automatic: tuple[bool | None, str],
    restart: bool | None,
    root: Path,
) -> Updates:
    """dnf's and zypper's answer: what the listing said, or why it said nothing."""
    problems = []
    pending: tuple[PendingUpdate, ...] | None = None
    if isinstance(said, str):
        problems.append(f"what is waiting could not be asked: {said}")
    elif trouble is not None:
        problems.append(trouble)
    else:
        found = parse(said.out)
        if found is None:
            problems.append(f"{manager} answered in a form this agent does not know")
        else:
            pending = found
    count, since, problem = _prepared(root)
    if problem:
        problems.append(problem)
    return Updates(
        manager,
        pending or (),
        listed=pending is not None,
        checked=checked,
        automatic=automatic[0],
        automatic_how=automatic[1],
        restart=restart,
        prepared=count,
        prepared_since=since,
        problems=tuple(problems),
    )


def _exit_says(said: Answer | str, *, yes: int) -> bool | None:
    if isinstance(said, Answer) and said.code in (0, yes):
        return said.code == yes
    return None


def parse_dnf_updateinfo(text: str) -> tuple[PendingUpdate, ...] | None:
    """Security advisories for installed packages, as dnf 4 prints them (ADVISORY TYPE/SEVERITY
    NEVRA) or dnf 5 (a table: Name Type Severity Package Issued); one update per package
    (the newest version named). None when a line is neither."""
    found: dict[str, PendingUpdate] = {}
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] in ("Name", "Last"):
            continue
        match = next((m for w in words[1:] if (m := _NEVRA.match(w))), None)
        kinds = [w.lower() for w in words[1:3]]
        if match is None or not any(k.endswith("/sec.") or k == "security" for k in kinds):
            return None
        name = match["name"]
        found[name] = PendingUpdate(name, "", match["version"], True)
        if len(found) >= MAX_PENDING:
            break
    return tuple(found.values())


def _dnf_automatic(root: Path) -> tuple[bool | None, str]:
    timers = root / _TIMERS.relative_to("/")
    if (timers / "dnf-automatic-install.timer").exists():
        return True, "dnf-automatic-install.timer is on"
    for timer, conf in (
        ("dnf-automatic.timer", "etc/dnf/automatic.conf"),
        ("dnf5-automatic.timer", "etc/dnf/dnf5-plugins/automatic.conf"),
    ):
        if (timers / timer).exists():
            text = _small_text(root / conf)
            if text is not None and re.search(
                r"^\s*apply_updates\s*=\s*(yes|true|1|on)\s*$", text, re.I | re.M
            ):
                return True, f"{timer} is on and installs updates"
            return False, f"{timer} is on but only downloads (apply_updates is off)"
    return False, "dnf-automatic is not on"


# --- zypper ----------------------------------------------------------------------------------


def zypper_updates(run: Runner, root: Path = Path("/")) -> Updates:
    said = run(
        [
            "zypper",
            "--no-refresh",
            "--non-interactive",
            "--xmlout",
            "list-patches",
            "--category",
            "security",
        ]
    )
    trouble = None
    if isinstance(said, Answer) and said.code == 7:
        trouble = "zypper is busy with another program (its lock is held)"
    elif isinstance(said, Answer) and said.code not in (0, 100, 101):
        # 100 and 101 are its answers "patches are needed" and "security patches are needed".
        trouble = f"zypper could not tell what is waiting (exit status {said.code})"
    return _cached_manager(
        "zypper",
        said,
        trouble,
        parse_zypper_patches,
        checked=_newest(root, ("var/cache/zypp/raw",)),
        automatic=_zypper_automatic(root),
        # Exit status 102: a restart is needed; 0: not.
        restart=_exit_says(run(["zypper", "needs-rebooting"]), yes=102),
        root=root,
    )


def parse_zypper_patches(text: str) -> tuple[PendingUpdate, ...] | None:
    """The needed security patches in `zypper --xmlout list-patches`; None when the text is
    not zypper's XML."""
    if "<stream" not in text or "</stream>" not in text:
        return None
    found = []
    # Only the start tags' attributes are read, by a strict pattern: no XML parser meets
    # what the tool printed (entities, nesting).
    for tag in _ZYPPER_UPDATE.finditer(text):
        attributes = dict(_ATTRIBUTE.findall(tag.group(1)))
        if attributes.get("kind", "patch") != "patch":
            continue
        if attributes.get("status", "needed") not in ("needed", "applicable"):
            continue
        security = attributes.get("category", "") == "security"
        name = html.unescape(attributes.get("name", "?"))
        edition = html.unescape(attributes.get("edition", ""))
        found.append(PendingUpdate(name, "", edition, security))
        if len(found) >= MAX_PENDING:
            break
    return tuple(found)


def _zypper_automatic(root: Path) -> tuple[bool | None, str]:
    if (root / _TIMERS.relative_to("/") / "transactional-update.timer").exists():
        return True, "transactional-update.timer is on"
    text = _small_text(root / "etc/sysconfig/automatic_online_update")
    if text is not None and re.search(r'^\s*AOU_ENABLE_CRONJOB\s*=\s*"?true"?\s*$', text, re.M):
        return True, "the automatic online update is on"
    return False, "neither the automatic online update nor transactional-update is on"


# --- PackageKit and shared -------------------------------------------------------------------


def packagekit_updates(root: Path = Path("/")) -> Updates | None:
    """PackageKit alone (no manager above): its prepared offline update; None without one."""
    count, since, problem = _prepared(root)
    if not count and problem is None:
        return None
    return Updates(
        "PackageKit",
        (),
        prepared=count,
        prepared_since=since,
        problems=(problem,) if problem else (),
    )


def _prepared(root: Path) -> tuple[int, datetime | None, str | None]:
    """PackageKit's offline update: how many packages wait for a restart, since when."""
    path = root / "var/lib/PackageKit/prepared-update"
    try:
        since = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        text = read_small_file(path, MAX_SMALL).decode("utf-8", "replace")
    except FileNotFoundError:
        return 0, None, None
    except OSError as err:
        why = (err.strerror or "not readable").lower()
        return 0, None, f"PackageKit's prepared update could not be read ({why})"
    ids = parse_prepared_update(text)
    if ids is None:
        return 0, None, "PackageKit's prepared update is in a form this agent does not know"
    return len(ids), since, None


def parse_prepared_update(text: str) -> tuple[str, ...] | None:
    """Package ids (name;version;arch;data) in PackageKit's prepared-update: the key file's
    [update] prepared_ids, comma-separated, or the older file's one id a line."""
    ids: list[str] = []
    if re.search(r"^\s*\[update\]\s*$", text, re.M):
        match = re.search(r"^\s*prepared_ids\s*=\s*(.*)$", text, re.M)
        if match is None:
            return None
        ids = [i.strip() for i in match.group(1).split(",") if i.strip()]
    else:
        ids = [line.strip() for line in text.splitlines() if line.strip()]
    if not all(i.count(";") == 3 for i in ids):
        return None
    return tuple(i.split(";")[0] for i in ids)


def _newest(root: Path, caches: Sequence[str]) -> datetime | None:
    newest = 0.0
    for cache in caches:
        folder = root / cache
        try:
            with os.scandir(folder) as repos:
                for repo in list(repos)[:MAX_LIST_FILES]:
                    try:
                        mtime = Path(repo.path, "repodata", "repomd.xml").stat().st_mtime
                    except OSError:
                        continue
                    newest = max(newest, mtime)
        except OSError:
            continue
    return datetime.fromtimestamp(newest, UTC) if newest else None


def _small_text(path: Path) -> str | None:
    try:
        return read_small_file(path, MAX_SMALL).decode("utf-8", "replace")
    except OSError:
        return None
