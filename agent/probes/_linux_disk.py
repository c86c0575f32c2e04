"""Whether the file systems holding / and the home folder are encrypted on Linux. Facts only.

Mounts come from /proc/self/mountinfo: the mount holding a path is the one whose mount point
is its longest prefix, and for the same mount point the last line wins (a later mount hides an
earlier one). / and the home folder make one Volume when one mount holds both, else two. The
home folder is taken with its symlinks resolved (Fedora Atomic's /home is a link to /var/home).

What holds a mount, by its device number (major:minor) and type:

- A block device (major not 0): /sys/dev/block/MAJ:MIN links to its directory under
  /sys/devices, and the stack below it is walked through `slaves/`:
  - a device-mapper device (a `dm/` directory) says what made it in `dm/uuid`: cryptsetup
    (and systemd-cryptsetup, systemd-homed, clevis, which use its library) names its devices
    CRYPT-<type>-[<uuid>-]<name>, where LUKS1, LUKS2, PLAIN, LOOPAES, TCRYPT (TrueCrypt and
    VeraCrypt), BITLK (BitLocker) and FVAULT2 (FileVault 2) encrypt, LUKS2-OPAL is LUKS2 with
    the drive's own encryption, and VERITY, INTEGRITY, SUBDEV and TEMP do not (SUBDEV and TEMP
    are its helpers under another device). LVM's start with "LVM-", multipath's with "mpath-",
    kpartx partitions with "partN-"; anything else is a device-mapper device of another kind.
  - an md device (an `md/` directory) is software RAID, its level in `md/level`;
  - a loop device (a `loop/` directory) stores its blocks in the file named in
    `loop/backing_file`: the mount holding that file is followed in turn (systemd-homed's LUKS
    homes are LUKS2 on a loop device on /home/NAME.home);
  - zram and ram disks are memory (see tmpfs below);
  - a partition (a `partition` file) of a virtual disk (md126p2 of an Intel RST array) goes on
    to that disk; a partition of a real disk, and a disk with no slaves, is the bottom.
  A device is encrypted when it is an encrypting dm-crypt device or when it has slaves and all
  of them are encrypted (LVM on LUKS, LUKS on LVM, RAID of LUKS members); the bottom is not.
  Every symlink is resolved inside `root` and one that leads out of it, or in a loop, counts as
  missing. The walk stops after 16 layers or 256 devices, and a device met again on the way
  down is a loop: both give "cannot tell", never a hang.
- btrfs (major 0): its devices are those listed in /sys/fs/btrfs/<fsid>/devices of the file
  system that has the mount's source among them (/dev/mapper/NAME is the dm device whose
  `dm/name` is NAME), or the source alone; all of them must be encrypted.
- tmpfs and ramfs keep their files in memory, so nothing of them is left on a disk after
  power-off, which is what disk encryption is for: they count as encrypted (True, not "not
  known": the facts are all here) as long as nothing they hold can reach a disk in clear.
  ramfs is never swapped out; tmpfs can be, so it counts as encrypted when there is no swap
  (/proc/swaps) or every swap area is encrypted or in memory (zram), as not encrypted when a
  swap area is a plain device, and as not known when a swap area cannot be told. zram and
  ram disks are memory in the same way (a zram device writing back to a disk is that disk).
- Encrypting file systems stacked on another: eCryptfs, and the FUSE ones gocryptfs, CryFS,
  EncFS and securefs (KDE Vaults use them).
- overlay (a container's root, a live system's) and other FUSE file systems: not known, since
  the disk under them cannot be seen from here; network file systems (NFS, SMB, sshfs, 9p,
  virtiofs ...): not known, they are on another machine; ZFS: not known, since whether its
  native encryption is on is not readable without privileges or the zfs tool.

The home folder also counts as encrypted with fscrypt. On ext4, f2fs, ubifs and btrfs (on
other file systems, network ones above all, nothing is asked) the
FS_IOC_GET_ENCRYPTION_POLICY_EX ioctl (before Linux 5.4: FS_IOC_GET_ENCRYPTION_POLICY) on the
folder, or when it cannot be opened on its nearest parent up to its mount point that can,
gives a policy (encrypted, locked or not) or ENODATA (not: the kernel gives everything made
in an encrypted folder the same policy, so the first answer stands). EINVAL and EOVERFLOW
mean a policy this code cannot show, which is still a policy; ENOTTY and EOPNOTSUPP mean no
fscrypt there. The kernel is asked about the real path, also when `root` is a made-up tree.
When the mount's device is encrypted as well, `how` says both; when / and the home folder
share a mount that is not encrypted, "~" gets a Volume of its own, "fscrypt".

Under WSL a disk that is not encrypted here is a file on Windows, which BitLocker may encrypt:
not known. Not seen at all, and so read as not encrypted: self-encrypting drives (OPAL without
LUKS2) and a dm-crypt device set up by hand with dmsetup (no CRYPT- uuid). A LUKS2
re-encryption under way shows its -overlay and -hotzone- helper devices and gives "not known"
(part of the disk may still be in clear); one that was paused cannot be told from a finished
one without root.

Nothing here raises for a missing or odd file: the answer is then "not known" (encrypted None)
with the reason in one sentence. Each call reads a few small files and makes one or two
ioctls; nothing is started and nothing is kept between calls.
"""

