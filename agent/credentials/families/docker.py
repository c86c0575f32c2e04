"""Docker's config.json and the containers auth.json that podman, skopeo and buildah share.

auths.<registry>.auth is base64 of "user:password"; identitytoken and registrytoken are tokens
the registry issued. credsStore (every registry) and credHelpers.<registry> keep the secret in
a helper instead, and docker then writes an empty entry. ~/.dockercfg is the old format: the
registries at the top level, no "auths".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping

from agent.credentials.model import Family, Lines, Refused, Secret, Source

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from typing import Any

_ENTRY_KEYS = frozenset(
    {"auth", "identitytoken", "registrytoken", "password", "username", "email", "serveraddress"}
)
_TOKENS = ("identitytoken", "registrytoken")


class JsonLines:
    """Lines of JSON members, found by searching the raw text forward in document order.

    Call member() for each step of a path, in the order the members appear in the file
    (json.loads keeps that order): the search for the next one starts after the last.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._at = 0
        self._lines = Lines(text)

    def member(self, name: str) -> int:
        """The line where the value of the next member called `name` starts."""
        for encoded in _encodings(name):
            found = re.compile(re.escape(encoded) + r"\s*:\s*").search(self._text, self._at)
            if found is not None:
                self._at = found.end()
                break
        return self._lines.at(self._at)

    def string(self, value: str) -> int:
        """The line of the next string `value` (an item of a list)."""
        for encoded in _encodings(value):
            at = self._text.find(encoded, self._at)
            if at >= 0:
                self._at = at + len(encoded)
                return self._lines.at(at)
        return self._lines.at(self._at)


def _encodings(text: str) -> list[str]:
    # How a writer may have spelled it: raw UTF-8, \u escapes, PHP's escaped slashes.
    spelled = [json.dumps(text, ensure_ascii=False), json.dumps(text)]
    spelled.append(spelled[1].replace("/", "\\/"))
    return list(dict.fromkeys(spelled))


def load_object(text: str) -> dict[str, Any]:
    """The top-level JSON object. Raises Refused for a file that is not one: the tool would
    fail on it too, but a password may sit in it all the same, so it is said, not skipped."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:  # its text quotes none of the file, only a place
        raise Refused(f"it is not valid JSON (line {err.lineno}); it was not checked") from None
    except (ValueError, RecursionError):  # nested deeper than Python's stack
        raise Refused("it is nested too deeply to read; it was not checked") from None
    if not isinstance(data, dict):
        raise Refused("it is not a JSON object; it was not checked")
    return data


def _host(registry: str) -> str:
    # docker matches credHelpers by host name: "https://index.docker.io/v1/" is index.docker.io.
    name = registry.strip().lower()
    for scheme in ("https://", "http://"):
        if name.startswith(scheme):
            name = name[len(scheme) :]
    return name.split("/", 1)[0]


def _basic(encoded: str) -> tuple[str, str] | None:
    """user and password from an auth value, or None when it does not decode."""
    raw = "".join(encoded.split())
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = text.partition(":")
    if not colon:
        return None
    return user, password


class Docker(Family):
    title = "a Docker or Podman registry login file"
    advice = (
        "Keep registry logins in a credential helper: install docker-credential-secretservice "
        '(or docker-credential-pass), set "credsStore": "secretservice" in ~/.docker/config.json '
        "and run docker login again, which leaves {file} without the password. For podman, "
        "skopeo and buildah give the registry a credHelpers entry, or keep the login on tmpfs "
        "($XDG_RUNTIME_DIR/containers/auth.json, or --authfile there) so it is gone at logout."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        data = load_object(text)
        lines = JsonLines(text)
        auths = data.get("auths")
        if isinstance(auths, dict):
            lines.member("auths")
            registries: Mapping[str, Any] = auths
        elif "auths" not in data:
            # ~/.dockercfg: the registries are the top level.
            registries = {
                k: v for k, v in data.items() if isinstance(v, dict) and v.keys() & _ENTRY_KEYS
            }
        else:
            return
        for registry, entry in registries.items():
            if not isinstance(entry, dict):
                continue
            # An entry left with a secret is plain text even when a credential helper (for
            # every registry or for this one) now keeps the login: docker no longer reads it.
            lines.member(registry)
            yield from _entry(registry, entry, lines)


def _entry(registry: str, entry: dict[str, Any], lines: JsonLines) -> Iterator[Secret]:
    named = entry.get("username")
    user = named if isinstance(named, str) else ""
    found: list[tuple[str, int, str, str]] = []  # field, line, value, kind
    encoded: set[str] = set()
    for key, value in entry.items():
        if key not in ("auth", "password", *_TOKENS) or not isinstance(value, str) or not value:
            continue
        line = lines.member(key)
        if key == "auth":
            basic = _basic(value)
            if basic is None or not basic[1]:
                continue
            user = basic[0] or user
            found.append((key, line, basic[1], "password"))
            encoded.add(key)
        else:
            found.append((key, line, value, "token" if key in _TOKENS else "password"))
    host = _host(registry)
    target = registry + (f" (user {user})" if user else "")
    for field, line, value, kind in found:
        yield Secret(
            line=line,
            field=field,
            value=value,
            kind=kind,  # type: ignore[arg-type]
            target=target,
            user_inputs=(user, host),
            encoding="base64" if field in encoded else "",
        )
