"""NetworkManager's connection keyfiles (/etc/NetworkManager/system-connections/).

A GKeyFile: [group] lines, key=value, values escaped (\\s \\n \\t \\r \\\\). Secrets: Wi-Fi
psk, wep-key0..3, leap-password; 802.1X password, private-key and certificate passwords,
pin; mobile broadband, PPPoE and ADSL passwords; WireGuard private and preshared keys;
MACsec CAK; every key of [vpn-secrets]. NetworkManager writes a secret here only when its
<name>-flags is 0 (system-owned); 1 (agent-owned: the desktop keyring), 2 (not saved) or
4 (not required) mean it is not kept in the file, and NetworkManager neither writes nor uses
a value found beside such a flag.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.credentials.model import Family, Secret, Source

Groups = dict[str, dict[str, tuple[str, int]]]  # group -> key -> (value, line)

_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
# Old keyfiles name the settings by their long names.
_ALIASES = {
    "802-11-wireless": "wifi",
    "802-11-wireless-security": "wifi-security",
    "802-3-ethernet": "ethernet",
}
# group -> (key, the key of its flags, kind)
_SECRETS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "wifi-security": (
        ("psk", "psk-flags", "password"),
        ("leap-password", "leap-password-flags", "password"),
        *((f"wep-key{n}", "wep-key-flags", "password") for n in range(4)),
    ),
    "802-1x": tuple(
        (key, f"{key}-flags", "password")
        for key in (
            "password",
            "private-key-password",
            "phase2-private-key-password",
            "pin",
            "ca-cert-password",
            "client-cert-password",
            "phase2-ca-cert-password",
            "phase2-client-cert-password",
        )
    ),
    "gsm": (("password", "password-flags", "password"), ("pin", "pin-flags", "password")),
    "cdma": (("password", "password-flags", "password"),),
    "pppoe": (("password", "password-flags", "password"),),
    "adsl": (("password", "password-flags", "password"),),
    "wireguard": (("private-key", "private-key-flags", "token"),),
    "macsec": (("mka-cak", "mka-cak-flags", "token"),),
}
_PEER = (("preshared-key", "preshared-key-flags", "token"),)
_HEX_PSK = re.compile(r"[0-9a-fA-F]{64}")
_HEX_WEP = re.compile(r"[0-9a-fA-F]{10}|[0-9a-fA-F]{26}")
_BYTES = re.compile(r"(?:\d{1,3};)+\d{0,3}")
_MKSTEMP = re.compile(r".*\.[A-Za-z0-9]{6}")


def read_keyfile(text: str) -> Groups:
    """A GKeyFile's groups and keys, values unescaped, with the line of each key. A later
    group or key of the same name adds to or replaces the earlier one, as GLib does."""
    groups: Groups = {}
    current: dict[str, tuple[str, int]] | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            end = line.find("]")
            current = groups.setdefault(line[1:end], {}) if end > 0 else None
            continue
        key, equals, value = line.partition("=")
        if equals and current is not None:
            current[key.rstrip()] = (unescape(value.lstrip()), number)
    return groups


def unescape(raw: str) -> str:
    out: list[str] = []
    chars = iter(raw)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            out.append(_ESCAPES.get(nxt, nxt))
        else:
            out.append(c)
    return "".join(out)


def ignored(name: str) -> bool:
    """The names NetworkManager does not load as connections: hidden, editor backups and
    temporary files, certificates and keys beside them, and its .nmmeta markers."""
    lowered = name.lower()
    return (
        name.startswith(".")
        or name.endswith("~")
        or lowered.endswith((".pem", ".der", ".nmmeta"))
        or _MKSTEMP.fullmatch(name) is not None
    )


def _text(value: str) -> str:
    # An SSID that is not plain text is written as its bytes: "67;97;102;101;".
    if _BYTES.fullmatch(value):
        data = bytes(int(b) for b in value.split(";") if b and int(b) < 256)
        return data.decode("utf-8", errors="replace")
    return value


def _flagged(group: dict[str, tuple[str, int]], key: str) -> bool:
    raw = group.get(key, ("0", 0))[0].strip()
    try:
        return int(raw) != 0
    except ValueError:
        return False  # a flag NetworkManager could not read either: the value is kept


class NetworkManager(Family):
    title = "a NetworkManager connection"
    advice = (
        "Let your keyring hold it: nmcli connection modify <connection> wifi-sec.psk-flags 1 "
        "(802-1x.password-flags 1 for enterprise Wi-Fi, vpn.secrets with <name>-flags=1 in "
        "vpn.data for a VPN) makes it agent-owned and NetworkManager drops it from {file}; "
        "keep {file} root-only meanwhile (chmod 600, owned by root)."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        if ignored(source.path.name):
            return
        raw = read_keyfile(text)
        groups: Groups = {}
        for name, keys in raw.items():
            groups.setdefault(_ALIASES.get(name, name), {}).update(keys)
        connection = groups.get("connection", {})
        name = connection.get("id", ("", 0))[0] or source.path.name.removesuffix(".nmconnection")
        ssid = _text(groups.get("wifi", {}).get("ssid", ("", 0))[0])
        vpn = groups.get("vpn", {})
        users = [
            groups.get(group, {}).get(key, ("", 0))[0]
            for group, key in (
                ("802-1x", "identity"), ("gsm", "username"), ("cdma", "username"),
                ("pppoe", "username"), ("adsl", "username"), ("vpn", "username"),
                ("vpn", "user"), ("vpn", "user-name"),
            )
        ]  # fmt: skip
        inputs = (ssid, *[u for u in users if u], name)
        found: list[Secret] = []
        for group, keys in groups.items():
            if group == "vpn-secrets":
                table = tuple((key, f"{key}-flags", "password") for key in keys if key)
                flags = vpn
            elif group.startswith("wireguard-peer."):
                table, flags = _PEER, keys
            else:
                table, flags = _SECRETS.get(group, ()), keys
            target = f"{'VPN ' if group == 'vpn-secrets' else ''}connection {name}"
            for key, flag, kind in table:
                if key not in keys or _flagged(flags, flag):
                    continue
                value, line = keys[key]
                if not value:
                    continue
                found.append(
                    Secret(
                        line=line,
                        field=key,
                        value=value,
                        kind=_kind(key, value, kind, keys),  # type: ignore[arg-type]
                        target=target,
                        user_inputs=inputs,
                    )
                )
        yield from sorted(found, key=lambda s: s.line)


def _kind(key: str, value: str, kind: str, group: dict[str, tuple[str, int]]) -> str:
    if key == "psk" and _HEX_PSK.fullmatch(value):
        return "token"  # the derived key, not the passphrase
    # wep-key-type 1 is a key (10 or 26 hex digits, or 5 or 13 ASCII characters a person
    # typed); 2 is a passphrase. Only the hex form is not typed.
    wep_type = group.get("wep-key-type", ("", 0))[0].strip()
    if key.startswith("wep-key") and wep_type != "2" and _HEX_WEP.fullmatch(value):
        return "token"
    return kind
