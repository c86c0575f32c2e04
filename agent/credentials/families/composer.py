"""Composer's global auth.json (in COMPOSER_HOME): logins for private PHP package repositories.

Each method maps host names to credentials: http-basic {username, password}; github-oauth,
gitlab-oauth, gitlab-token and bearer a token (gitlab-oauth and gitlab-token may also be
objects with "token"); forgejo-token {username, token}; bitbucket-oauth {consumer-key,
consumer-secret}; custom-headers a list of "Name: value" headers; client-certificate
{local_cert, local_pk, passphrase}.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.credentials.families.docker import JsonLines, load_object
from agent.credentials.model import Family, Secret, Source

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from typing import Any

# Methods whose value for a host may be the token itself.
_TOKEN_STRINGS = ("github-oauth", "gitlab-oauth", "gitlab-token", "bearer")
# In the object form, which members are secrets and of which kind. The bitbucket consumer-key
# is the OAuth client id (public by design): only its secret is one.
_MEMBERS = {
    "http-basic": {"password": "password"},
    "gitlab-oauth": {"token": "token", "refresh-token": "token"},
    "gitlab-token": {"token": "token"},
    "forgejo-token": {"token": "token"},
    "bitbucket-oauth": {"consumer-secret": "token"},
    "client-certificate": {"passphrase": "password"},
}


class Composer(Family):
    title = "Composer's auth.json"
    advice = (
        "Composer keeps what composer config --global --auth sets in {file} as plain text: "
        "keep the tokens in your keyring instead and hand them to Composer per run in the "
        "COMPOSER_AUTH environment variable (the same JSON, e.g. from secret-tool lookup), "
        "then remove them from {file}; meanwhile chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        data = load_object(text)
        lines = JsonLines(text)
        for method, hosts in data.items():
            if not isinstance(hosts, dict) or (
                method not in _MEMBERS and method not in _TOKEN_STRINGS
                and method != "custom-headers"
            ):  # fmt: skip
                continue
            lines.member(method)
            for host, entry in hosts.items():
                line = lines.member(host)
                yield from _entry(method, host, entry, line, lines)


def _entry(method: str, host: str, entry: Any, line: int, lines: JsonLines) -> Iterator[Secret]:
    if isinstance(entry, str):
        if method in _TOKEN_STRINGS and entry:
            yield Secret(
                line=line, field=method, value=entry, kind="token", target=host, user_inputs=(host,)
            )
        return
    if method == "custom-headers" and isinstance(entry, list):
        for header in entry:
            if not isinstance(header, str):
                continue
            at = lines.string(header)
            name, colon, value = header.partition(":")
            if colon and value.strip():
                target = f"{host} (header {name.strip()})"
                yield Secret(
                    line=at,
                    field=method,
                    value=value.strip(),
                    kind="token",
                    target=target,
                    user_inputs=(host,),
                )
        return
    if not isinstance(entry, dict):
        return
    named = entry.get("username")
    user = named if isinstance(named, str) else ""
    target = host + (f" (user {user})" if user else "")
    secrets = _MEMBERS.get(method, {})
    for key, value in entry.items():
        kind = secrets.get(key)
        if kind is None or not isinstance(value, str) or not value:
            continue
        yield Secret(
            line=lines.member(key),
            field=key,
            value=value,
            kind=kind,  # type: ignore[arg-type]
            target=target,
            user_inputs=(user, host),
        )
