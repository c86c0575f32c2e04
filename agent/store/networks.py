"""Networks the person marked as trusted, known only by keyed fingerprints."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from agent.store.database import Database
from agent.store.values import parse, readable, ts


class TrustedNetwork(NamedTuple):
    fingerprint: str  # keyed: the network's name or gateway address cannot be read back
    kind: str  # "Wi-Fi" or "wired": what the fingerprint was made of
    label: str
    added_at: datetime


class TrustedNetworks(Database):
    def trust_network(self, network: TrustedNetwork) -> None:
        with self._write("save the trusted network to") as conn:
            conn.execute(
                "INSERT INTO trusted_networks (fingerprint, kind, label, added_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET "
                "label = excluded.label",
                (network.fingerprint, network.kind, network.label, ts(network.added_at)),
            )

    def untrust_network(self, fingerprint: str | None = None, label: str | None = None) -> int:
        """Forget the networks with this fingerprint or label; how many there were."""
        with self._write("forget the trusted network in") as conn:
            done = conn.execute(
                "DELETE FROM trusted_networks WHERE fingerprint = ? OR label = ?",
                (fingerprint, label),
            )
        return int(done.rowcount)

    def trusted_networks(self) -> list[TrustedNetwork]:
        with self._read("read the trusted networks in") as conn:
            rows = conn.execute(
                "SELECT fingerprint, kind, label, added_at FROM trusted_networks ORDER BY added_at"
            ).fetchall()
        return readable(
            rows, lambda r: TrustedNetwork(str(r[0]), str(r[1]), str(r[2]), parse(r[3]))
        )