from __future__ import annotations

import errno
import fcntl
import os
import platform
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from agent.probes import Volume

_MAX_DEPTH = 16
_MAX_DEVICES = 256
_MAX_SLAVES = 64

# cryptsetup's types (libcryptsetup.h) whose devices encrypt, as a person knows them
_CRYPT_KINDS = {
    "LUKS1": "LUKS1 (dm-crypt)",
    "LUKS2": "LUKS2 (dm-crypt)",
    "PLAIN": "plain dm-crypt",
    "LOOPAES": "loop-AES (dm-crypt)",
    "TCRYPT": "TrueCrypt/VeraCrypt (dm-crypt)",
    "BITLK": "BitLocker (dm-crypt)",
    "FVAULT2": "FileVault 2 (dm-crypt)",
}
_CRYPT_OPAL = "CRYPT-LUKS2-OPAL-"
# cryptsetup's types that do not encrypt; "" means a helper not worth naming
_CRYPT_OTHER = {"VERITY": "dm-verity", "INTEGRITY": "dm-integrity", "SUBDEV": "", "TEMP": ""}
_REENCRYPT_HELPERS = ("-overlay", "-hotzone-forward", "-hotzone-backward")

_MEMORY_DEVICE = re.compile(r"(zram|ram)\d+")
_KPARTX = re.compile(r"part\d+-")
_ESCAPE = re.compile(r"\\([0-7]{3})")

_ENCRYPTING_FS = {
    "ecryptfs": "eCryptfs",
    "fuse.gocryptfs": "gocryptfs",
    "fuse.cryfs": "CryFS",
    "fuse.encfs": "EncFS",
    "fuse.securefs": "securefs",
}
_NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "virtiofs", "ceph", "lustre"}
    | {"glusterfs", "davfs", "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.glusterfs"}
    | {"fuse.ceph-fuse", "fuse.davfs"}
)
_OVERLAY_FS = frozenset({"overlay", "aufs", "fuse.unionfs", "fuse.fuse-overlayfs"})
_MEMORY_FS = frozenset({"tmpfs", "rootfs"})
_FSCRYPT_FS = frozenset({"ext4", "f2fs", "ubifs", "btrfs"})

_FSCRYPT_POLICY_MAX = 24  # struct fscrypt_policy_v2, the largest policy there is
_WSL = "this is WSL: its disk is a file on Windows, whose encryption cannot be seen from Linux"


