"""npm's configuration: ~/.npmrc, the global npmrc, and a project's own .npmrc.

Read as npm's ini package reads it: "key=value" lines, ";" and "#" comment lines, a quoted
value JSON-decoded, an unquoted one cut at the first unescaped ";" or "#". Credentials are
keyed by registry, "//registry.npmjs.org/:_authToken"; an unscoped key is for the default
registry. _authToken is a token; _auth is base64 of "user:password"; _password is base64 of
the password. ${NPM_TOKEN} is filled from the environment by npm (dropped as a reference).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from agent.credentials.model import Family, Kind, Secret, Source

_LINE = re.compile(r"(?P<key>[^=]+)(?:=(?P<value>.*))?")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _unsafe(raw: str) -> str:
    """A key or value as the ini package decodes it."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        inner = raw[1:-1] if raw[0] == "'" else raw
        try:
            decoded = json.loads(inner)
        except ValueError:
            return inner
        return decoded if isinstance(decoded, str) else inner
    out: list[str] = []
    escaped = False
    for c in raw:
        if escaped:
            out.append(c if c in "\\;#" else "\\" + c)
            escaped = False
        elif c in ";#":
            break
        elif c == "\\":
            escaped = True
        else:
            out.append(c)
    if escaped:
        out.append("\\")
    return "".join(out).strip()


def _base64(value: str) -> str | None:
    if not _BASE64.fullmatch(value):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _registry(url: str) -> str:
    """A registry in words: its host and path, "//npm.example.com/npm/" -> npm.example.com/npm."""
    try:
        parts = urlsplit(url if "//" in url else "//" + url)
    except ValueError:
        return url.strip("/")
    return (parts.netloc + parts.path.rstrip("/")) or url.strip("/")


class Npmrc(Family):
    title = "an npm configuration"
    advice = (
        "Write the line as //<registry>/:_authToken=${NPM_TOKEN} (npm fills in the "
        "variable) and set NPM_TOKEN from your keyring or CI secrets when you need it, using a "
        "granular token of the least scope rather than a password (_auth, _password). Never "
        "commit a project .npmrc with a secret, and chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        options: dict[str, str] = {}
        found: list[tuple[int, str, str, str]] = []  # line, scope, field, value
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped[0] in ";#" or stripped.startswith("["):
                continue
            match = _LINE.fullmatch(stripped)
            if match is None or match.group("value") is None:
                continue
            key = _unsafe(match.group("key"))
            value = _unsafe(match.group("value"))
            options[key] = value
            scope, _, field = key.rpartition(":") if key.startswith("//") else ("", "", key)
            if field in ("_authToken", "_auth", "_password") and value:
                found.append((number, scope, field, value))
        default = _registry(options.get("registry", "https://registry.npmjs.org/"))
        for number, scope, field, value in found:
            registry = _registry(scope) if scope else default
            user = options.get(f"{scope}:username" if scope else "username", "")
            yield from _secret(number, field, value, registry, user)


def _secret(number: int, field: str, value: str, registry: str, user: str) -> Iterator[Secret]:
    def secret(value: str, kind: Kind, user: str, encoding: str = "") -> Secret:
        return Secret(
            line=number,
            field=field,
            value=value,
            kind=kind,
            target=registry + (f" (user {user})" if user else ""),
            user_inputs=(user, registry.partition("/")[0].partition(":")[0]),
            encoding=encoding,
        )

    if field == "_authToken":
        yield secret(value, "token", user)
        return
    decoded = _base64(value)
    if decoded is None:
        # Not base64: a ${VAR} reference (dropped as such) or a value npm cannot use either.
        yield secret(value, "token", user)
    elif field == "_auth":
        login, colon, password = decoded.partition(":")
        if colon:
            yield secret(password, "password", login, "base64")
        else:
            yield secret(decoded, "password", user, "base64")
    else:
        yield secret(decoded, "password", user, "base64")
