from __future__ import annotations

import ipaddress
from dataclasses import field
from datetime import timedelta
from typing import Annotated

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.models import Finding, Severity
from agent.probes import listeners
from agent.settings import Doc, settings
from agent.wording import clip

# Answered on every network by design: DHCP client replies (68, 546) and multicast DNS
# (5353, how printers and phones find each other).
EXPECTED: tuple[int | str, ...] = (68, 546, 5353)


@settings
class ExposedServicesParams(CheckParams):
    every: Every = timedelta(minutes=1)
    allow: Annotated[
        list[int | str],
        Doc("Ports (numbers) and program names that may listen on the network."),
    ] = field(default_factory=lambda: list(EXPECTED))


class ExposedServicesCheck(Check[ExposedServicesParams]):
    """Engage only with machines you know: a program listening on the network answers anyone.

    A development server, a database or a file share started for a moment and left running
    on every address can be reached by everyone on the same café or office network. A
    program that only this computer uses should listen on 127.0.0.1 (localhost).
    """

    id = "exposed_services"
    topic = "programs open to the network"
    title = "No program answers the network unless you meant it to"
    severity = Severity.medium
    rationale = "A program listening on the network can be reached by anyone on it."
    advice = (
        "Make programs that only this computer uses listen on 127.0.0.1, and stop the ones "
        "you do not need; list the ones you mean to share in allow."
    )
    reads = ("the sockets waiting for connections and the names of the programs that own them",)
    keeps = "program name, port and the addresses it listens on"
    alert = "A program answers anyone on the network"
    alert_many = "{n} programs answer anyone on the network"
    Params = ExposedServicesParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        allowed = set(self.params.allow)
        exposed: dict[tuple[str, int, str], list[str]] = {}
        pids: dict[tuple[str, int, str], int | None] = {}
        for listener in listeners():
            if _local(listener.address):
                continue
            program = listener.program or "a program the system does not name"
            if listener.port in allowed or (listener.program or "") in allowed:
                continue
            key = (program, listener.port, listener.protocol)
            exposed.setdefault(key, []).append(listener.address)
            pids.setdefault(key, listener.pid)
        findings = []
        for (program, port, protocol), addresses in sorted(exposed.items()):
            where = _where(addresses)
            subject = f"{program} on port {port}/{protocol}"
            findings.append(
                self.finding(
                    ctx,
                    subject,
                    "listening on the network",
                    f"{program} answers anyone on the network on port {port}/{protocol} "
                    f"(it listens on {where}).",
                    "If only this computer uses it, make it listen on 127.0.0.1 (its setting "
                    "is often called bind, listen or host); if you do not need it, stop it. "
                    f"If others should reach it, add {port} or its name to allow.",
                    notice=f"{clip(program, 40)} answers anyone on the network on port "
                    f"{port}/{protocol}. Make it listen on 127.0.0.1, or stop it.",
                    port=port,
                    protocol=protocol,
                    program=program,
                    pid=pids[(program, port, protocol)],
                    addresses=", ".join(sorted(set(addresses))),
                )
            )
        return findings


def _local(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False  # "*": every address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _where(addresses: list[str]) -> str:
    unique = sorted(set(addresses))
    if any(a in ("0.0.0.0", "::", "*") for a in unique):  # noqa: S104 - recognised, not bound
        return "every address of this computer"
    return ", ".join(unique)
