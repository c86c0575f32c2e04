"""What an nftables ruleset does with incoming connections, from `nft -j list ruleset` (the
kernel's, or one a saved file makes in a private namespace). Facts only.

Packets addressed to this machine pass every base chain on the `input` hook of the families
that see them (inet: IPv4 and IPv6; ip: IPv4; ip6: IPv6), in priority order; an accept in one
chain does not spare them the next, and a drop in any is final. Each base chain is walked
once for IPv4 and once for IPv6, rule by rule, and each rule's matches are sorted:

- narrowing: loopback, established or related connections, given ports or addresses (not a
  whole range, not a /0), ICMP, iptables-nft's matches that narrow in ufw's and
  iptables-persistent's rules (conntrack, multiport, addrtype, ...): an accept behind one is
  an opening someone chose;
- broad: a whole protocol, every port, 0.0.0.0/0, the negation of one value, connection
  state `new`, a rate limit: an accept behind one lets in what was never allowed;
- the incoming interface alone (other than loopback): everything arriving there is let in,
  as firewalld does for an interface in a zone whose target is ACCEPT; such names are kept;
- never (a match on the other family), or matching everything (counters, logging, comments);
- anything else is not understood: an accept behind it makes the family "unsure".

A chain is closed for a family when the first rule matching everything is a drop or reject
(or a jump or goto into a chain that ends so), or when none is met and its policy is drop,
and it let nothing in on the way (no broad accept, no unsure one, no interface let in). A
family is closed when one of its base chains is. A verdict map counts as one rule per
element. Chains are followed at most 16 deep; a loop counts as not understood. Rules loaded
with the legacy iptables (not through nftables) are not in this ruleset at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_FAMILIES = {"inet": ("ipv4", "ipv6"), "ip": ("ipv4",), "ip6": ("ipv6",)}
# Statements that do not make a rule conditional: it still matches every packet.
_PASSIVE = frozenset({"counter", "log", "mangle", "notrack", "set"})
_BROAD_STATEMENTS = frozenset({"limit", "quota"})
_CLOSING = frozenset({"drop", "reject"})
_MAX_DEPTH = 16
_MAX_INTERFACES = 8
_IFNAME_LENGTH = 15  # the kernel's IFNAMSIZ less its NUL
_ACCEPT, _DROP = "accept", "drop"
NEVER, ALL, BROAD, NARROW, UNKNOWN = "never", "all", "broad", "narrow", "unknown"
# iptables-nft shows these as `xt` matches without their options; in the rules ufw and
# iptables-persistent write they narrow (RELATED,ESTABLISHED, given ports, local addresses).
_XT_NARROW = frozenset(
    {"conntrack", "state", "multiport", "addrtype", "icmp", "icmp6", "pkttype", "set",
     "iprange", "mac", "recent", "hashlimit", "rpfilter", "policy", "tcp", "udp", "owner"}
)  # fmt: skip
_CONNECTIONLESS = frozenset({"icmp", "ipv6-icmp", "icmpv6", "igmp", 1, 2, 58})
_PORT_FIELDS = frozenset({"dport", "sport"})
_ADDRESS_FIELDS = frozenset({"saddr"})
_SOME_STATES = frozenset({"established", "related", "invalid"})
_PAYLOAD_FAMILY = {"ip": "ipv4", "icmp": "ipv4", "ip6": "ipv6", "icmpv6": "ipv6"}
_CLOSED, _OPEN, _LEAKY, _UNSURE = "closed", "open", "leaky", "unsure"


@dataclass(frozen=True)
class Ruleset:
    input_chains: int  # base chains on the input hook (inet, ip, ip6)
    ipv4: str  # closed; open; unsure (a rule this reader cannot judge lets something in)
    ipv6: str
    open_interfaces: tuple[str, ...]  # everything arriving on these is accepted (clipped)

    @property
    def closed(self) -> bool:
        return self.ipv4 == self.ipv6 == _CLOSED and not self.open_interfaces


def read_ruleset(document: Any) -> Ruleset | None:
    """The facts from nft's JSON, or None when it is not the shape nft writes."""
    if not isinstance(document, dict) or not isinstance(document.get("nftables"), list):
        return None
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[Any]] = {}
    sets: dict[tuple[str, str, str], Any] = {}
    for item in document["nftables"]:
        if not isinstance(item, dict):
            continue
        chain, rule, named = item.get("chain"), item.get("rule"), item.get("set")
        if isinstance(chain, dict):
            key = _key(chain, "name")
            if key is not None:
                chains[key] = chain
        elif isinstance(rule, dict):
            key = _key(rule, "chain")
            if key is not None:
                rules.setdefault(key, []).append(rule.get("expr"))
        elif isinstance(named, dict):
            key = _key(named, "name")
            if key is not None:
                sets[key] = named.get("elem", [])
    states: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    interfaces: set[str] = set()
    count = 0
    for key, chain in chains.items():
        if chain.get("hook") != "input" or key[0] not in _FAMILIES:
            continue
        count += 1
        for family in _FAMILIES[key[0]]:
            walk = _Walk(rules, sets, family)
            verdict = walk.chain(key, 0, frozenset())
            closed = verdict == _DROP or (verdict is None and chain.get("policy") == _DROP)
            if not closed:
                states[family].append(_OPEN)
            elif walk.unsure:
                states[family].append(_UNSURE)
            elif walk.opened:
                states[family].append(_OPEN)
            elif walk.interfaces:
                states[family].append(_LEAKY)
                interfaces.update(walk.interfaces)
            else:
                states[family].append(_CLOSED)
    ipv4, ipv6 = (_family_state(states[f]) for f in ("ipv4", "ipv6"))
    if _LEAKY not in (ipv4, ipv6):
        interfaces = set()
    clipped = tuple(sorted(i[:_IFNAME_LENGTH] for i in interfaces))[:_MAX_INTERFACES]
    return Ruleset(
        input_chains=count,
        ipv4=_CLOSED if ipv4 == _LEAKY else ipv4,
        ipv6=_CLOSED if ipv6 == _LEAKY else ipv6,
        open_interfaces=clipped,
    )


