"""Remmina connection profiles (*.remmina, a GKeyFile with one [remmina] group).

Password fields hold base64 of the value encrypted with 3DES-CBC under the key in
remmina.pref (secret=, base64 of 32 bytes: 24 of key, 8 of IV), which sits beside them in
the same account: reversible by anyone who can read both. "." means the value is in the
keyring (Remmina's secret plugin), empty means none is kept. Without remmina.pref or its
secret nothing can be decrypted, and nothing is reported.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from pathlib import Path

from agent.credentials.families.networkmanager import read_keyfile
from agent.credentials.model import Family, Secret, Source
from agent.files import read_small_file

ENCODING = "Remmina's reversible encryption (key kept beside it)"
# The settings Remmina encrypts: those of password type in its protocol plugins, and the
# SSH tunnel's by name (ssh_password and ssh_server are the names before Remmina 1.4).
_FIELDS = (
    "password",
    "gateway_password",
    "ssh_passphrase",
    "ssh_tunnel_password",
    "ssh_tunnel_passphrase",
    "ssh_password",
)
# For each field, the settings naming the server and the user it logs in to, and a word.
_FOR = {
    "gateway_password": ("gateway_server", "gateway_username", "gateway"),
    "ssh_tunnel_password": ("ssh_tunnel_server", "ssh_tunnel_username", "SSH tunnel"),
    "ssh_tunnel_passphrase": ("ssh_tunnel_server", "ssh_tunnel_username", "SSH tunnel"),
    "ssh_password": ("ssh_server", "ssh_username", "SSH tunnel"),
}
_PREF_LIMIT = 1 << 20


class Remmina(Family):
    title = "a Remmina connection profile"
    advice = (
        "Remmina's encryption is undone with the key in remmina.pref beside {file}: install "
        "its secret plugin (remmina-plugin-secret, using GNOME Keyring or KWallet), then "
        "open and save each profile so its passwords move to the keyring (the file keeps '.')."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        profile = read_keyfile(text).get("remmina", {})
        wanted = [f for f in _FIELDS if profile.get(f, ("", 0))[0] not in ("", ".")]
        if not wanted:
            return
        secret = _secret(source)
        if secret is None:
            return

        def setting(key: str) -> str:
            return profile.get(key, ("", 0))[0]

        name = setting("name") or source.path.stem
        found: list[Secret] = []
        for field in wanted:
            value, line = profile[field]
            plain = decrypt(value, secret)
            if not plain:
                continue
            server_key, user_key, word = _FOR.get(field, ("server", "username", "server"))
            server, user = setting(server_key), setting(user_key)
            details = ", ".join(
                part for part in (server and f"{word} {server}", user and f"user {user}") if part
            )
            found.append(
                Secret(
                    line=line,
                    field=field,
                    value=plain,
                    target=f"connection {name}" + (f" ({details})" if details else ""),
                    user_inputs=(user, _host(server), name),
                    encoding=ENCODING,
                )
            )
        yield from sorted(found, key=lambda s: s.line)


def _host(server: str) -> str:
    # "rdp.example.com:3389" -> "rdp.example.com"
    host = server.rsplit(":", 1)[0] if server.count(":") == 1 else server
    return host.strip("[]")


def _secret(source: Source) -> bytes | None:
    """The key from remmina.pref: where Remmina keeps it ($XDG_CONFIG_HOME/remmina, taken as
    ~/.config here), else beside the profile (the layout before Remmina 1.2, ~/.remmina)."""
    places = [
        source.home / ".config" / "remmina" / "remmina.pref",
        source.path.parent / "remmina.pref",
        source.home / ".remmina" / "remmina.pref",
    ]
    for place in dict.fromkeys(places):
        secret = _read_secret(place)
        if secret is not None:
            return secret
    return None


def _read_secret(path: Path) -> bytes | None:
    try:
        data = read_small_file(path, _PREF_LIMIT)
    except OSError:
        return None
    pref = read_keyfile(data.decode("utf-8", errors="replace")).get("remmina_pref", {})
    encoded = "".join(pref.get("secret", ("", 0))[0].split())
    try:
        secret = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return secret if len(secret) >= 32 else None


def decrypt(value: str, secret: bytes) -> str | None:
    """The text Remmina encrypted, or None when it does not decrypt to text."""
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not data or len(data) % 8:
        return None
    # Imported here: only a home with Remmina profiles pays for loading cryptography.
    from cryptography.hazmat.primitives.ciphers import Cipher, modes  # noqa: PLC0415

    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES  # noqa: PLC0415
    except ImportError:  # cryptography before 43
        from cryptography.hazmat.primitives.ciphers.algorithms import (  # noqa: PLC0415
            TripleDES,
        )

    decryptor = Cipher(TripleDES(secret[:24]), modes.CBC(secret[24:32])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    # Remmina pads with NULs to the 8-byte block and reads it back as a C string.
    try:
        return plain.split(b"\0", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return None
