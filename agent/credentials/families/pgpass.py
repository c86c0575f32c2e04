"""~/.pgpass: libpq's password file, one hostname:port:database:username:password a line.

As libpq reads it: a line starting with "#" is a comment; "\\:" and "\\\\" escape a colon and
a backslash; "*" matches anything; the password runs to the next unescaped colon.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.credentials.model import Family, Secret, Source


def fields(line: str) -> list[str]:
    """The colon-separated fields of a line, escapes removed."""
    found: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            i += 1
            current.append(line[i])
        elif c == ":":
            found.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    found.append("".join(current))
    return found


class Pgpass(Family):
    title = "a PostgreSQL password file"
    advice = (
        "Keep {file} private: libpq ignores it while group or others can read it, so "
        "chmod 600 {file}. Better, leave the password out and let psql ask, or keep it in your "
        "password manager and point PGPASSFILE at a copy on an encrypted volume."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = fields(line.rstrip("\r"))
            if len(parts) < 5:
                continue  # libpq matches no host against a line without all five fields
            host, port, database, user, password = parts[:5]
            if not password:
                continue
            yield Secret(
                line=number,
                field="password",
                value=password,
                target=f"{host}:{port}/{database} (user {user})",
                user_inputs=(user, host, database),
            )