def _family_state(states: list[str]) -> str:
    for state in (_CLOSED, _LEAKY, _UNSURE):
        if state in states:
            return state
    return _OPEN


def _key(item: Mapping[str, Any], name: str) -> tuple[str, str, str] | None:
    parts = (item.get("family"), item.get("table"), item.get(name))
    if all(isinstance(p, str) for p in parts):
        return parts  # type: ignore[return-value]
    return None


class _Walk:
    """One base chain, for one family: its verdict, and what it let in on the way."""

    def __init__(
        self,
        rules: dict[tuple[str, str, str], list[Any]],
        sets: dict[tuple[str, str, str], Any],
        family: str,
    ) -> None:
        self.rules = rules
        self.sets = sets
        self.family = family
        self.opened = False  # a broad accept: more than anyone chose is let in
        self.unsure = False  # an accept behind a match this reader does not understand
        self.interfaces: set[str] = set()

    def chain(
        self, key: tuple[str, str, str], depth: int, seen: frozenset[tuple[str, str, str]]
    ) -> str | None:
        """accept or drop when every packet reaching this chain ends so; None: it falls
        through (or returns) for some."""
        if depth > _MAX_DEPTH or key in seen:
            self.unsure = True
            return None
        seen = seen | {key}
        returned = False  # some packets went back to the caller: the rest is not "all"
        for expr in self.rules.get(key, []):
            rule = _split(expr)
            if rule is None:
                self.unsure = True
                continue
            matches, verdict = rule
            if verdict is None:
                continue
            condition = self._condition(key, matches)
            (verb, argument), *_ = verdict.items()
            if verb == "vmap":
                ended = self._vmap(key, matches, condition, argument, depth=depth, seen=seen)
            else:
                ended = self._rule(key, condition, verb, argument, depth=depth, seen=seen)
            if ended == "return":
                if condition == ALL:
                    return None
                returned = True
            elif ended is not None:
                if not returned:
                    return ended
                if ended == _ACCEPT:
                    self.opened = True
                return None
        return None

    def _rule(
        self,
        key: tuple[str, str, str],
        condition: str,
        verb: str,
        argument: Any,
        *,
        depth: int,
        seen: frozenset[tuple[str, str, str]],
    ) -> str | None:
        """The chain's verdict when this rule ends it for every packet, "return", or None."""
        if condition == NEVER or verb == "continue":
            return None
        if verb == "return":
            return "return"
        if verb == _ACCEPT:
            outcome: str | None = _ACCEPT
        elif verb in _CLOSING:
            outcome = _DROP
        elif verb in ("jump", "goto") and isinstance(argument, dict):
            target = argument.get("target")
            if not isinstance(target, str):
                self.unsure = True
                return None
            outcome = self.chain((key[0], key[1], target), depth + 1, seen)
            if outcome is None and verb == "goto" and condition == ALL:
                return "return"  # what falls through goes back to this chain's caller
        else:
            self.unsure = True  # queue, or a verdict this reader does not know
            return None
        if condition == ALL:
            return outcome
        if outcome == _ACCEPT:
            if condition == BROAD:
                self.opened = True
            elif condition == UNKNOWN:
                self.unsure = True
            elif condition.startswith("interface:"):
                self.interfaces.add(condition.removeprefix("interface:"))
        return None

    def _vmap(
        self,
        key: tuple[str, str, str],
        matches: list[dict[str, Any]],
        condition: str,
        argument: Any,
        *,
        depth: int,
        seen: frozenset[tuple[str, str, str]],
    ) -> str | None:
        data = argument.get("data") if isinstance(argument, dict) else None
        elements = data.get("set") if isinstance(data, dict) else None
        if not isinstance(elements, list) or condition == NEVER:
            self.unsure = True
            return None
        for element in elements:
            if not (isinstance(element, list) and len(element) == 2):
                self.unsure = True
                continue
            value, verdict = element
            if not (isinstance(verdict, dict) and len(verdict) == 1):
                self.unsure = True
                continue
            match = {"match": {"op": "==", "left": argument.get("key"), "right": value}}
            (verb, target), *_ = verdict.items()
            ended = self._rule(
                key, self._condition(key, [*matches, match]), verb, target, depth=depth, seen=seen
            )
            if ended == _ACCEPT:
                self.opened = True  # an element that matches everything
            elif ended == "return":
                self.unsure = True
        return None

    def _condition(self, key: tuple[str, str, str], matches: list[dict[str, Any]]) -> str:
        kinds = [self._kind(key, m) for m in matches]
        if NEVER in kinds:
            return NEVER
        if NARROW in kinds:
            return NARROW
        named = [k for k in kinds if k.startswith("interface:")]
        rest = [k for k in kinds if not k.startswith("interface:")]
        if len(named) == 1 and all(k == ALL for k in rest):
            return named[0]
        if named:
            return UNKNOWN
        if UNKNOWN in kinds:
            return UNKNOWN
        return BROAD if BROAD in kinds else ALL

    def _kind(self, key: tuple[str, str, str], statement: dict[str, Any]) -> str:
        (name, body), *_ = statement.items()
        if name in _BROAD_STATEMENTS:
            return BROAD
        if name == "xt":
            xt = body.get("name") if isinstance(body, dict) else None
            if isinstance(body, dict) and body.get("type") == "target":
                return ALL
            if xt == "comment":
                return ALL
            return NARROW if xt in _XT_NARROW else UNKNOWN
        if name != "match" or not isinstance(body, dict):
            return UNKNOWN
        op, left, right = body.get("op", "=="), body.get("left"), body.get("right")
        if isinstance(right, str) and right.startswith("@"):
            right = {"set": self.sets.get((key[0], key[1], right[1:]))}
            if right["set"] is None:
                return UNKNOWN
        if op not in ("==", "in", "!="):
            return UNKNOWN
        if not isinstance(left, dict) or len(left) != 1:
            return UNKNOWN
        (what, detail), *_ = left.items()
        if not isinstance(detail, dict):
            return UNKNOWN
        if what == "meta":
            return self._meta(str(detail.get("key")), op, right)
        if what == "payload":
            protocol, field = detail.get("protocol"), detail.get("field")
            family = _PAYLOAD_FAMILY.get(str(protocol))
            if family is not None and family != self.family:
                return NEVER
            return _payload(str(protocol), str(field), op, right)
        if what == "ct" and detail.get("key") == "state":
            states = set(_values(right))
            if op == "!=":
                return BROAD
            if states and states <= _SOME_STATES:
                return NARROW
            return BROAD if states else UNKNOWN
        if what == "ct" and detail.get("key") == "status" and op != "!=":
            return NARROW if set(_values(right)) <= {"dnat"} else UNKNOWN
        return UNKNOWN

    def _meta(self, key: str, op: str, right: Any) -> str:
        if key == "nfproto":
            if right not in ("ipv4", "ipv6"):
                return UNKNOWN
            return ALL if (right == self.family) == (op != "!=") else NEVER
        if key in ("iifname", "iif"):
            if op == "!=":
                return BROAD
            if right == "lo":
                return NARROW
            if isinstance(right, str):
                return "interface:" + right
            return UNKNOWN
        if key == "l4proto":
            return _protocol(op, right)
        if key == "pkttype" and op != "!=":
            values = set(_values(right))
            return NARROW if values and values <= {"broadcast", "multicast"} else UNKNOWN
        return UNKNOWN