def disk_encryption(home: str, root: Path = Path("/")) -> list[Volume]:
    """One Volume for / and the home folder ("/", "~"), or one for each when they differ."""
    live = root == Path("/")
    home_path = os.path.realpath(home) if live else os.path.normpath("/" + home.lstrip("/"))
    mounts = _mounts(root)
    if mounts is None:
        why = "the mount table (/proc/self/mountinfo) cannot be read"
        return [Volume(("/", "~"), "/", "", None, why)]
    system = _System(root, os.path.realpath(root), tuple(mounts), _is_wsl(root))
    top = _holding(mounts, "/")
    own = _holding(mounts, home_path)
    first = _volume(system, top, "/")
    if own is top:
        volumes = [replace(first, holds=("/", "~"))]
    else:
        volumes = [first, _volume(system, own, home_path)]
    home_volume = volumes[-1]
    if own is None or own.fstype not in _FSCRYPT_FS or not _fscrypt(home_path, own.point):
        return volumes
    if home_volume.encrypted:
        return [*volumes[:-1], replace(home_volume, how=f"{home_volume.how}, and fscrypt on ~")]
    fscrypt = replace(home_volume, holds=("~",), encrypted=True, how="fscrypt")
    if own is top:
        return [replace(first, holds=("/",)), fscrypt]
    return [first, fscrypt]


# -- mounts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mount:
    major: int
    minor: int
    point: str
    fstype: str
    source: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="surrogateescape").strip()
    except (OSError, ValueError):  # gone, unreadable, a symlink loop, a NUL in the name
        return None


