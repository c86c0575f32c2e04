"""The agent's durable state: findings, snoozes, events, notifications, trusted networks and
the scan cache, in one SQLite file, ``<state_dir>/store.db`` (folder 0700, files 0600), in
WAL mode.

- ``database``: the only code that touches the file: opening it read-write (creating,
  migrating, setting a damaged one aside) or read-only, the one connection and its lock;
- ``schema``: the migrations, one step per schema version;
- one module per kind of record: ``findings`` (with snoozes and events),
  ``notifications``, ``held`` (notices held back), ``networks`` (trusted networks), ``scan_cache``.

Records are NamedTuples, not dataclasses: making a dataclass costs about a millisecond when
its module loads, and `hygiene status` loads them all to print a few lines.

``Store`` is all of them on one connection. Open it with ``Store.open(state_dir)`` to write,
or ``Store.open_read_only(state_dir)`` to read (None when nothing was stored yet). Anything
the disk or another process refuses surfaces as ``StoreError``: one sentence, no traceback.
"""

from __future__ import annotations

from agent.store.database import STORE_FILE, StoreError
from agent.store.findings import Change, CheckState, Event, Findings, FindingState
from agent.store.held import Held, HeldNotice
from agent.store.networks import TrustedNetwork, TrustedNetworks
from agent.store.notifications import NotificationRecord, Notifications
from agent.store.scan_cache import CachedPath, ScanCache

__all__ = [
    "STORE_FILE",
    "CachedPath",
    "Change",
    "CheckState",
    "Event",
    "FindingState",
    "HeldNotice",
    "NotificationRecord",
    "Store",
    "StoreError",
    "TrustedNetwork",
]


class Store(Findings, Notifications, Held, TrustedNetworks, ScanCache):
    """The agent's state in ``<state_dir>/store.db``; thread-safe (one lock, one connection).

    The agent opens it once and its checks share it (``CheckContext.store``); a command
    opens its own. Never a second one in the same process.
    """
