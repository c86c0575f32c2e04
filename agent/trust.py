"""Which networks the person trusts: `hygiene network trust | untrust | list`, and the test the
vpn check makes. A network is known only by keyed fingerprints of its Wi-Fi name and of its
gateway's hardware address (DESIGN.md, privacy rules); the name and address are never kept."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from agent.checks.base import CheckContext
from agent.errors import AgentError
from agent.fingerprint import Fingerprinter
from agent.paths import Paths
from agent.probes import Network, network
from agent.store import Store, TrustedNetwork
from agent.text import printable

MAX_LABEL = 100


def identities(net: Network, fingerprint: Fingerprinter) -> dict[str, str]:
    """The current network's fingerprints by what they were made of ("Wi-Fi", "wired")."""
    found = {}
    if net.ssid:
        found["Wi-Fi"] = fingerprint("network", "ssid", net.ssid)
    if net.gateway_mac:
        found["wired"] = fingerprint("network", "gateway", net.gateway_mac.lower())
    return found


def given(names: Iterable[str], fingerprint: Fingerprinter) -> set[str]:
    """Fingerprints of networks an admin lists by Wi-Fi name or gateway hardware address."""
    prints = set()
    for name in names:
        prints.add(fingerprint("network", "ssid", name))
        prints.add(fingerprint("network", "gateway", name.lower()))
    return prints


def trusted(ctx: CheckContext) -> list[TrustedNetwork]:
    """The networks the person trusts, from the agent's store when the check runs in the
    agent, else read-only (`hygiene check`); none when there is no store yet."""
    if ctx.store is not None:
        return ctx.store.trusted_networks()
    return _read_trusted(ctx.paths)


def _read_trusted(paths: Paths) -> list[TrustedNetwork]:
    store = Store.open_read_only(paths.state)
    if store is None:
        return []
    with store:
        return store.trusted_networks()


def network_command(
    action: str,
    *,
    label: str | None,
    as_json: bool,
    paths: Paths,
    env: Mapping[str, str],
    now: datetime,
) -> int:
    if action == "list":
        return _list(paths, env, as_json)
    if label is not None and not 1 <= len(label) <= MAX_LABEL:
        raise AgentError(f"a network's label is 1 to {MAX_LABEL} characters, got {len(label)}")
    fingerprint = Fingerprinter.for_state_dir(paths.state)
    current = identities(network(env), fingerprint)
    with Store.open(paths.state) as store:
        if action == "trust":
            if not current:
                raise AgentError(
                    "there is no network to trust: this computer has no default gateway, or "
                    "its hardware address is not known yet (try again once you are connected)"
                )
            kind = "Wi-Fi" if "Wi-Fi" in current else "wired"
            name = label or f"{kind} network trusted on {now:%Y-%m-%d}"
            for made_of, print_ in current.items():
                store.trust_network(TrustedNetwork(print_, made_of, name, now))
            print(
                f"Trusted this {kind} network as {name!r}. Only a fingerprint of its "
                "name and gateway is kept, never the name or address."
            )
            return 0
        forgotten = 0
        if label:
            forgotten = store.untrust_network(label=label)
        else:
            for print_ in current.values():
                forgotten += store.untrust_network(fingerprint=print_)
    if not forgotten and label:
        # A label that names nothing is a mistake in the command (exit 2), not a finding.
        raise AgentError(
            f"no trusted network is labelled {printable(label)!r}; "
            "`hygiene network list` shows the labels"
        )
    if not forgotten:
        print("This network was not trusted; nothing changed.")
        return 0
    shown = f"the networks labelled {printable(label)!r}" if label else "this network"
    print(f"No longer trusting {shown}.")
    return 0


def _list(paths: Paths, env: Mapping[str, str], as_json: bool) -> int:
    # Reads only: the install key (for "you are on it") is looked at only when some network
    # is trusted, and then it exists already.
    entries = _read_trusted(paths)
    current = set()
    if entries:
        fingerprint = Fingerprinter.for_state_dir(paths.state)
        current = set(identities(network(env), fingerprint).values())
    by_label: dict[str, list[TrustedNetwork]] = {}
    for entry in entries:
        by_label.setdefault(entry.label, []).append(entry)
    rows: list[dict[str, Any]] = [
        {
            "label": label,
            "kinds": sorted({e.kind for e in entries}),
            "added_at": min(e.added_at for e in entries).isoformat(timespec="seconds"),
            "current": any(e.fingerprint in current for e in entries),
        }
        for label, entries in by_label.items()
    ]
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("No trusted networks. On one you trust: hygiene network trust --label NAME")
        return 0
    for row in rows:
        here = "  (you are on it)" if row["current"] else ""
        label = printable(row["label"])  # the person's own words, but never raw on a terminal
        print(f"{label}  [{', '.join(row['kinds'])}, since {row['added_at']}]{here}")
    return 0