def _unescape(text: str) -> str:
    """A path as mountinfo and /proc/swaps print it: space, tab, newline and \\ as octal."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), text)


def _mounts(root: Path) -> list[_Mount] | None:
    text = _read(root / "proc" / "self" / "mountinfo")
    if text is None:
        return None
    found = []
    for line in text.splitlines():
        # id parent major:minor root mount-point options [optional...] - type source options
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        major, _, minor = fields[2].partition(":")
        if len(fields) < dash + 3 or not major.isdigit() or not minor.isdigit():
            continue
        point, fstype, source = _unescape(fields[4]), fields[dash + 1], _unescape(fields[dash + 2])
        found.append(_Mount(int(major), int(minor), point, fstype, source))
    return found


def _holding(mounts: Sequence[_Mount], path: str) -> _Mount | None:
    best: _Mount | None = None
    for mount in mounts:
        point = mount.point
        inside = point in ("/", path) or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.point)):
            best = mount
    return best


def _is_wsl(root: Path) -> bool:
    return "microsoft" in (_read(root / "proc" / "sys" / "kernel" / "osrelease") or "").lower()


# -- what holds a mount ----------------------------------------------------------------------


@dataclass(frozen=True)
class _System:
    root: Path
    real_root: str
    mounts: tuple[_Mount, ...]
    wsl: bool

    def inside(self, path: Path) -> Path | None:
        """`path` with its symlinks resolved, when that stays inside root and is not a loop."""
        real = os.path.realpath(path)
        top = self.real_root.rstrip("/")
        if real != self.real_root and not real.startswith(top + "/"):
            return None
        if Path(real).is_symlink():  # realpath leaves a symlink loop unresolved
            return None
        return Path(real)

    def block(self, major: int, minor: int) -> Path | None:
        return self.inside(self.root / "sys" / "dev" / "block" / f"{major}:{minor}")

    def named(self, source: str) -> Path | None:
        """The sysfs directory of a device named as in mountinfo or /proc/swaps (/dev/...)."""
        if not source.startswith("/dev/"):
            return None
        classes = self.root / "sys" / "class" / "block"
        if source.startswith("/dev/mapper/"):
            wanted = source.removeprefix("/dev/mapper/")
            for entry in _entries(classes):
                if entry.startswith("dm-") and _read(classes / entry / "dm" / "name") == wanted:
                    return self.inside(classes / entry)
            return None
        if self.root == Path("/"):
            source = os.path.realpath(source)  # /dev/disk/by-uuid/... and other udev links
        name = Path(source).name
        if not name or name.startswith("."):
            return None
        found = self.inside(classes / name)
        return found if found is not None and found.is_dir() else None


def _entries(folder: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in folder.iterdir())
    except OSError:
        return []


@dataclass(frozen=True)
class _Storage:
    """What holds some data, top-down; leaves are the devices at the bottom."""

    encrypted: bool | None
    layers: tuple[tuple[str, bool], ...] = ()  # (label, whether this layer encrypts)
    leaves: tuple[str, ...] = ()
    plain: tuple[str, ...] = ()  # the leaves no encryption covers
    crypts: tuple[str, ...] = ()  # the labels of every encrypting layer, in any branch
    text: str = ""  # for encrypted None: why; else a description that replaces the usual one


def _unknown(why: str) -> _Storage:
    return _Storage(None, text=why)


def _bottom(name: str) -> _Storage:
    return _Storage(False, leaves=(name,), plain=(name,))


def _encrypting(label: str, text: str = "") -> _Storage:
    return _Storage(True, ((label, True),), crypts=(label,), text=text)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _stack(label: str, encrypts: bool, below: Sequence[_Storage]) -> _Storage:
    """A layer called `label` (none when "") on top of `below`."""
    layer = ((label, encrypts),) if label else ()
    layers = below[0].layers if below else ()
    for other in below[1:]:
        same = 0
        while same < min(len(layers), len(other.layers)) and layers[same] == other.layers[same]:
            same += 1
        layers = layers[:same]
    leaves = _unique(leaf for part in below for leaf in part.leaves)
    crypts = _unique([label] * encrypts + [c for part in below for c in part.crypts])
    if encrypts:
        return _Storage(True, layer + layers, leaves, (), crypts)
    states = [part.encrypted for part in below]
    if states and all(state is True for state in states):
        encrypted: bool | None = True
    elif False in states or not states:
        encrypted = False
    else:
        encrypted = None
    plain = _unique(leaf for part in below for leaf in part.plain)
    why = next((part.text for part in below if part.encrypted is None), "")
    return _Storage(
        encrypted, layer + layers, leaves, plain, crypts, why if encrypted is None else ""
    )


class _Walk:
    """One walk from a mount down to its disks, with what bounds it."""

    def __init__(self, system: _System) -> None:
        self.system = system
        self.devices = 0
        self.path: list[Path] = []

    def mount(self, mount: _Mount, depth: int) -> _Storage:
        if depth > _MAX_DEPTH:
            return _unknown(f"the devices under {mount.point} are stacked too deep to follow")
        fstype = mount.fstype
        if mount.major != 0:
            device = self.system.block(mount.major, mount.minor)
            if device is not None and device.is_dir():
                return self.device(device, depth + 1)
            number = f"{mount.major}:{mount.minor}"
            if (self.system.root / "sys" / "dev" / "block" / number).is_symlink():
                return _unknown(
                    f"its device's entry /sys/dev/block/{number} leads nowhere (a symlink "
                    "loop, or a link out of /sys)"
                )
            return _unknown(f"its device {number} is not listed in /sys/dev/block")
        if fstype in _ENCRYPTING_FS:
            return _encrypting(_ENCRYPTING_FS[fstype])
        if fstype == "btrfs":
            return self.btrfs(mount, depth + 1)
        if fstype == "ramfs":
            return _encrypting("memory (ramfs)", "kept in memory only (ramfs), never on a disk")
        if fstype in _MEMORY_FS:
            return self.memory(fstype, depth + 1)
        if fstype in _NETWORK_FS:
            return _unknown(f"on another machine ({fstype})")
        if fstype in _OVERLAY_FS:
            return _unknown(
                f"an {fstype} file system (a container or a live system): "
                "the disk under it cannot be seen from here"
            )
        if fstype == "zfs":
            return _unknown("ZFS: whether its own encryption is on cannot be read here")
        if fstype.startswith("fuse"):
            return _unknown(f"a FUSE file system ({fstype}): where it keeps its files is not known")
        return _unknown(f"a {fstype} file system on no disk that can be seen from here")

    def btrfs(self, mount: _Mount, depth: int) -> _Storage:
        filesystems = self.system.root / "sys" / "fs" / "btrfs"
        fsids = [
            fsid for fsid in _entries(filesystems) if (filesystems / fsid / "devices").is_dir()
        ]
        first = self.system.named(mount.source)
        if first is None and len(fsids) == 1:  # "/dev/root": the only btrfs there is
            members = _entries(filesystems / fsids[0] / "devices")
            first = (
                self.system.inside(filesystems / fsids[0] / "devices" / members[0])
                if members
                else None
            )
        if first is None:
            return _unknown(f"its device {mount.source} cannot be found in /sys/class/block")
        devices = [first]
        for fsid in fsids:
            members = _entries(filesystems / fsid / "devices")
            if first.name in members:
                found = [self.system.inside(filesystems / fsid / "devices" / m) for m in members]
                devices = [device for device in found if device is not None]
                break
        return _stack("", False, [self.device(device, depth) for device in devices])

    def memory(self, fstype: str, depth: int) -> _Storage:
        where = f"memory ({fstype})"
        swap = self.swap(depth)
        if swap is None:
            return _encrypting(where, f"kept in memory only ({fstype}), with no swap")
        if swap.encrypted:
            return _encrypting(where, f"kept in memory only ({fstype}); its swap is encrypted")
        if swap.encrypted is None:
            why = f"kept in memory ({fstype}), but whether its swap is encrypted is not known"
            return _unknown(f"{why}: {swap.text}")
        plain = ", ".join(swap.plain)
        text = f"kept in memory ({fstype}), but it can be swapped out to {plain}, not encrypted"
        return replace(swap, layers=((where, False), *swap.layers), text=text)

    def swap(self, depth: int) -> _Storage | None:
        """All swap areas together; None when there is none."""
        text = _read(self.system.root / "proc" / "swaps")
        if text is None:
            return _unknown("the swap areas (/proc/swaps) cannot be read")
        areas = []
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 2:
                continue
            name = _unescape(fields[0]).removesuffix(" (deleted)")
            if fields[1] == "partition":
                device = self.system.named(name)
                areas.append(
                    _unknown(f"the swap device {name} cannot be found in /sys/class/block")
                    if device is None
                    else self.device(device, depth)
                )
                continue
            holder = _holding(self.system.mounts, name)
            areas.append(
                _unknown(f"no mount holds the swap file {name}")
                if holder is None
                else self.mount(holder, depth)
            )
        return _stack("", False, areas) if areas else None

    def device(self, device: Path, depth: int) -> _Storage:
        name = device.name
        if device in self.path:
            return _unknown(f"the devices under {name} lead back to {name}")
        self.devices += 1
        if depth > _MAX_DEPTH or self.devices > _MAX_DEVICES:
            return _unknown(f"the devices under {name} are stacked too deep to follow")
        self.path.append(device)
        try:
            return self.layer(device, name, depth)
        finally:
            self.path.pop()

    def layer(self, device: Path, name: str, depth: int) -> _Storage:
        if (device / "dm").is_dir():
            return self.mapped(device, name, depth)
        if (device / "md").is_dir():
            level = _read(device / "md" / "level") or ""
            kind = level.upper() if level.startswith("raid") else level or "RAID"
            return self.over(f"{kind} (md)", False, device, depth)
        if (device / "loop").is_dir():
            return self.loop(device, name, depth)
        if _MEMORY_DEVICE.fullmatch(name):
            backing = _read(device / "backing_dev") or "none"
            if backing == "none":
                return _encrypting(f"memory ({name})")
            below = self.system.named(backing)
            if below is None:
                return _unknown(f"{name} writes to {backing}, which cannot be found in /sys")
            return _stack(f"{name} (in memory)", False, [self.device(below, depth + 1)])
        if (device / "partition").is_file():
            disk = device.parent
            if (disk / "dm").is_dir() or (disk / "md").is_dir() or (disk / "loop").is_dir():
                return self.device(disk, depth + 1)
            return _bottom(name)
        if _entries(device / "slaves"):  # bcache and other stacking drivers
            return self.over(name, False, device, depth)
        return _bottom(name)

    def over(self, label: str, encrypts: bool, device: Path, depth: int) -> _Storage:
        below = []
        for slave in _entries(device / "slaves")[:_MAX_SLAVES]:
            found = self.system.inside(device / "slaves" / slave)
            if found is None or not found.is_dir():
                below.append(_unknown(f"{slave} under {device.name} cannot be followed in /sys"))
            else:
                below.append(self.device(found, depth + 1))
        if not below and not encrypts:
            return _bottom(device.name)
        return _stack(label, encrypts, below)

    def mapped(self, device: Path, name: str, depth: int) -> _Storage:
        uuid = _read(device / "dm" / "uuid")
        if uuid is None:
            return _unknown(f"what made {name} cannot be read from its dm/uuid")
        if uuid.startswith("CRYPT-"):
            kind = uuid.split("-")[1]
            if kind in _CRYPT_KINDS:
                mapped_name = _read(device / "dm" / "name") or name
                for slave in _entries(device / "slaves"):
                    helper = self.system.inside(device / "slaves" / slave)
                    helper_name = _read(helper / "dm" / "name") if helper else None
                    if helper_name in {mapped_name + suffix for suffix in _REENCRYPT_HELPERS}:
                        return _unknown(
                            f"{name} is being re-encrypted now: part of it may not be encrypted yet"
                        )
                if uuid.startswith(_CRYPT_OPAL):
                    return self.over("LUKS2 with the drive's OPAL encryption", True, device, depth)
                return self.over(_CRYPT_KINDS[kind], True, device, depth)
            if kind not in _CRYPT_OTHER:
                found = self.over(f"cryptsetup {kind}", False, device, depth)
                if found.encrypted:
                    return found
                return _unknown(f"{name} is a cryptsetup device of a kind not known here ({kind})")
            return self.over(_CRYPT_OTHER[kind], False, device, depth)
        if uuid.startswith("LVM-"):
            return self.over("LVM", False, device, depth)
        if uuid.startswith("mpath-"):
            return self.over("multipath", False, device, depth)
        if uuid.startswith("DMRAID-"):
            return self.over("RAID (dmraid)", False, device, depth)
        if uuid.startswith("stratis-"):
            return self.over("Stratis", False, device, depth)
        if _KPARTX.match(uuid):
            return self.over("", False, device, depth)
        return self.over("device-mapper", False, device, depth)

    def loop(self, device: Path, name: str, depth: int) -> _Storage:
        backing = _read(device / "loop" / "backing_file")
        if not backing:
            return _bottom(name)
        backing = backing.removesuffix(" (deleted)")
        holder = _holding(self.system.mounts, backing)
        if holder is None:
            return _unknown(f"no mount holds {backing}, the file behind {name}")
        return _stack(f"{name} (a file)", False, [self.mount(holder, depth + 1)])


def _describe(storage: _Storage, fstype: str) -> str:
    if storage.text or storage.encrypted is None:
        return storage.text or "what holds it cannot be told"
    leaves = ", ".join(storage.leaves)
    layers = storage.layers
    if storage.encrypted:
        above: tuple[tuple[str, bool], ...]
        below: tuple[tuple[str, bool], ...]
        at = next((i for i, (_, encrypts) in enumerate(layers) if encrypts), None)
        if at is None:  # encrypted below a split: each RAID member, each btrfs device
            head, above, below = " and ".join(storage.crypts) or "encrypted", layers, ()
        else:
            head, above, below = layers[at][0], layers[:at], layers[at + 1 :]
        text = head + "".join(f" under {label}" for label, _ in reversed(above))
        text += "".join(f" on {label}" for label, _ in below)
        return f"{text} on {leaves}" if leaves else text
    text = fstype + "".join(f" on {label}" for label, _ in layers)
    if leaves:
        text += f" on {leaves}"
    if storage.plain and set(storage.plain) != set(storage.leaves):
        return f"{text}, not encrypted on {', '.join(storage.plain)}"
    return f"{text}, not encrypted"


def _device_name(system: _System, mount: _Mount) -> str:
    if mount.major != 0:
        device = system.block(mount.major, mount.minor)
    elif mount.fstype == "btrfs":
        device = system.named(mount.source)
    else:
        return mount.fstype if mount.source in ("", "none") else mount.source
    if device is None or not device.is_dir():
        if mount.source.startswith("/dev/"):
            return Path(mount.source).name
        return f"{mount.major}:{mount.minor}"
    mapped = _read(device / "dm" / "name")
    return f"{device.name} ({mapped})" if mapped else device.name


def _volume(system: _System, mount: _Mount | None, path: str) -> Volume:
    hold = "/" if path == "/" else "~"
    if mount is None:
        return Volume((hold,), path, "", None, f"no mount in /proc/self/mountinfo holds {path}")
    try:
        storage = _Walk(system).mount(mount, 0)
        device = _device_name(system, mount)
    except (OSError, ValueError, RecursionError) as error:  # a tree odder than anything above
        why = f"what holds {mount.point} could not be read ({error.__class__.__name__})"
        return Volume((hold,), mount.point, mount.source, None, why)
    if storage.encrypted is False and system.wsl:
        return Volume((hold,), mount.point, device, None, _WSL)
    return Volume((hold,), mount.point, device, storage.encrypted, _describe(storage, mount.fstype))


# -- fscrypt ---------------------------------------------------------------------------------


def _ioc(direction: str, number: int, size: int) -> int:
    """An ioctl request number as the kernel's _IOW/_IOWR build it for this architecture."""
    if platform.machine().startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
        read, write, shift = 2, 4, 29
    else:
        read, write, shift = 2, 1, 30
    bits = write | (read if direction == "rw" else 0)
    return (bits << shift) | (size << 16) | (ord("f") << 8) | number