def _split(expr: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None] | None:
    """(the matches, the verdict statement or None) of a rule; None when not understood."""
    if not isinstance(expr, list) or not expr:
        return None
    if not all(isinstance(s, dict) and len(s) == 1 for s in expr):
        return None
    *before, last = expr
    verbs = {"accept", "drop", "reject", "jump", "goto", "return", "continue", "vmap", "queue"}
    verdict = last if next(iter(last)) in verbs else None
    statements = before if verdict is not None else expr
    matches = [s for s in statements if next(iter(s)) not in _PASSIVE]
    return matches, verdict


def _protocol(op: str, right: Any) -> str:
    values = set(_values(right))
    if not values:
        return UNKNOWN
    if op != "!=" and values <= _CONNECTIONLESS:
        return NARROW
    return BROAD


def _payload(protocol: str, field: str, op: str, right: Any) -> str:
    if protocol in ("icmp", "icmpv6"):
        return NARROW
    if field in ("protocol", "nexthdr"):
        return _protocol(op, right)
    if op == "!=" and not isinstance(right, dict | list):
        return BROAD
    if field in _PORT_FIELDS:
        return _widest(op, [_port(v) for v in _values(right)])
    if field in _ADDRESS_FIELDS:
        return _widest(op, [_address(v) for v in _values(right)])
    return UNKNOWN


