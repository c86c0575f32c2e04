"""wpa_supplicant.conf: Wi-Fi networks. A quoted psk is the passphrase a person typed; 64 hex
digits are the key derived from it (as good as the passphrase for joining that network).
wpa_passphrase writes the passphrase beside the key as a comment, "#psk=...": still plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.credentials.model import Family, Secret, Source

# The blanks after "#" only after one: two blanks runs side by side made a long blank line
# take time growing with the square of its length (1 MiB of spaces: minutes).
_FIELD = re.compile(
    r"\s*(?:(#)\s*)?(psk|password|sae_password|wep_key[0-3]|private_key_passwd)\s*=(.*)"
)
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


class WpaSupplicant(Family):
    title = "a wpa_supplicant configuration"
    advice = (
        "Make {file} root's alone (sudo chown root: {file} && sudo chmod 600 {file}), and "
        "delete any '#psk=' comment line: wpa_supplicant needs only the derived key. For a "
        "desktop, NetworkManager can keep Wi-Fi passwords in your keyring instead."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        network = 0
        ssid = ""
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if stripped.startswith("network") and "{" in stripped:
                network = number
                ssid = ""
                continue
            if stripped.startswith("ssid="):
                ssid = stripped[5:].strip().strip('"')
                continue
            match = _FIELD.fullmatch(line)
            if match is None:
                continue
            comment, name, raw = match.group(1), match.group(2), match.group(3).strip()
            if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
                value, kind = raw[1:-1], "password"
            elif comment:
                continue  # a commented-out setting that holds no quoted value
            elif name in ("psk", "wep_key0", "wep_key1", "wep_key2", "wep_key3"):
                if name == "psk" and not _HEX_KEY.fullmatch(raw):
                    continue
                value, kind = raw, "token"
            else:
                continue
            where = f"the network at line {network}" if network else "a network"
            yield Secret(
                line=number,
                field=("#" if comment else "") + name,
                value=value,
                kind=kind,  # type: ignore[arg-type]
                target=where,
                user_inputs=(ssid,),
            )
