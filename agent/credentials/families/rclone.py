"""rclone.conf: one "[remote]" section per remote, "key = value" lines, "#" and ";" comments.

Password options (pass, password, password2, key_file_pass, ...) are stored "obscured":
base64 (URL-safe, no padding) of a 16-byte IV and the value under AES-256-CTR with a key
published in rclone's source (fs/config/obscure/obscure.go), so anyone can reveal them; they
are decoded here. OAuth tokens are JSON; keys and client secrets are stored as they are.
A config encrypted with a config password ("RCLONE_ENCRYPT_V0:") holds nothing readable.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator

from agent.credentials.model import Family, Kind, Secret, Source

# rclone's fixed obscuring key (obscure.go, cryptKey).
_KEY = bytes.fromhex("9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638")
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
_SECTION = re.compile(r"\[(?P<name>[^\]]+)\]")

# Options rclone keeps obscured (IsPassword in the backends' option lists), in any backend.
_OBSCURED = frozenset(
    {
        "pass", "password", "password2", "key_file_pass", "plex_password", "file_password",
        "folder_password", "library_key", "api_password", "mailbox_password",
        "client_certificate_password",
    }
)  # fmt: skip
# Options stored as they are: issued tokens and keys.
_PLAIN_TOKENS = frozenset(
    {
        "client_secret", "secret_access_key", "session_token", "sse_customer_key",
        "sse_customer_key_base64", "connection_string", "sas_url", "access_token", "bearer_token",
        "api_key", "auth_token", "permanent_token", "refresh_token", "private_access_key",
        "authorization", "application_credential_secret", "plex_token", "key_pem",
        "service_account_credentials",
    }
)  # fmt: skip
# "key" is a secret in these backends only: b2's application key, Azure's account key
# (tokens), and swift's API key or password (OS_PASSWORD).
_KEY_KIND: dict[str, Kind] = {
    "b2": "token",
    "azureblob": "token",
    "azurefiles": "token",
    "swift": "password",
}


def reveal(value: str) -> str | None:
    """The value rclone obscured, or None when it is not an obscured value."""
    if not _URLSAFE.fullmatch(value):
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 16:
        return None
    # Imported here: only a home with an rclone.conf pays for loading cryptography.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: PLC0415

    decryptor = Cipher(algorithms.AES(_KEY), modes.CTR(raw[:16])).decryptor()
    plain = decryptor.update(raw[16:]) + decryptor.finalize()
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unquote(value: str) -> str:
    # goconfig's quoting of values: a raw `...` string or a """...""" string.
    for quote in ('"""', "`"):
        if len(value) >= 2 * len(quote) and value.startswith(quote) and value.endswith(quote):
            return value[len(quote) : -len(quote)]
    return value


def _token(value: str) -> str:
    """The lasting part of an OAuth token blob: the refresh token (the access token changes
    every hour), else the access token, else the value itself."""
    try:
        blob = json.loads(value)
    except ValueError:
        return value
    if isinstance(blob, dict):
        for name in ("refresh_token", "access_token"):
            part = blob.get(name)
            if isinstance(part, str) and part:
                return part
    return value


class Rclone(Family):
    title = "an rclone configuration"
    advice = (
        "rclone keeps these in plain text or only obscured (rclone reveal undoes that): "
        "encrypt {file} with a config password (rclone config encryption set, or 's' in "
        "rclone config) and let rclone take that password from your keyring with "
        "--password-command (RCLONE_PASSWORD_COMMAND)."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        if any(line.strip().startswith("RCLONE_ENCRYPT_V") for line in text.splitlines()):
            return  # encrypted with a config password: nothing here can be read
        remote = ""
        remotes: dict[str, dict[str, str]] = {}
        found: list[tuple[int, str, str, str]] = []  # line, remote, key, value
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            header = _SECTION.fullmatch(stripped)
            if header is not None:
                remote = header.group("name").strip()
                continue
            key, equals, value = stripped.partition("=")
            if not equals:
                continue
            key, value = key.strip(), _unquote(value.strip())
            remotes.setdefault(remote, {})[key] = value
            if value:
                found.append((number, remote, key, value))
        for number, name, key, raw in found:
            options = remotes[name]
            backend = options.get("type", "")
            if key in _OBSCURED or (key == "secret" and backend == "netstorage"):
                plain = reveal(raw)
                if not plain:
                    continue  # not obscured: rclone could not use it either
                # netstorage's secret is issued by Akamai; the others are chosen passwords.
                kind: Kind = "token" if key == "secret" else "password"
                value, encoding = plain, "rclone obscure"
            elif key == "token":
                kind, value, encoding = "token", _token(raw), ""
            elif key in _PLAIN_TOKENS:
                value, kind, encoding = raw, "token", ""
            elif key == "key" and backend in _KEY_KIND:
                value, kind, encoding = raw, _KEY_KIND[backend], ""
            elif key == "link_password":
                value, kind, encoding = raw, "password", ""
            else:
                continue
            user = options.get("user") or options.get("username", "")
            host = options.get("host", "")
            details = ", ".join(
                p
                for p in (f"type {backend}" if backend else "", f"user {user}" if user else "")
                if p
            )
            yield Secret(
                line=number,
                field=key,
                value=value,
                kind=kind,
                target=f"remote {name}" + (f" ({details})" if details else ""),
                user_inputs=(user, host, name),
                encoding=encoding,
            )
