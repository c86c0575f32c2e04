"""install/build-deb.sh for real, as root: the package is built from this checkout, installed
with dpkg with no network, run by a person who is not root, and removed without a trace but
that person's own state."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import __version__ as VERSION
from tests.conftest import REPO, missing_component, require_tool

PACKAGE = "hygiene-agent"
PREFIX = Path("/opt/hygiene-agent")
COMMAND = Path("/usr/bin/hygiene")
UNIT = Path("/usr/lib/systemd/user/hygiene-agent.service")
ENABLED = Path("/etc/systemd/user/default.target.wants/hygiene-agent.service")
NOBODY = 65534


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)


def installed() -> bool:
    status = run(require_tool("dpkg-query"), "-W", "-f=${Status}", PACKAGE).stdout
    return "installed" in status


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        missing_component("installing a Debian package needs root")
    require_tool("dpkg-deb")
    if installed() or PREFIX.exists():
        missing_component(f"{PACKAGE} is already installed here; this test would remove it")
    out = tmp_path_factory.mktemp("deb")
    built = run(require_tool("sh"), str(REPO / "install" / "build-deb.sh"), str(out))
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("hygiene-agent_*_*.deb")
    assert built.stdout.strip() == str(path)
    return path


@pytest.fixture
def installed_deb(deb: Path) -> Iterator[Path]:
    try:
        yield deb
    finally:
        if installed():
            run(require_tool("dpkg"), "--purge", PACKAGE)


def test_the_package_holds_the_agent_its_unit_and_the_admin_folders(deb: Path) -> None:
    info = run(require_tool("dpkg-deb"), "--info", str(deb))
    assert info.returncode == 0, info.stderr
    assert "Package: hygiene-agent" in info.stdout
    assert "python3 (>= 3.1" in info.stdout
    assert "python3-venv" in info.stdout
    for script in ("postinst", "prerm", "postrm"):
        assert script in info.stdout
    contents = run(require_tool("dpkg-deb"), "--contents", str(deb)).stdout
    for entry in (
        "./etc/hygiene-agent/policies.d/",
        "./etc/hygiene-agent/keys/",
        "./usr/lib/systemd/user/hygiene-agent.service",
        "./usr/bin/hygiene -> /opt/hygiene-agent/venv/bin/hygiene",
        "./opt/hygiene-agent/wheels/hygiene_agent-",
        "./opt/hygiene-agent/wheels/pydantic_core-",
    ):
        assert entry in contents, entry
    # Everything root's: --root-owner-group, whoever built it.
    assert all(" root/root " in line for line in contents.splitlines())


def test_the_package_ships_the_alert_rules_as_the_repository_has_them(deb: Path) -> None:
    listed = run(require_tool("dpkg-deb"), "--contents", str(deb)).stdout
    shipped = "./usr/share/doc/hygiene-agent/prometheus/hygiene.rules.yml"
    assert shipped in listed
    with tempfile.TemporaryDirectory() as out:
        unpacked = run(require_tool("dpkg-deb"), "-x", str(deb), out)
        assert unpacked.returncode == 0, unpacked.stderr
        rules = Path(out) / shipped.removeprefix("./")
        assert rules.read_bytes() == (REPO / "install/prometheus/hygiene.rules.yml").read_bytes()
        assert (Path(out) / "usr/share/doc/hygiene-agent/fleet.md").exists()


def files_of(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_installed_for_every_person_then_removed_leaving_their_state(
    installed_deb: Path,
) -> None:
    admin_folder_was_there = Path("/etc/hygiene-agent").exists()
    # No network during the install: the venv comes from the wheels in the package.
    install = run(require_tool("unshare"), "--net", require_tool("dpkg"), "-i", str(installed_deb))
    assert install.returncode == 0, install.stdout + install.stderr
    assert COMMAND.resolve() == PREFIX / "venv" / "bin" / "hygiene"
    assert ENABLED.is_symlink()
    assert ENABLED.resolve() == UNIT
    assert "ExecStart=/opt/hygiene-agent/venv/bin/hygiene run\n" in UNIT.read_text()

    with tempfile.TemporaryDirectory() as runtime:
        verify = run(
            require_tool("systemd-analyze"),
            "--user",
            "verify",
            str(UNIT),
            env={**os.environ, "XDG_RUNTIME_DIR": runtime},
        )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == ""

    home = Path(tempfile.mkdtemp(prefix="hygiene-deb-home-"))
    try:
        os.chown(home, NOBODY, NOBODY)
        # A person who is not root, with nothing of this checkout around.
        check = run(
            require_tool("setpriv"),
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--",
            str(COMMAND),
            "check",
            env={"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"},
        )
        assert check.returncode in (0, 1), check.stderr
        assert "Policy: default, revision 1." in check.stdout
        state = home / ".local" / "state" / "hygiene-agent"
        kept = files_of(state)
        assert "install.key" in kept

        # Installing over itself, as an upgrade does: postinst makes the venv afresh.
        again = run(
            require_tool("unshare"), "--net", require_tool("dpkg"), "-i", str(installed_deb)
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert run(str(COMMAND), "--version").returncode == 0
        assert ENABLED.resolve() == UNIT

        remove = run(require_tool("dpkg"), "-r", PACKAGE)
        assert remove.returncode == 0, remove.stderr
        assert not PREFIX.exists()
        assert not COMMAND.exists()
        assert not COMMAND.is_symlink()
        assert not UNIT.exists()
        assert not ENABLED.is_symlink()
        assert files_of(state) == kept

        purge = run(require_tool("dpkg"), "--purge", PACKAGE)
        assert purge.returncode == 0, purge.stderr
        assert not installed()
        assert Path("/etc/hygiene-agent").exists() == admin_folder_was_there
        assert files_of(state) == kept
    finally:
        shutil.rmtree(home)


def account(name: str, home: Path) -> int:
    """A real account, as `useradd` makes one; its uid."""
    made = run(require_tool("useradd"), "--home-dir", str(home), "--create-home",
               "--shell", "/usr/sbin/nologin", "--user-group", name)  # fmt: skip
    assert made.returncode == 0, made.stderr
    return pwd.getpwnam(name).pw_uid


def test_two_people_on_one_computer_each_report_their_own_prometheus_file(
    installed_deb: Path,
) -> None:
    """The package installed once; two accounts each run the agent (as the user unit would
    at their login); node_exporter reads one file per person from a sticky shared folder."""
    from tests.test_fleet import node_exporter_on, scrape, value

    install = run(require_tool("unshare"), "--net", require_tool("dpkg"), "-i", str(installed_deb))
    assert install.returncode == 0, install.stdout + install.stderr
    tag = os.urandom(3).hex()
    names = {"dirty": f"hyg-ann-{tag}", "clean": f"hyg-bob-{tag}"}
    homes = Path(tempfile.mkdtemp(prefix="hygiene-deb-people-"))
    homes.chmod(0o755)  # each account reaches its own home in it
    # Outside pytest's own folder, which only root may enter; sticky, as node_exporter's
    # shared folder is (docs/fleet.md): each person writes and replaces only their own file.
    shared = Path(tempfile.mkdtemp(prefix="hygiene-deb-textfile-"))
    shared.chmod(0o1777)
    policy = Path("/etc/hygiene-agent/policies.d/50-test-fleet.yaml")
    policy.write_text(
        f"schema: 1\nname: fleet\nrevision: 1\nreport: {{prometheus_dir: '{shared}'}}\n"
    )
    made: list[str] = []
    try:
        uids = {}
        for role, name in names.items():
            uids[role] = account(name, homes / name)
            made.append(name)
        ssh = homes / names["dirty"] / ".ssh"
        ssh.mkdir(mode=0o700)
        keygen = run(require_tool("ssh-keygen"), "-q", "-N", "", "-t", "ed25519",
                     "-f", str(ssh / "id_ed25519"))  # fmt: skip
        assert keygen.returncode == 0, keygen.stderr
        shutil.chown(ssh, names["dirty"], names["dirty"])
        for key in ssh.iterdir():
            shutil.chown(key, names["dirty"], names["dirty"])
        for role, name in names.items():
            once = run(
                require_tool("setpriv"),
                f"--reuid={uids[role]}",
                f"--regid={uids[role]}",
                "--init-groups",
                "--",
                str(COMMAND),
                "run",
                "--once",
                env={
                    "PATH": "/usr/bin:/bin",
                    "HOME": str(homes / name),
                    "LANG": "C.UTF-8",
                    "USER": name,
                },
            )
            assert once.returncode == 0, once.stderr
            assert "Traceback" not in once.stderr

        files = sorted(p.name for p in shared.iterdir())
        assert files == sorted(f"hygiene-{uid}.prom" for uid in uids.values())
        for uid in uids.values():
            written = shared / f"hygiene-{uid}.prom"
            assert written.stat().st_uid == uid
            for name in names.values():  # never a user name, in a file's name or in it
                assert name not in written.read_text()
                assert name not in written.name

        with node_exporter_on(shared) as url:
            got = scrape(url)
        assert value(got, "node_textfile_scrape_error") == 0
        dirty, clean = str(uids["dirty"]), str(uids["clean"])
        assert value(got, "hygiene_check_failing", check="ssh_keys", uid=dirty) == 1
        assert value(got, "hygiene_check_failing", check="ssh_keys", uid=clean) == 0
        for each in (dirty, clean):
            assert value(got, "hygiene_agent_info", version=VERSION, layout="2", uid=each) == 1
    finally:
        policy.unlink(missing_ok=True)
        for name in made:
            run(require_tool("userdel"), "--remove", name)
        shutil.rmtree(homes, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)
        run(require_tool("dpkg"), "--purge", PACKAGE)
