"""What a scan saw in each path last time, so that an unchanged file is not read again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from agent.store.database import Database
from agent.store.values import signed, unsigned


class CachedPath(NamedTuple):
    """One path a scan looked at: its stat signature (device, inode, ctime_ns, mtime_ns; None
    when it was not there) and, for a file that was read, what was found in it."""

    path: str
    signature: tuple[int, int, int, int] | None
    record: dict[str, Any] | None = None


class ScanCache(Database):
    def scan_cache(self, scanner: str, version: str) -> list[CachedPath]:
        """What `scanner` (at `version`) saw last time; empty when it was another version."""
        with self._read("read the scan cache in") as conn:
            rows = conn.execute(
                "SELECT path, device, inode, ctime_ns, mtime_ns, record FROM scan_cache "
                "WHERE scanner = ? AND version = ?",
                (scanner, version),
            ).fetchall()
        cached = []
        for path, device, inode, ctime_ns, mtime_ns, record in rows:
            signature = None
            if device is not None:
                signature = (int(device), unsigned(int(inode)), int(ctime_ns), int(mtime_ns))
            try:
                loaded = json.loads(record) if record is not None else None
            except ValueError:
                continue  # a damaged row is a file read again, nothing worse
            cached.append(CachedPath(str(path), signature, loaded))
        return cached

    def keep_scan_cache(self, scanner: str, version: str, paths: Sequence[CachedPath]) -> None:
        """Replace what `scanner` saw with `paths`, in one transaction."""
        with self._write("save the scan cache to") as conn:
            conn.execute("DELETE FROM scan_cache WHERE scanner = ?", (scanner,))
            conn.executemany(
                "INSERT INTO scan_cache (scanner, path, device, inode, ctime_ns, mtime_ns, "
                "version, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        scanner,
                        p.path,
                        *(signed(v) for v in p.signature or (None, None, None, None)),
                        version,
                        None if p.record is None else json.dumps(p.record, sort_keys=True),
                    )
                    for p in paths
                ],
            )
