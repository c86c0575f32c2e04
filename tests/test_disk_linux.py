"""The Linux disk-encryption probe: layouts of real machines, this machine, real file systems.

Layouts: /sys and /proc trees of machines with LUKS, LVM, RAID, btrfs, systemd-homed,
eCryptfs, NFS, tmpfs and containers, kept as manifests in tests/data/disk/ (README.md there)
and built here with real files and symlinks. This machine: its own /sys and /proc must give
a clear answer. Real file systems (as root): an ext4 image with a folder encrypted by the
fscrypt tool, a btrfs image, a tmpfs and an overlay, each mounted in the test's folder and
unmounted (and its loop device detached) whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.probes import Volume, disk_encryption
from agent.probes._linux_disk import disk_encryption as disk_encryption_at
from tests.conftest import Machine, Outcome, require_root, require_tool

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux probe")

LAYOUTS = Path(__file__).parent / "data" / "disk"
ALICE = "/home/alice"


def build(manifest: Path, root: Path) -> None:
    """Make the tree a layout manifest describes (format: tests/data/disk/README.md)."""
    lines = iter(manifest.read_text().splitlines())
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        if " -> " in line:
            name, target = line.split(" -> ", 1)
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target)
        elif line.endswith(" <<"):
            path = root / line.removesuffix(" <<")
            body = []
            for inner in lines:
                if inner == "<<":
                    break
                body.append(inner + "\n")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(body))
        elif line.endswith("/"):
            (root / line).mkdir(parents=True, exist_ok=True)
        else:
            name, equals, text = line.partition(" =")
            assert equals, f"{manifest.name}: not an entry: {line!r}"
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.strip() + "\n")


@pytest.fixture
def layout(tmp_path: Path) -> Callable[[str], Path]:
    def make(name: str) -> Path:
        root = tmp_path / name
        root.mkdir()
        build(LAYOUTS / f"{name}.txt", root)
        return root

    return make


LUKS_ROOT = "dm-0 (luks-2f9c3d1e-8a7b-4c6d-9e0f-1a2b3c4d5e6f)"
FEDORA = "dm-0 (luks-8c3f6a2e-1d4b-4e7a-9f0c-b5d6e7f8a9b0)"
EXPECTED: dict[str, tuple[str, list[Volume]]] = {
    "luks-root": (
        ALICE,
        [Volume(("/", "~"), "/", LUKS_ROOT, True, "LUKS2 (dm-crypt) on nvme0n1p3")],
    ),
    "lvm-on-luks": (
        ALICE,
        [
            Volume(
                ("/", "~"), "/", "dm-1 (vgubuntu-root)", True, "LUKS2 (dm-crypt) under LVM on sda3"
            )
        ],
    ),
    "luks-on-lvm": (
        ALICE,
        [
            Volume(("/",), "/", "dm-1 (cryptroot)", True, "LUKS1 (dm-crypt) on LVM on sda2"),
            Volume(("~",), "/home", "dm-3 (crypthome)", True, "plain dm-crypt on LVM on sda2"),
        ],
    ),
    "plain": (ALICE, [Volume(("/", "~"), "/", "sda2", False, "ext4 on sda2, not encrypted")]),
    "home-plain": (
        ALICE,
        [
            Volume(
                ("/",),
                "/",
                "dm-0 (luks-5a0e2c71-3b9d-4f8e-a1c6-d2e3f4a5b6c7)",
                True,
                "LUKS2 (dm-crypt) on nvme0n1p2",
            ),
            Volume(("~",), "/home", "nvme0n1p3", False, "ext4 on nvme0n1p3, not encrypted"),
        ],
    ),
    "btrfs-on-luks": (
        ALICE,
        [
            Volume(("/",), "/", FEDORA, True, "LUKS2 (dm-crypt) on nvme0n1p3"),
            Volume(("~",), "/home", FEDORA, True, "LUKS2 (dm-crypt) on nvme0n1p3"),
        ],
    ),
    "btrfs-mixed": (
        ALICE,
        [
            Volume(
                ("/",), "/", "dm-0 (cryptroot)", False, "btrfs on sda2, sdb, not encrypted on sdb"
            ),
            Volume(
                ("~",),
                "/home",
                "dm-0 (cryptroot)",
                False,
                "btrfs on sda2, sdb, not encrypted on sdb",
            ),
        ],
    ),
    "raid-luks": (
        ALICE,
        [Volume(("/", "~"), "/", "md0", True, "LUKS2 (dm-crypt) under RAID1 (md) on sda1, sdb1")],
    ),
    "rst-raid": (
        ALICE,
        [
            Volume(
                ("/", "~"), "/", "md126p2", False, "ext4 on RAID1 (md) on sda, sdb, not encrypted"
            )
        ],
    ),
    "homed": (
        ALICE,
        [
            Volume(("/",), "/", "nvme0n1p2", False, "ext4 on nvme0n1p2, not encrypted"),
            Volume(
                ("~",),
                ALICE,
                "dm-0 (home-alice)",
                True,
                "LUKS2 (dm-crypt) on loop0 (a file) on nvme0n1p2",
            ),
        ],
    ),
    "ecryptfs-home": (
        ALICE,
        [
            Volume(("/",), "/", "sda1", False, "ext4 on sda1, not encrypted"),
            Volume(("~",), ALICE, "/home/.ecryptfs/alice/.Private", True, "eCryptfs"),
        ],
    ),
    "nfs-home": (
        ALICE,
        [
            Volume(("/",), "/", "vda1", False, "ext4 on vda1, not encrypted"),
            Volume(
                ("~",),
                ALICE,
                "fileserver.example.org:/export/home/alice",
                None,
                "on another machine (nfs4)",
            ),
        ],
    ),
    "tmpfs-home": (
        "/tmp/guest-x1y2z3",
        [
            Volume(("/",), "/", "dm-0 (sda2_crypt)", True, "LUKS2 (dm-crypt) on sda2"),
            Volume(
                ("~",),
                "/tmp/guest-x1y2z3",
                "tmpfs",
                False,
                "kept in memory (tmpfs), but it can be swapped out to sda3, not encrypted",
            ),
        ],
    ),
    "reencrypt": (
        ALICE,
        [
            Volume(
                ("/", "~"),
                "/",
                "dm-0 (luks-7d2e)",
                None,
                "dm-0 is being re-encrypted now: part of it may not be encrypted yet",
            )
        ],
    ),
    "luks2-integrity": (
        ALICE,
        [Volume(("/", "~"), "/", "dm-1 (secure)", True, "LUKS2 (dm-crypt) on sda2")],
    ),
    "overlay-root": (
        ALICE,
        [
            Volume(
                ("/", "~"),
                "/",
                "overlay",
                None,
                "an overlay file system (a container or a live system): the disk under it "
                "cannot be seen from here",
            )
        ],
    ),
    "broken": (
        "/srv/alice",
        [
            Volume(
                ("/",),
                "/",
                "root",
                None,
                "its device's entry /sys/dev/block/253:0 leads nowhere (a symlink loop, or a "
                "link out of /sys)",
            ),
            Volume(("~",), "/srv", "sdc1", None, "its device 8:33 is not listed in /sys/dev/block"),
        ],
    ),
    "cycle": (
        ALICE,
        [
            Volume(
                ("/", "~"), "/", "dm-0 (vg-root)", None, "the devices under dm-0 lead back to dm-0"
            )
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layout(layout: Callable[[str], Path], name: str) -> None:
    home, expected = EXPECTED[name]
    assert disk_encryption_at(home, layout(name)) == expected


def test_every_layout_is_tested_and_its_links_stay_inside(layout: Callable[[str], Path]) -> None:
    names = {path.stem for path in LAYOUTS.glob("*.txt")}
    assert names == set(EXPECTED)
    for name in sorted(names - {"broken"}):
        root = layout(name).resolve()
        for link in root.rglob("*"):
            if link.is_symlink():
                target = Path(os.path.realpath(link))
                assert target.is_relative_to(root), f"{name}: {link} leads out"
                assert target.exists(), f"{name}: {link} leads nowhere"


def test_a_link_out_of_the_tree_is_not_followed(layout: Callable[[str], Path]) -> None:
    root = layout("broken")
    (home,) = [v for v in disk_encryption_at(ALICE, root) if "~" in v.holds]
    assert home.mount == "/home"
    assert home.encrypted is None
    assert "/sys/dev/block/8:17 leads nowhere" in home.how


def test_no_proc_at_all(tmp_path: Path) -> None:
    assert disk_encryption_at(ALICE, tmp_path) == [
        Volume(("/", "~"), "/", "", None, "the mount table (/proc/self/mountinfo) cannot be read")
    ]


def mountinfo(root: Path, *lines: str) -> None:
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "mountinfo").write_text("".join(line + "\n" for line in lines))


def test_over_mounts_escapes_and_odd_lines(layout: Callable[[str], Path]) -> None:
    root = layout("home-plain")
    (root / "proc" / "self" / "mountinfo").unlink()
    (root / "proc" / "self").rmdir()
    mountinfo(
        root,
        "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/luks-5a0e rw",
        "not a mountinfo line",
        "35 22 259:3 / /home rw - ext4 /dev/nvme0n1p3 rw",
        "36 22 x:y / /home rw - ext4 /dev/nvme0n1p3 rw",
        "37 22 259:3 / /home/alice\\040smith rw - ext4 /dev/nvme0n1p3 rw",
        "38 22 253:0 / /home rw - ext4 /dev/mapper/luks-5a0e rw",
        "39 22 0:40 / /home/al rw - tmpfs tmpfs rw",
    )
    found = disk_encryption_at("/home/alice smith/Documents", root)
    assert [(v.holds, v.mount, v.encrypted) for v in found] == [
        (("/",), "/", True),
        (("~",), "/home/alice smith", False),
    ]
    # /home was mounted twice; the later mount (the LUKS device) hides the first
    found = disk_encryption_at("/home/bob", root)
    assert [(v.holds, v.mount, v.how) for v in found] == [
        (("/",), "/", "LUKS2 (dm-crypt) on nvme0n1p2"),
        (("~",), "/home", "LUKS2 (dm-crypt) on nvme0n1p2"),
    ]


def test_odd_files_give_a_clear_answer(layout: Callable[[str], Path]) -> None:
    root = layout("lvm-on-luks")
    dm = root / "sys" / "devices" / "virtual" / "block"
    (dm / "dm-0" / "dm" / "uuid").unlink()
    (dm / "dm-0" / "dm" / "uuid").mkdir()  # reading it fails
    (dm / "dm-1" / "dm" / "name").write_bytes(b"\xff\xfe\x00")
    (found,) = disk_encryption_at(ALICE, root)
    assert found.encrypted is None
    assert found.how == "what made dm-0 cannot be read from its dm/uuid"
    (dm / "dm-0" / "dm" / "uuid").rmdir()
    (dm / "dm-0" / "dm" / "uuid").write_text("\n")  # set up by hand with dmsetup: no uuid
    (found,) = disk_encryption_at(ALICE, root)
    assert found.encrypted is False
    assert found.how == "ext4 on LVM on device-mapper on sda3, not encrypted"


def test_a_stack_too_deep_is_not_followed(tmp_path: Path) -> None:
    mountinfo(tmp_path, "22 1 253:0 / / rw - ext4 /dev/mapper/top rw")
    block = tmp_path / "sys" / "devices" / "virtual" / "block"
    for number in range(40):
        device = block / f"dm-{number}"
        (device / "dm").mkdir(parents=True)
        (device / "dm" / "uuid").write_text(f"LVM-{number:064d}\n")
        (device / "slaves").mkdir()
        (device / "slaves" / f"dm-{number + 1}").symlink_to(f"../../dm-{number + 1}")
    (block / "dm-40" / "dm").mkdir(parents=True)
    (block / "dm-40" / "dm" / "uuid").write_text("CRYPT-LUKS2-00-bottom\n")
    (tmp_path / "sys" / "dev" / "block").mkdir(parents=True)
    (tmp_path / "sys" / "dev" / "block" / "253:0").symlink_to("../../devices/virtual/block/dm-0")
    (found,) = disk_encryption_at(ALICE, tmp_path)
    assert found.encrypted is None
    assert "stacked too deep" in found.how


def test_wsl_is_not_told_its_disk_is_plain(layout: Callable[[str], Path]) -> None:
    root = layout("plain")
    (root / "proc" / "sys" / "kernel").mkdir(parents=True)
    (root / "proc" / "sys" / "kernel" / "osrelease").write_text(
        "5.15.153.1-microsoft-standard-WSL2\n"
    )
    (found,) = disk_encryption_at(ALICE, root)
    assert found.encrypted is None
    assert found.how.startswith("this is WSL")


def test_gocryptfs_home_and_a_zfs_root(tmp_path: Path) -> None:
    mountinfo(
        tmp_path,
        "22 1 0:25 / / rw - zfs rpool/ROOT/ubuntu_x1y2z3 rw,xattr,posixacl",
        "90 22 0:60 / /home/alice rw - fuse.gocryptfs /home/alice.cipher rw,user_id=1000",
    )
    assert disk_encryption_at(ALICE, tmp_path) == [
        Volume(
            ("/",),
            "/",
            "rpool/ROOT/ubuntu_x1y2z3",
            None,
            "ZFS: whether its own encryption is on cannot be read here",
        ),
        Volume(("~",), ALICE, "/home/alice.cipher", True, "gocryptfs"),
    ]


# -- this machine ----------------------------------------------------------------------------


def test_this_machine_gives_a_clear_answer() -> None:
    home = str(Path.home())
    found = disk_encryption(home)
    assert found
    assert sorted(hold for v in found for hold in v.holds) == ["/", "~"]
    for entry in found:
        assert entry.encrypted in (True, False, None)
        assert entry.how
        assert entry.mount.startswith("/")
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    roots = [line.split(" - ")[1].split()[:2] for line in lines if line.split()[4] == "/"]
    has_dm = Path("/sys/class/misc/device-mapper").exists()
    if roots and roots[-1] == ["ext4", "/dev/vda"] and not has_dm:  # the VM the tests run in
        assert found[0] == Volume(found[0].holds, "/", "vda", False, "ext4 on vda, not encrypted")


# -- real file systems -----------------------------------------------------------------------


class Mounts:
    """Mounts and loop devices made by a test, all undone at teardown in reverse order."""

    def __init__(self) -> None:
        self.undo: list[list[str]] = []

    def run(self, *argv: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=env, check=False
        )
        assert done.returncode == 0, f"{argv}: {done.stderr.strip()}"
        return done.stdout.strip()

    def loop(self, image: Path) -> str:
        device = self.run(require_tool("losetup"), "--find", "--show", str(image))
        self.undo.append([require_tool("losetup"), "--detach", device])
        return device

    def mount(self, source: str, target: Path, *options: str) -> None:
        target.mkdir(parents=True, exist_ok=True)
        self.run(require_tool("mount"), *options, source, str(target))
        self.undo.append([require_tool("umount"), str(target)])

    def close(self) -> None:
        for argv in reversed(self.undo):
            done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
            if done.returncode != 0 and "umount" in argv[0]:
                subprocess.run([argv[0], "--lazy", argv[1]], capture_output=True, check=False)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    require_root("mounting file systems and setting up loop devices needs root")
    made = Mounts()
    try:
        yield made
    finally:
        made.close()


def require_kernel(feature: Path, why: str) -> None:
    if feature.exists():
        return
    message = f"{why} ({feature} is missing)"
    if os.environ.get("HYGIENE_REQUIRE_REAL") == "1":
        pytest.fail(message)
    pytest.skip(message)


def image(path: Path, megabytes: int) -> Path:
    with path.open("wb") as file:
        file.truncate(megabytes * 1024 * 1024)
    return path


def home_volume(found: list[Volume]) -> Volume:
    (entry,) = [v for v in found if "~" in v.holds]
    return entry


def base(tmp_path: Path) -> Volume:
    """What holds the test's folder, where the images' files live."""
    return home_volume(disk_encryption(str(tmp_path)))


def test_fscrypt_home(mounts: Mounts, tmp_path: Path, layout: Callable[[str], Path]) -> None:
    require_kernel(Path("/sys/fs/ext4/features/encryption"), "this kernel has no ext4 encryption")
    fscrypt = require_tool("fscrypt")
    mkfs = require_tool("mkfs.ext4")
    disk = image(tmp_path / "ext4.img", 32)
    mounts.run(mkfs, "-q", "-O", "encrypt", str(disk))
    device = mounts.loop(disk)
    top = tmp_path / "mnt"
    mounts.mount(device, top)
    # fscrypt keeps its settings and metadata where it is told, never in /etc or /.fscrypt
    env = {
        **os.environ,
        "FSCRYPT_CONF": str(tmp_path / "fscrypt.conf"),
        "FSCRYPT_ROOT_MNT": str(top),
    }
    mounts.run(fscrypt, "setup", "--force", "--time=1ms", "--quiet", env=env)
    key = tmp_path / "key"
    key.write_bytes(os.urandom(32))
    alice, bob = top / "alice", top / "bob"
    alice.mkdir()
    bob.mkdir()
    mounts.run(
        fscrypt,
        "encrypt",
        str(alice),
        "--source=raw_key",
        f"--key={key}",
        "--name=alice",
        "--no-recovery",
        "--quiet",
        env=env,
    )
    (alice / "Documents").mkdir()
    loop = Path(device).name
    plain = base(tmp_path)

    found = disk_encryption(str(alice))
    assert home_volume(found) == Volume(("~",), str(top), loop, True, "fscrypt")
    assert found[0].holds == ("/",)
    # a folder that is not there yet counts as its parent, encrypted or not
    assert home_volume(disk_encryption(str(alice / "Documents"))).how == "fscrypt"
    assert home_volume(disk_encryption(str(alice / "not-yet"))).how == "fscrypt"

    sibling = home_volume(disk_encryption(str(bob)))
    assert sibling.how != "fscrypt"
    assert sibling.encrypted is plain.encrypted
    assert sibling.device == loop
    if plain.encrypted is False:
        assert sibling.how.startswith(f"ext4 on {loop} (a file) on ")
        assert sibling.how.endswith(", not encrypted")

    # the same folder on a LUKS2 device, as a layout's /sys tells it: both are said
    luks = layout("luks-root")
    with (luks / "proc" / "self" / "mountinfo").open("a") as table:
        table.write(f"90 22 253:0 / {top} rw,relatime - ext4 /dev/mapper/home rw\n")
    assert disk_encryption_at(str(alice), luks)[-1] == Volume(
        ("~",), str(top), LUKS_ROOT, True, "LUKS2 (dm-crypt) on nvme0n1p3, and fscrypt on ~"
    )
    assert disk_encryption_at(str(bob), luks)[-1].how == "LUKS2 (dm-crypt) on nvme0n1p3"

    mounts.run(fscrypt, "lock", str(alice), "--quiet", env=env)
    assert not (alice / "Documents").exists()  # locked: the names are ciphertext now
    assert home_volume(disk_encryption(str(alice))).how == "fscrypt"


def test_btrfs_on_a_loop_device(mounts: Mounts, tmp_path: Path) -> None:
    mkfs = require_tool("mkfs.btrfs")
    disk = image(tmp_path / "btrfs.img", 128)
    mounts.run(mkfs, "-q", str(disk))
    device = mounts.loop(disk)
    top = tmp_path / "btrfs"
    mounts.mount(device, top)
    (top / "alice").mkdir()
    loop = Path(device).name
    plain = base(tmp_path)
    found = home_volume(disk_encryption(str(top / "alice")))
    assert (found.mount, found.device, found.encrypted) == (str(top), loop, plain.encrypted)
    if plain.encrypted is False:
        assert found.how.startswith(f"btrfs on {loop} (a file) on ")


def test_tmpfs_with_a_space_in_its_name(mounts: Mounts, tmp_path: Path) -> None:
    top = tmp_path / "guest home"
    mounts.mount("tmpfs", top, "-t", "tmpfs", "-o", "size=4m")
    (top / "alice").mkdir()
    found = home_volume(disk_encryption(str(top / "alice")))
    assert (found.mount, found.device) == (str(top), "tmpfs")
    swaps = Path("/proc/swaps").read_text().splitlines()[1:]
    if not swaps:
        assert (found.encrypted, found.how) == (True, "kept in memory only (tmpfs), with no swap")
    else:
        assert "(tmpfs)" in found.how


def test_overlay(mounts: Mounts, tmp_path: Path) -> None:
    for name in ("lower", "upper", "work"):
        (tmp_path / name).mkdir()
    (tmp_path / "lower" / "alice").mkdir()
    top = tmp_path / "merged"
    options = (
        f"lowerdir={tmp_path / 'lower'},upperdir={tmp_path / 'upper'},workdir={tmp_path / 'work'}"
    )
    mounts.mount("overlay", top, "-t", "overlay", "-o", options)
    found = home_volume(disk_encryption(str(top / "alice")))
    assert (found.mount, found.encrypted) == (str(top), None)
    assert found.how.startswith("an overlay file system")


# -- what the person is told -----------------------------------------------------------------


def test_the_check_names_what_is_not_encrypted(
    mounts: Mounts,
    tmp_path: Path,
    machine: Machine,
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A home folder fscrypt encrypts is not reported; the system beside it is, when plain."""
    require_kernel(Path("/sys/fs/ext4/features/encryption"), "this kernel has no ext4 encryption")
    fscrypt = require_tool("fscrypt")
    disk = image(tmp_path / "ext4.img", 32)
    mounts.run(require_tool("mkfs.ext4"), "-q", "-O", "encrypt", str(disk))
    top = tmp_path / "mnt"
    loop = mounts.loop(disk)
    mounts.mount(loop, top)
    env = {**os.environ, "FSCRYPT_CONF": str(tmp_path / "c"), "FSCRYPT_ROOT_MNT": str(top)}
    mounts.run(fscrypt, "setup", "--force", "--time=1ms", "--quiet", env=env)
    (tmp_path / "key").write_bytes(os.urandom(32))
    home, plain = top / "ann", top / "bob"
    for folder in (home, plain):
        folder.mkdir()
    mounts.run(fscrypt, "encrypt", str(home), "--source=raw_key", f"--key={tmp_path / 'key'}",
               "--name=ann", "--no-recovery", "--quiet", env=env)  # fmt: skip
    system = disk_encryption("/")[0]

    def subjects(folder: Path) -> dict[str, str]:
        monkeypatch.setenv("HOME", str(folder))
        outcome = hygiene("check", "--json", "--only", "disk_encryption")
        (result,) = json.loads(outcome.out)["results"]
        assert result["status"] in ("pass", "fail"), result
        return {f["subject"]: f["message"] for f in result["findings"]}

    said = subjects(home)
    assert "your home folder" not in said
    if system.encrypted is False:
        assert said["the system (/)"].startswith("The system (/) is not encrypted (")
        assert (
            "whoever holds this computer can read it without your password"
            in (said["the system (/)"])
        )
    said = subjects(plain)
    if system.encrypted is False:
        assert said["your home folder"].startswith(
            f"Your home folder is not encrypted (ext4 on {Path(loop).name} (a file) on "
        )
