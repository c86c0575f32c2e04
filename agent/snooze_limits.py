"""How long a snooze may last under the policy in force, noted by each load of that policy
so that `hygiene snooze` need not load it again.

Loading a policy means validating it, which means pydantic and every check's settings
model: several times what the rest of `hygiene snooze` costs. So the agent's kind of load
(`load_policy(..., keep_going=True)`, no extra files) notes the limits it found in
<state>/snooze-limits.json, with the stat signature of everything that load read.
`recorded` answers from that note only while every one of those files is as it was; after
any change it answers None, and the command loads the policy itself (which notes it anew).
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from agent import __version__
from agent.files import json_value, read_small_file, write_whole
from agent.paths import Paths, builtin_policy_path

MAX_BYTES = 1 << 20


class SnoozeLimits(NamedTuple):
    longest: timedelta  # notify.max_snooze
    admin_longest: timedelta  # the admin layers' own max_snooze
    locked: dict[str, str]  # check id -> the admin policy that locks it

    def limit(self, check: str | None) -> timedelta:
        """The longest snooze of `check` (or of one of its findings): notify.max_snooze, and
        for a check an admin locks never longer than the admin's own max_snooze."""
        if check is not None and check in self.locked:
            return min(self.longest, self.admin_longest)
        return self.longest


def note(paths: Paths, limits: SnoozeLimits) -> None:
    """Keep `limits` for `recorded`; a state folder that cannot take it only costs speed."""
    data = {
        "read": _signature(paths),
        "longest": limits.longest.total_seconds(),
        "admin_longest": limits.admin_longest.total_seconds(),
        "locked": limits.locked,
    }
    text = json.dumps(data).encode()
    try:
        unchanged = _read(paths) == text  # the agent loads its policy often; it seldom changes
    except OSError:
        unchanged = False
    if not unchanged:
        with contextlib.suppress(OSError):
            write_whole(_where(paths), text, 0o600)


def recorded(paths: Paths) -> SnoozeLimits | None:
    """The limits the last load noted, or None when anything it read has changed since."""
    try:
        data = json_value(_read(paths))
        if data["read"] != _signature(paths):
            return None
        locked = data["locked"]
        if not (isinstance(locked, dict) and all(isinstance(v, str) for v in locked.values())):
            return None
        return SnoozeLimits(
            longest=timedelta(seconds=float(data["longest"])),
            admin_longest=timedelta(seconds=float(data["admin_longest"])),
            locked=locked,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or damaged: the command loads the policy itself


def _read(paths: Paths) -> bytes:
    return read_small_file(_where(paths), MAX_BYTES)


def _where(paths: Paths) -> Path:
    # Beside the store, not among what a load reads; no state folder yet: no note.
    return paths.state / "snooze-limits.json"


def _signature(paths: Paths) -> list[object]:
    """Everything a policy load reads, as stat facts: the shipped default, the user's and
    the admin's folders (policies and keys), and what the state folder keeps of policies
    (last good copies, pulled sources). A file changed in place changes its size or mtime;
    one replaced changes its inode; one added or removed changes its folder's listing."""
    state = paths.state
    folders = [
        paths.user_policies,
        paths.admin_policies,
        paths.admin_policies.parent / "keys",
        state / "policy",
        state / "policy" / "accepted",
        state / "sources",
    ]
    facts: list[object] = [__version__, _stat(builtin_policy_path())]
    for folder in folders:
        facts.append(str(folder))
        try:
            names = sorted(os.listdir(folder))  # noqa: PTH208 - names only, as strings
        except OSError:
            facts.append(None)
            continue
        facts += [[n, _stat(folder / n)] for n in names]
    return facts


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]
