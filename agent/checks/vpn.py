from __future__ import annotations

import fnmatch
from dataclasses import field
from datetime import timedelta
from typing import Annotated, Literal

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.models import Finding, Severity
from agent.probes import Interface, Network, network
from agent.settings import Doc, settings
from agent.wording import clip

# Names VPN clients give their interfaces: OpenVPN and most (tun, tap), WireGuard (wg),
# PPP-based (ppp), macOS (utun, ipsec), Tailscale, NordVPN (nordlynx), ZeroTier (zt),
# ProtonVPN, Mullvad, Cisco AnyConnect (cscotun), GlobalProtect (gpd).
VPN_NAMES = (
    "tun*", "tap*", "wg*", "ppp*", "utun*", "ipsec*", "tailscale*", "nordlynx*", "zt*",
    "proton*", "mullvad*", "cscotun*", "gpd*", "vpn*",
)  # fmt: skip
VPN_KINDS = frozenset({"tun", "wireguard", "ppp", "ipsec"})
TRUST = (
    " If this is a network you trust (your home, your office), mark it once: "
    "hygiene network trust --label NAME"
)


@settings
class VpnParams(CheckParams):
    # The probe reads /proc and /sys (a few milliseconds, bench/network.py): often, so that
    # joining a café's network is told about within seconds.
    every: Every = timedelta(seconds=10)
    require: Annotated[
        Literal["always", "untrusted", "never"],
        Doc(
            "When a VPN must carry the traffic: on every network, on networks not "
            "marked as trusted, or never."
        ),
    ] = "untrusted"
    trusted_networks: Annotated[
        list[str],
        Doc(
            "Networks to trust, by Wi-Fi name or gateway hardware address; compared "
            "as fingerprints, never kept as written in the store."
        ),
    ] = field(default_factory=list)
    vpn_interfaces: Annotated[
        list[str], Doc("More interface names (or patterns like corp*) that are VPNs.")
    ] = field(default_factory=list)


class VpnCheck(Check[VpnParams]):
    """On a network you do not trust, use a VPN to hide your traffic.

    On a café's or a hotel's network, whoever runs it (or anyone who set up a look-alike)
    sees where your computer connects and can tamper with what is not encrypted. A VPN
    carries all of it through one encrypted tunnel to a place you trust. At home or at the
    office you can mark the network as trusted: only a fingerprint of it is kept.
    """

    id = "vpn"
    topic = "the VPN"
    title = "A VPN carries your traffic on networks you do not trust"
    severity = Severity.medium
    rationale = "On a network you do not trust, its owner can watch and tamper with your traffic."
    advice = (
        "Connect your VPN before you use a network you do not trust. Unless your policy asks "
        "for a VPN everywhere, a network you trust (home, office) can be marked as trusted."
    )
    reads = (
        "the network interfaces and routes (/sys/class/net, /proc/net/route and ipv6_route), "
        "the default gateway's hardware address (/proc/net/arp), the Wi-Fi network's name "
        "and active VPN connections (NetworkManager, over the system bus)",
        "the fingerprints of networks you marked trusted (the store)",
    )
    keeps = (
        "which interface carries the traffic and whether it is a VPN; the Wi-Fi name and "
        "gateway address only as keyed fingerprints, and only when you trust a network"
    )
    alert = "Your traffic is not protected on this network"
    alert_many = "Your traffic is not protected on this network ({n} problems)"
    alerts = (
        ("no VPN", "No VPN on this network", "No VPN on this network ({n} problems)"),
        (
            "split tunnel",
            "Your VPN does not carry your traffic",
            "Your VPN does not carry your traffic ({n} problems)",
        ),
    )
    Params = VpnParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        if self.params.require == "never":
            return []
        net = network(ctx.env)
        if not net.default_routes:
            return []  # not connected: nothing leaves
        vpns = [i for i in net.interfaces if i.up and self._is_vpn(i)]
        out = net.default_routes[0]  # the way the traffic takes now
        if any(i.name == out for i in vpns):
            return []
        if self.params.require == "untrusted" and self._trusted(ctx, net):
            self.passed = "You are on a network you trust, where no VPN is asked for"
            return []
        always = self.params.require == "always"
        # Under require: always, trusting the network changes nothing: it is not offered.
        where = (
            "Your policy asks for a VPN on every network"
            if always
            else "You are on a network you have not marked as trusted"
        )
        trust = "" if always else TRUST
        or_trust = "" if always else ", or if you trust it: hygiene network trust --label NAME"
        facts = {"route": out, "require": self.params.require}
        if vpns or net.vpn_connections:
            names = ", ".join([i.name for i in vpns] or list(net.vpn_connections))
            return [
                self.finding(
                    ctx,
                    "this network",
                    "split tunnel",
                    f"{where}, and your VPN ({names}) is connected but does not carry your "
                    f"traffic: it leaves through {out} (a split tunnel).",
                    "Set the VPN to carry all traffic (in its settings, 'use this connection "
                    "for all traffic'; for WireGuard, AllowedIPs = 0.0.0.0/0, ::/0)." + trust,
                    notice=f"Your VPN ({clip(names, 30)}) is up, but your traffic leaves through "
                    f"{out}. Set it to carry all traffic{or_trust}",
                    vpn=names,
                    **facts,
                )
            ]
        return [
            self.finding(
                ctx,
                "this network",
                "no VPN",
                f"{where}, and no VPN is carrying your traffic (it leaves through {out}).",
                "Connect your VPN now." + trust,
                notice=(
                    f"Your policy asks for a VPN on every network; your traffic leaves through "
                    f"{out} without one. Connect your VPN."
                    if always
                    else f"No VPN carries your traffic on this untrusted network (it leaves "
                    f"through {out}). Connect your VPN{or_trust}"
                ),
                **facts,
            )
        ]

    def _is_vpn(self, interface: Interface) -> bool:
        if interface.kind in VPN_KINDS:
            return True
        patterns = (*VPN_NAMES, *self.params.vpn_interfaces)
        # Case does not matter: Windows names adapters "Tailscale", "WireGuard Tunnel".
        return any(fnmatch.fnmatch(interface.name.lower(), p.lower()) for p in patterns)

    def _trusted(self, ctx: CheckContext, net: Network) -> bool:
        from agent.trust import given, identities, trusted  # noqa: PLC0415 - loads the store

        current = set(identities(net, ctx.fingerprint).values())
        if not current:
            return False
        known = {t.fingerprint for t in trusted(ctx)}
        return bool(current & (known | given(self.params.trusted_networks, ctx.fingerprint)))
