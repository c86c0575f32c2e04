"""Who besides its owner may open a folder: its mode, its group, and its POSIX access list.

Facts only: which accounts and groups the bits and the access list let list, pass through
or change the folder. Whether that is too much is the home_folders check's to say.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

# <linux/posix_acl_xattr.h>: a version word, then (tag, perm, id) entries.
_ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
_ENTRY = struct.Struct("<HHI")
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# An access list longer than this is not read whole (ext4 allows ~500 entries in a block).
_MAX_ACL = 64 * 1024

READ, WRITE, PASS = 4, 2, 1


@dataclass(frozen=True)
class Opener:
    """One kind of other account a folder lets in, and what it may do (READ|WRITE|PASS).

    kind: "others" (every account), "group" (the folder's group, when it is not the owner's
    own), "acl_user" / "acl_group" (named in the access list); ident: the uid or gid."""

    kind: str
    ident: int
    perm: int


@dataclass(frozen=True)
class FolderAccess:
    path: Path
    mode: int  # the permission bits, as `ls -l` shows them
    openers: tuple[Opener, ...]
    acl: bool  # the folder has an access list beyond its mode


def folder_access(path: Path) -> FolderAccess:
    """What others may do with the folder (symbolic links followed). Raises OSError when it
    cannot be looked at, NotADirectoryError when it is not a folder."""
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(path)
    mode = stat.S_IMODE(info.st_mode)
    entries = _acl(path)
    group_perm = (mode >> 3) & 7
    openers: list[Opener] = []
    if entries:
        # With an access list, the mode's group bits are its mask: the owning group's own
        # entry says what that group may do, and every named entry is bounded by the mask.
        mask = next((p for t, p, _ in entries if t == _MASK), 7)
        group_perm = next((p for t, p, _ in entries if t == _GROUP_OBJ), group_perm) & mask
        for tag, perm, ident in entries:
            if tag == _USER and ident != info.st_uid and perm & mask:
                openers.append(Opener("acl_user", ident, perm & mask))
            elif tag == _GROUP and perm & mask and not private_group(ident, info.st_uid):
                openers.append(Opener("acl_group", ident, perm & mask))
    if group_perm and not private_group(info.st_gid, info.st_uid):
        openers.append(Opener("group", info.st_gid, group_perm))
    if mode & 7:
        openers.append(Opener("others", 0, mode & 7))
    return FolderAccess(path, mode, tuple(openers), bool(entries))


def _acl(path: Path) -> list[tuple[int, int, int]]:
    """The access list's entries, or none: no list, a file system without them, a platform
    without extended attributes (macOS, Windows), or a list this reader does not know."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return []
    try:
        raw: bytes = getxattr(path, _ACL_XATTR)
    except OSError:
        return []
    if len(raw) > _MAX_ACL or len(raw) < 4 or (len(raw) - 4) % _ENTRY.size:
        return []
    if struct.unpack_from("<I", raw)[0] != _ACL_VERSION:
        return []
    entries = [(tag, perm & 7, ident) for tag, perm, ident in _ENTRY.iter_unpack(raw[4:])]
    # The three entries a plain mode makes are the mode itself, not an access list.
    if all(tag in (_USER_OBJ, _GROUP_OBJ, _OTHER) for tag, _, _ in entries):
        return []
    return entries


def private_group(gid: int, uid: int) -> bool:
    """The owner's own group (Debian and Fedora give each user one): no one else is in it."""
    try:
        import grp  # noqa: PLC0415 - POSIX only
        import pwd  # noqa: PLC0415
    except ImportError:
        return False
    try:
        group = grp.getgrgid(gid)
        owner = pwd.getpwuid(uid)
    except KeyError:
        return False
    return owner.pw_gid == gid and not [m for m in group.gr_mem if m != owner.pw_name]
