"""What a scan saw in each path last time, so that an unchanged file is not read again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from agent.files import json_value
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
                loaded = json_value(record) if record is not None else None
            except ValueError:
                # A damaged row is a path looked at again, nothing worse (and replaced then).
                signature, loaded = None, None
            cached.append(CachedPath(str(path), signature, loaded))
        return cached

    def keep_scan_cache(
        self,
        scanner: str,
        version: str,
        paths: Sequence[CachedPath],
        previous: Sequence[CachedPath] = (),
    ) -> None:
        """Make what `scanner` saw `paths`, in one transaction. `previous` is what scan_cache()
        gave for this version before: only the rows that differ from it are written, so that
        a run that read a hundred files of a big tree writes a hundred rows, not the tree."""
        before = {p.path: p for p in previous}
        now = {p.path for p in paths}
        with self._write("save the scan cache to") as conn:
            if before:
                conn.execute(
                    "DELETE FROM scan_cache WHERE scanner = ? AND version != ?", (scanner, version)
                )
                conn.executemany(
                    "DELETE FROM scan_cache WHERE scanner = ? AND path = ?",
                    [(scanner, path) for path in before if path not in now],
                )
            else:
                conn.execute("DELETE FROM scan_cache WHERE scanner = ?", (scanner,))
            conn.executemany(
                "INSERT OR REPLACE INTO scan_cache (scanner, path, device, inode, ctime_ns, "
                "mtime_ns, version, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        scanner,
                        p.path,
                        *(signed(v) for v in p.signature or (None, None, None, None)),
                        version,
                        None if p.record is None else json.dumps(p.record, sort_keys=True),
                    )
                    for p in paths
                    if before.get(p.path) != p
                ],
            )
