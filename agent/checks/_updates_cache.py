"""What the `updates` check remembers between runs, in the store's scan cache (one place, the
agent's one connection; the running agent builds a new check for every run, so nothing held
by the check itself would survive).

- The last answer of the package manager, kept while none of the files it came from changed
  (`Updates.sources`: apt's lists, dpkg's status, apt's settings and sources, the restart
  flag), told by each file's stat signature (device, inode, ctime_ns, mtime_ns). Asking apt
  costs tens of milliseconds (seconds where no security source is found and every list is
  read); stating its files, well under a millisecond.
- When the agent first saw each security update waiting, keyed by the package and the
  version installed: the clock runs while that version stays, even when a newer fix
  replaces the first one, and stops when the package is upgraded.

Rows whose path is not absolute are the agent's own records ("updates:answer",
"updates:since:NAME=VERSION"), never a file. A damaged row is a fresh look, nothing worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.checks.base import CheckContext
from agent.probes import PendingUpdate, Updates

if TYPE_CHECKING:
    from agent.store import CachedPath

SCANNER = "updates"
ANSWER = "updates:answer"
SINCE = "updates:since:"


def version(ctx: CheckContext) -> str:
    # Another APT_CONFIG is another apt: nothing of one answers for the other.
    return f"1 {ctx.env.get('APT_CONFIG', '')}"


@dataclass
class Remembered:
    rows: list[CachedPath] = field(default_factory=list)
    problem: str | None = None

    def answer(self) -> Updates | None:
        """The kept answer, when every file it came from is as it was."""
        kept = next((r for r in self.rows if r.path == ANSWER), None)
        if kept is None or kept.record is None:
            return None
        files = [r for r in self.rows if r.path.startswith("/")]
        if not files or any(signature(r.path) != r.signature for r in files):
            return None
        return from_record(kept.record)

    def since(self) -> dict[str, datetime]:
        found = {}
        for row in self.rows:
            if row.path.startswith(SINCE) and row.record is not None:
                try:
                    found[row.path.removeprefix(SINCE)] = datetime.fromisoformat(
                        str(row.record["since"])
                    )
                except (KeyError, ValueError):
                    continue
        return found


def read(ctx: CheckContext) -> Remembered:
    """What an earlier run kept: from the agent's store, or read-only (`hygiene check`)."""
    from agent.store import Store, StoreError  # noqa: PLC0415 - SQLite only when needed

    try:
        if ctx.store is not None:
            return Remembered(ctx.store.scan_cache(SCANNER, version(ctx)))
        store = Store.open_read_only(ctx.paths.state)
        if store is None:
            return Remembered()
        with store:
            return Remembered(store.scan_cache(SCANNER, version(ctx)))
    except StoreError as err:
        return Remembered(problem=str(err))


def keep(
    ctx: CheckContext, found: Updates, since: dict[str, datetime], before: Remembered
) -> str | None:
    """Keep the answer and the first sightings (in the agent only); why not, when it failed."""
    if ctx.store is None:
        return None
    from agent.store import CachedPath, StoreError  # noqa: PLC0415

    rows = [CachedPath(path, signature(path)) for path in found.sources]
    if found.sources:
        rows.append(CachedPath(ANSWER, None, to_record(found)))
    rows += [
        CachedPath(SINCE + key, None, {"since": when.isoformat()}) for key, when in since.items()
    ]
    try:
        ctx.store.keep_scan_cache(SCANNER, version(ctx), rows, previous=before.rows)
    except StoreError as err:
        return str(err)
    return None


def signature(path: str) -> tuple[int, int, int, int] | None:
    try:
        info = Path(path).stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_ctime_ns, info.st_mtime_ns)


def key(update: PendingUpdate) -> str:
    return f"{update.name}={update.installed}"


def to_record(found: Updates) -> dict[str, Any]:
    return {
        "manager": found.manager,
        "pending": [[p.name, p.installed, p.available, p.security] for p in found.pending],
        "listed": found.listed,
        "checked": _when(found.checked),
        "automatic": found.automatic,
        "automatic_how": found.automatic_how,
        "restart": found.restart,
        "restart_for": list(found.restart_for),
        "restart_since": _when(found.restart_since),
        "prepared": found.prepared,
        "prepared_since": _when(found.prepared_since),
        "sources": list(found.sources),
    }


def from_record(record: dict[str, Any]) -> Updates | None:
    try:
        return Updates(
            str(record["manager"]),
            tuple(
                PendingUpdate(str(n), str(i), str(a), bool(s)) for n, i, a, s in record["pending"]
            ),
            listed=bool(record["listed"]),
            checked=_time(record["checked"]),
            automatic=_maybe(record["automatic"]),
            automatic_how=str(record["automatic_how"]),
            restart=_maybe(record["restart"]),
            restart_for=tuple(str(n) for n in record["restart_for"]),
            restart_since=_time(record["restart_since"]),
            prepared=int(record["prepared"]),
            prepared_since=_time(record["prepared_since"]),
            sources=tuple(str(s) for s in record["sources"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _time(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _maybe(value: object) -> bool | None:
    return None if value is None else bool(value)


def known_since(
    pending: Sequence[PendingUpdate], before: dict[str, datetime], now: datetime
) -> dict[str, datetime]:
    """When each waiting security update was first seen: kept, or now for a new one."""
    return {key(p): before.get(key(p), now) for p in pending if p.security}
