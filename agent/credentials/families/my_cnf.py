"""~/.my.cnf: the MySQL and MariaDB clients' option file in the home.

Read as mysys reads option files: "[group]" headers ([client], [mysql], [mysqldump], ...),
"name=value" with "-" and "_" alike and an optional "loose-" prefix, "#" and ";" comment
lines, "#" ending the value outside quotes, one pair of enclosing quotes stripped and the
escapes \\b \\t \\n \\r \\\\ \\s \\" \\' decoded. "password" with no value makes the client ask.
~/.mylogin.cnf (mysql_config_editor's file) is obfuscated binary and is not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.credentials.model import Family, Secret, Source

_GROUP = re.compile(r"\[\s*(?P<name>[^\]]*?)\s*\]")
# password1..3 are the passwords of MySQL's multifactor authentication.
_PASSWORDS = ("password", "password1", "password2", "password3")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "r": "\r", "s": " ", "\\": "\\", '"': '"', "'": "'"}


def _cut_comment(value: str) -> str:
    """The value before a "#" outside quotes (mysys' remove_end_comment)."""
    quote = ""
    escape = False
    for i, c in enumerate(value):
        if c in "'\"" and not escape:
            if not quote:
                quote = c
            elif quote == c:
                quote = ""
        if not quote and c == "#":
            return value[:i]
        escape = bool(quote) and c == "\\" and not escape
    return value


def _unquote(value: str) -> str:
    value = _cut_comment(value).strip()
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        value = value[1:-1]
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            i += 1
            out.append(_ESCAPES.get(value[i], "\\" + value[i]))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _name(raw: str) -> str:
    name = raw.strip().lower().replace("-", "_")
    return name.removeprefix("loose_")


class MyCnf(Family):
    title = "a MySQL option file"
    advice = (
        "Drop the password line from {file} and let the client ask (mysql -p), or move it "
        "with mysql_config_editor set --login-path=client --user=NAME --password, which keeps "
        "it in ~/.mylogin.cnf obfuscated (not encrypted: it only keeps it out of plain sight). "
        "Meanwhile chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        group = ""
        options: dict[str, dict[str, str]] = {}
        found: list[tuple[int, str, str, str]] = []  # line, group, field, value
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped[0] in "#;!":
                continue  # comments, and !include / !includedir
            header = _GROUP.match(stripped)
            if header is not None:
                group = header.group("name").lower()
                continue
            name, equals, raw = stripped.partition("=")
            if not equals:
                continue  # a bare "password": the client asks for it
            key = _name(name)
            value = _unquote(raw)
            options.setdefault(group, {})[key] = value
            if key in _PASSWORDS and value:
                found.append((number, group, name.strip(), value))
        client = options.get("client", {})
        for number, where, field, value in found:
            own = options.get(where, {})
            user = own.get("user") or client.get("user", "")
            host = own.get("host") or client.get("host", "")
            details = ", ".join(
                part
                for part in (f"user {user}" if user else "", f"host {host}" if host else "")
                if part
            )
            yield Secret(
                line=number,
                field=field,
                value=value,
                target=f"the [{where}] section" + (f" ({details})" if details else ""),
                user_inputs=(user, host),
            )
