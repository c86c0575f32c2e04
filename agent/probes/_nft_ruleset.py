"""What the kernel's nftables ruleset does with incoming connections, from `nft -j list
ruleset`. Facts only.

Packets addressed to this machine pass every base chain on the `input` hook of the families
that see them (inet: IPv4 and IPv6; ip: IPv4; ip6: IPv6), in priority order; an accept in one
chain does not spare them the next, and a drop in any is final. So incoming connections are
refused by default for a family when at least one such chain is closed:

- following the rules in order, the first one that matches everything (no match of its own,
  only counters, logging and the like before its verdict) is a drop or reject, or a jump or
  goto into a chain that ends that way; or
- no such rule is met and the chain's policy is drop.

A rule that matches something (established connections, loopback, a port, an address) and
accepts is an opening someone chose; it does not open the door to everything. One does: an
accept (or a jump into a chain that accepts everything) that matches only on the incoming
interface, other than loopback: that is how firewalld puts an interface into a zone whose
target is ACCEPT, and every connection arriving there is let in. Such interfaces are listed.

Chains are followed at most 16 deep; a loop counts as falling through. iptables-nft rules show
as `xt` expressions: they match something, as above. Rules loaded with the legacy iptables
(not through nftables) are not in this ruleset at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_FAMILIES = {"inet": ("ipv4", "ipv6"), "ip": ("ipv4",), "ip6": ("ipv6",)}
# Statements that do not make a rule conditional: it still matches every packet.
_PASSIVE = frozenset({"counter", "log", "mangle", "notrack"})
_CLOSING = frozenset({"drop", "reject"})
_MAX_DEPTH = 16
_ACCEPT, _DROP = "accept", "drop"


@dataclass(frozen=True)
class Ruleset:
    input_chains: int  # base chains on the input hook (inet, ip, ip6)
    ipv4_closed: bool
    ipv6_closed: bool
    open_interfaces: tuple[str, ...]  # everything arriving on these is accepted


def read_ruleset(document: Any) -> Ruleset | None:
    """The facts from nft's JSON, or None when it is not the shape nft writes."""
    if not isinstance(document, dict) or not isinstance(document.get("nftables"), list):
        return None
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[list[Any]]] = {}
    for item in document["nftables"]:
        if not isinstance(item, dict):
            continue
        chain, rule = item.get("chain"), item.get("rule")
        if isinstance(chain, dict):
            key = _key(chain, "name")
            if key is not None:
                chains[key] = chain
        elif isinstance(rule, dict):
            key = _key(rule, "chain")
            expr = rule.get("expr")
            if key is not None and isinstance(expr, list):
                rules.setdefault(key, []).append(expr)
    walk = _Walk(rules)
    closed: set[str] = set()
    count = 0
    for key, chain in chains.items():
        if chain.get("hook") != "input" or key[0] not in _FAMILIES:
            continue
        count += 1
        verdict = walk.chain(key, 0, frozenset())
        if verdict == _DROP or (verdict is None and chain.get("policy") == _DROP):
            closed.update(_FAMILIES[key[0]])
    return Ruleset(
        input_chains=count,
        ipv4_closed="ipv4" in closed,
        ipv6_closed="ipv6" in closed,
        open_interfaces=tuple(sorted(walk.open_interfaces)),
    )


def _key(item: Mapping[str, Any], name: str) -> tuple[str, str, str] | None:
    parts = (item.get("family"), item.get("table"), item.get(name))
    if all(isinstance(p, str) for p in parts):
        return parts  # type: ignore[return-value]
    return None


class _Walk:
    def __init__(self, rules: dict[tuple[str, str, str], list[list[Any]]]) -> None:
        self.rules = rules
        self.open_interfaces: set[str] = set()

    def chain(
        self, key: tuple[str, str, str], depth: int, seen: frozenset[tuple[str, str, str]]
    ) -> str | None:
        """accept or drop when every packet reaching this chain ends so; None: it falls
        through (or returns) for some."""
        if depth > _MAX_DEPTH or key in seen:
            return None
        seen = seen | {key}
        for expr in self.rules.get(key, []):
            statements = [s for s in expr if isinstance(s, dict) and len(s) == 1]
            if len(statements) != len(expr) or not statements:
                continue
            *before, last = statements
            (verb, argument), *_ = last.items()
            interface = _only_interface(before)
            if interface is None and not all(next(iter(s)) in _PASSIVE for s in before):
                continue  # it matches something: an opening, or a closing, someone chose
            verdict = self._verdict(key, verb, argument, depth, seen)
            if interface is not None:
                if verdict == _ACCEPT and interface != "lo":
                    self.open_interfaces.add(interface)
                continue
            if verdict is not None:
                return verdict
            if verb in ("goto", "return"):
                return None
        return None

    def _verdict(
        self,
        key: tuple[str, str, str],
        verb: str,
        argument: Any,
        depth: int,
        seen: frozenset[tuple[str, str, str]],
    ) -> str | None:
        if verb == _ACCEPT:
            return _ACCEPT
        if verb in _CLOSING:
            return _DROP
        if verb in ("jump", "goto") and isinstance(argument, dict):
            target = argument.get("target")
            if isinstance(target, str):
                return self.chain((key[0], key[1], target), depth + 1, seen)
        return None


def _only_interface(before: list[dict[str, Any]]) -> str | None:
    """The interface name when the rule's one match is on the incoming interface (iifname or
    iif equal to one name); None for any other rule."""
    matches = [s["match"] for s in before if "match" in s]
    others = [s for s in before if "match" not in s and next(iter(s)) not in _PASSIVE]
    if len(matches) != 1 or others or not isinstance(matches[0], dict):
        return None
    match = matches[0]
    left, right = match.get("left"), match.get("right")
    if match.get("op", "==") not in ("==", "in") or not isinstance(left, dict):
        return None
    meta = left.get("meta")
    if not isinstance(meta, dict) or meta.get("key") not in ("iifname", "iif"):
        return None
    return right if isinstance(right, str) else None