def _widest(op: str, kinds: list[str]) -> str:
    if op == "!=" or not kinds or UNKNOWN in kinds:
        return UNKNOWN
    return BROAD if BROAD in kinds else NARROW


def _values(right: Any) -> list[Any]:
    """The values a match compares with: one, a list, or an anonymous or named set."""
    if isinstance(right, dict) and "set" in right:
        right = right["set"]
    if isinstance(right, list):
        found = []
        for value in right:
            element = value.get("elem") if isinstance(value, dict) else None
            if isinstance(element, dict):
                found.append(element.get("val"))
            else:
                found.append(None if element is not None else value)
        return found
    return [] if right is None else [right]


def _port(value: Any) -> str:
    if isinstance(value, int):
        return NARROW
    if isinstance(value, dict) and isinstance(value.get("range"), list):
        low, high = ([*value["range"], None, None])[:2]
        if isinstance(low, int) and isinstance(high, int):
            return BROAD if low <= 1 and high >= 65535 else NARROW
    return UNKNOWN


def _address(value: Any) -> str:
    if isinstance(value, str):
        return NARROW
    if isinstance(value, dict) and isinstance(value.get("prefix"), dict):
        length = value["prefix"].get("len")
        if isinstance(length, int):
            return BROAD if length == 0 else NARROW
    return UNKNOWN
