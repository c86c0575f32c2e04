"""Who may open a folder: its owner, mode and POSIX access list, and the accounts of this
computer with their groups. Facts only: home_folders works out who gets in.
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
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
# An access list longer than this is not read whole (ext4 allows ~500 entries in a block).
_MAX_ACL = 64 * 1024
# Directories with more accounts than this (a large LDAP one enumerated) are not read whole.
MAX_ACCOUNTS = 20_000

READ, WRITE, PASS = 4, 2, 1


@dataclass(frozen=True)
class FolderAccess:
    path: Path
    uid: int
    gid: int
    mode: int  # the permission bits, as `ls -l` shows them
    # The access list's entries (tag, perm, id) when it has more than the mode says.
    acl: tuple[tuple[int, int, int], ...] = ()
    link: str | None = None  # where the path leads, when it is a symbolic link


@dataclass(frozen=True)
class Account:
    uid: int
    name: str
    groups: frozenset[int]  # its own group and every group that lists it


def folder_access(path: Path) -> FolderAccess:
    """The folder's owner, mode and access list (symbolic links followed). Raises OSError
    when it cannot be looked at, NotADirectoryError when it is not a folder."""
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(path)
    link = str(path.readlink()) if path.is_symlink() else None
    return FolderAccess(
        path, info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), _acl(path), link
    )


def accounts() -> tuple[Account, ...]:
    """Every account this computer lists, with its groups; none where there are no POSIX
    accounts (Windows)."""
    try:
        import grp  # noqa: PLC0415 - POSIX only
        import pwd  # noqa: PLC0415
    except ImportError:
        return ()
    members: dict[str, set[int]] = {}
    for group in grp.getgrall()[:MAX_ACCOUNTS]:
        for name in group.gr_mem:
            members.setdefault(name, set()).add(group.gr_gid)
    return tuple(
        Account(p.pw_uid, p.pw_name, frozenset({p.pw_gid, *members.get(p.pw_name, ())}))
        for p in pwd.getpwall()[:MAX_ACCOUNTS]
    )


def _acl(path: Path) -> tuple[tuple[int, int, int], ...]:
    """The access list's entries, or none: no list, a file system without them, a platform
    without extended attributes (macOS, Windows), or a list this reader does not know."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return ()
    try:
        raw: bytes = getxattr(path, _ACL_XATTR)
    except OSError:
        return ()
    if len(raw) > _MAX_ACL or len(raw) < 4 or (len(raw) - 4) % _ENTRY.size:
        return ()
    if struct.unpack_from("<I", raw)[0] != _ACL_VERSION:
        return ()
    entries = tuple((tag, perm & 7, ident) for tag, perm, ident in _ENTRY.iter_unpack(raw[4:]))
    # The three entries a plain mode makes are the mode itself, not an access list.
    if all(tag in (USER_OBJ, GROUP_OBJ, OTHER) for tag, _, _ in entries):
        return ()
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