def _fscrypt(home: str, mount_point: str) -> bool:
    """Whether the home folder (or, when it cannot be opened, a parent) has an fscrypt policy."""
    path = home
    while True:
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            descriptor = -1
        if descriptor >= 0:
            try:
                return _has_policy(descriptor)
            finally:
                os.close(descriptor)
        parent = os.path.dirname(path)  # noqa: PTH120 - a string walk, the path need not exist
        if path in (mount_point, "/") or parent == path:
            return False
        path = parent


def _has_policy(descriptor: int) -> bool:
    # struct fscrypt_get_policy_ex_arg: policy_size (in: the room there is), then the policy
    request = bytearray(struct.pack("=Q", _FSCRYPT_POLICY_MAX) + bytes(_FSCRYPT_POLICY_MAX))
    try:
        fcntl.ioctl(descriptor, _ioc("rw", 22, 9), request, True)
    except OSError as error:
        if error.errno in (errno.EINVAL, errno.EOVERFLOW):  # a policy this code cannot show
            return True
        if error.errno != errno.ENOTTY:  # ENODATA: none; EOPNOTSUPP: no fscrypt here
            return False
    else:
        return True
    old = bytearray(12)  # struct fscrypt_policy_v1, before Linux 5.4
    try:
        fcntl.ioctl(descriptor, _ioc("w", 21, len(old)), old, True)
    except OSError as error:
        return error.errno == errno.EINVAL  # a v2 policy, which this request cannot show
    return True


__all__ = ["disk_encryption"]
