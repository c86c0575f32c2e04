"""A real apt on private folders: two local file:// repositories built with dpkg-deb and
apt-ftparchive, one looking like Debian's security archive (Origin Debian, Label
Debian-Security, Suite stable-security) and one like its stable-updates, and an APT_CONFIG
that points every folder apt uses (state, lists, dpkg status, cache, sources, apt.conf.d,
preferences) into a temporary folder. `apt-get update` fetches from the file:// sources
only: no network, and nothing of the machine's own apt is read or changed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {
    # name: (installed, in the security archive, in stable-updates)
    "hyg-openssl": ("1.0", "1.1", None),
    "hyg-curl": ("7.0", "7.1", None),
    "hyg-tzdata": ("2024a", None, "2024b"),
    "hyg-kept": ("2.0", None, None),
    # A kernel's security update comes as a new package the meta package depends on: plain
    # `apt-get upgrade` keeps it back, `apt upgrade` installs it.
    "hyg-kernel": ("6.1", "6.2", None),
}
NEW_PACKAGES = {"hyg-kernel-6.2": "6.2"}  # in the security archive, installed by no one
DEPENDS = {
    ("hyg-kernel", "6.2"): "hyg-kernel-6.2",
    ("hyg-needs", "3.1"): "hyg-base (>= 2.1)",
}
# With build(needs_normal=True): a security update that needs a newer package only the
# normal archive has (name: installed, in the security archive, in stable-updates).
NEEDS_NORMAL = {"hyg-needs": ("3.0", "3.1", None), "hyg-base": ("2.0", None, "2.1")}


@dataclass(frozen=True)
class AptRepo:
    root: Path
    config: Path
    env: dict[str, str]

    @property
    def lists(self) -> Path:
        return self.root / "state" / "lists"

    @property
    def status(self) -> Path:
        return self.root / "state" / "status"

    @property
    def parts(self) -> Path:
        return self.root / "etc" / "apt.conf.d"

    def update(self) -> None:
        """A real `apt-get update` against the file:// sources."""
        subprocess.run(
            ["apt-get", "-q", "update"],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def age_lists(self, seconds: float) -> None:
        """Make the lists (and the periodic stamps) look fetched `seconds` ago."""
        when = time.time() - seconds
        for entry in [*self.lists.iterdir(), *(self.root / "state" / "periodic").glob("*")]:
            if entry.name not in ("lock", "partial", "auxfiles"):
                os.utime(entry, (when, when), follow_symlinks=False)

    def unattended(self, *, installed: bool, periodic: str | None) -> None:
        """unattended-upgrades installed (in the private dpkg status) or not, and
        APT::Periodic::Unattended-Upgrade in the private apt.conf.d."""
        extra = {"unattended-upgrades": "2.9"} if installed else {}
        write_status(self.status, {**_installed(), **extra})
        conf = self.parts / "20auto-upgrades"
        if periodic is None:
            conf.unlink(missing_ok=True)
        else:
            conf.write_text(
                'APT::Periodic::Update-Package-Lists "1";\n'
                f'APT::Periodic::Unattended-Upgrade "{periodic}";\n'
            )


def _installed() -> dict[str, str]:
    return {name: versions[0] for name, versions in PACKAGES.items()}


def write_status(path: Path, installed: Mapping[str, str]) -> None:
    """A dpkg status file listing each package as installed at its version."""
    stanzas = [
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
        f"Architecture: all\nVersion: {version}\nMaintainer: Test <t@example.org>\n"
        f"Description: a package of the test repository\n"
        for name, version in installed.items()
    ]
    path.write_text("\n".join(stanzas) + "\n")


def _deb(build: Path, out: Path, name: str, version: str) -> None:
    folder = build / f"{name}-{version}"
    (folder / "DEBIAN").mkdir(parents=True)
    depends = DEPENDS.get((name, version))
    (folder / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        + (f"Depends: {depends}\n" if depends else "")
        + "Maintainer: Test <t@example.org>\nDescription: a package of the test repository\n"
    )
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "--build", str(folder), str(out / f"{name}_{version}_all.deb")],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _archive(folder: Path, **release: str) -> None:
    options = []
    for field, value in release.items():
        options += ["-o", f"APT::FTPArchive::Release::{field}={value}"]
    # Packages first: the Release lists its checksums.
    for name, argv in (("Packages", ["packages", "."]), ("Release", [*options, "release", "."])):
        written = subprocess.run(
            ["apt-ftparchive", *argv], cwd=folder, check=True, capture_output=True, timeout=60
        )
        (folder / name).write_bytes(written.stdout)


def build(root: Path, *, extra_security: int = 0, needs_normal: bool = False) -> AptRepo:
    """The repositories and apt's private folders under `root`, lists not fetched yet.
    `extra_security`: that many more packages with a security update (for the bench)."""
    build_dir = root / "build"
    security = root / "repo-security"
    updates = root / "repo-updates"
    for folder in (security, updates):
        folder.mkdir(parents=True)
    installed = _installed()
    table = {**PACKAGES, **(NEEDS_NORMAL if needs_normal else {})}
    installed.update((name, versions[0]) for name, versions in table.items())
    for name, (_, fixed, newer) in table.items():
        if fixed:
            _deb(build_dir, security, name, fixed)
        if newer:
            _deb(build_dir, updates, name, newer)
    for name, version in NEW_PACKAGES.items():
        _deb(build_dir, security, name, version)
    for n in range(extra_security):
        name = f"hyg-lib{n}"
        installed[name] = "1.0"
        _deb(build_dir, security, name, "1.1")
    _archive(
        security,
        Origin="Debian",
        Label="Debian-Security",
        Suite="stable-security",
        Codename="bookworm-security",
        Version="12",
    )
    _archive(
        updates,
        Origin="Debian",
        Label="Debian",
        Suite="stable-updates",
        Codename="bookworm-updates",
    )
    state = root / "state"
    for folder in (
        state / "lists" / "partial",
        state / "periodic",
        root / "cache" / "archives" / "partial",
        root / "etc" / "apt.conf.d",
        root / "etc" / "sources.list.d",
        root / "etc" / "preferences.d",
    ):
        folder.mkdir(parents=True, exist_ok=True)
    write_status(state / "status", installed)
    (root / "etc" / "sources.list").write_text(
        f"deb [trusted=yes] file:{security} ./\ndeb [trusted=yes] file:{updates} ./\n"
    )
    config = root / "apt.conf"
    config.write_text(
        f'Dir::State "{state}";\n'
        f'Dir::State::status "{state}/status";\n'
        f'Dir::Cache "{root}/cache";\n'
        f'Dir::Etc "{root}/etc";\n'
        f'Dir::Etc::sourcelist "{root}/etc/sources.list";\n'
        f'Dir::Etc::sourceparts "{root}/etc/sources.list.d";\n'
        f'Dir::Etc::parts "{root}/etc/apt.conf.d";\n'
        f'Dir::Etc::preferencesparts "{root}/etc/preferences.d";\n'
        # As Debian's own: the update stamp written after each successful update.
        f'APT::Update::Post-Invoke-Success {{"touch {state}/periodic/update-success-stamp";}};\n'
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APT_CONFIG": str(config),
        "LC_ALL": "C",
        "HYGIENE_REBOOT_REQUIRED": str(root / "run" / "reboot-required"),
    }
    (root / "run").mkdir()
    return AptRepo(root, config, env)
