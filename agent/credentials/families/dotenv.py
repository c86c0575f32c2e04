"""A project's .env files (.env, .env.local, production.env): KEY=VALUE lines that docker
compose, python-dotenv, node's dotenv and most frameworks load into the environment.

Read as python-dotenv and compose read them: an optional "export ", single or double quotes
(double quotes decode backslash escapes; both may span lines), an unquoted value ending at
" #". Only variables whose name says they hold a secret are reported, and the password in
any URL value (DATABASE_URL=postgres://app:pw@db/app).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from agent.credentials.model import Family, Kind, Lines, Secret, Source

_ASSIGN = re.compile(r"[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*")
_COMMENT = re.compile(r"\s+#.*")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}

_PASSWORD_PARTS = frozenset({"PASS", "PWD", "PASSWD", "PASSWORD", "PASSWORDS", "PASSPHRASE"})
_TOKEN_PARTS = frozenset(
    {"SECRET", "SECRETS", "TOKEN", "TOKENS", "APIKEY", "CREDENTIAL", "CREDENTIALS"}
)
_TOKEN_PAIRS = ("_API_KEY_", "_ACCESS_KEY_", "_PRIVATE_KEY_", "_CLIENT_SECRET_",
                "_ENCRYPTION_KEY_", "_SIGNING_KEY_", "_MASTER_KEY_")  # fmt: skip
# A name ending in one of these describes a secret without holding it: DB_PASSWORD_FILE,
# AWS_ACCESS_KEY_ID, TOKEN_URL, PASSWORD_MIN_LENGTH.
_DESCRIBES = frozenset(
    {
        "FILE", "PATH", "DIR", "URL", "URI", "ENDPOINT", "HOST", "PORT", "ID", "NAME", "USER",
        "USERNAME", "TYPE", "MODE", "METHOD", "PROVIDER", "ENABLED", "DISABLED", "REQUIRED",
        "LENGTH", "LEN", "MIN", "MAX", "TTL", "EXPIRY", "EXPIRES", "EXPIRATION", "TIMEOUT",
        "LIFETIME", "HASH", "HASHED", "ALGORITHM", "HEADER", "PREFIX", "FIELD", "POLICY",
        "REGION", "VERSION", "ISSUER", "AUDIENCE", "SCOPE", "SCOPES", "DOMAIN", "REALM",
    }
)  # fmt: skip
# Context a password made of is weak: the user, host and database beside it.
_CONTEXT = frozenset({"USER", "USERNAME", "LOGIN", "HOST", "HOSTNAME", "DB", "DATABASE", "NAME"})
# A file name, not the secret: GOOGLE_APPLICATION_CREDENTIALS=/home/ann/key.json.
_PATH = re.compile(r"(?:~|\.{1,2})?/[\w.@/\-]*|[A-Za-z]:\\[^\s]*")
_NOT_SECRETS = frozenset(
    {"true", "false", "yes", "no", "on", "off", "null", "none", "nil", "undefined"}
)


def kind_of(name: str) -> Kind | None:
    """Whether a variable's name says it holds a password or a token, or neither."""
    parts = [p for p in re.split(r"[_.\-]+", name.upper()) if p]
    if not parts or parts[-1] in _DESCRIBES or name.upper() in ("PWD", "OLDPWD"):
        return None
    last = parts[-1]
    token = (
        any(p in _TOKEN_PARTS or p.endswith(("SECRET", "TOKEN")) for p in parts)
        or any(pair in "_" + "_".join(parts) + "_" for pair in _TOKEN_PAIRS)
        or (last == "AUTH" and len(parts) > 1)
    )
    if token and (last in _TOKEN_PARTS or last.endswith(("SECRET", "TOKEN", "KEY"))):
        return "token"
    if any(p in _PASSWORD_PARTS or p.endswith(("PASSWORD", "PASSWD")) for p in parts):
        return "password"
    return "token" if token else None


def assignments(text: str) -> Iterator[tuple[int, str, str]]:
    """(line, name, value) of each assignment, quotes and escapes resolved."""
    pos = 0
    n = len(text)
    lines = Lines(text)
    while pos < n:
        end = text.find("\n", pos)
        end = n if end < 0 else end
        match = _ASSIGN.match(text, pos, end)
        if match is None:
            pos = end + 1
            continue
        line = lines.at(pos)
        i = match.end()
        quote = text[i] if i < n else ""
        if quote in ("'", '"', "`"):
            value, close = _quoted(text, i + 1, quote)
            if close < 0:
                pos = end + 1  # an unclosed quote: the line is malformed, skip it
                continue
            after = text.find("\n", close)
            pos = n if after < 0 else after + 1
        else:
            value = _COMMENT.sub("", text[i:end]).strip()
            pos = end + 1
        yield line, match.group("key"), value


def _quoted(text: str, start: int, quote: str) -> tuple[str, int]:
    """The value of a quoted string starting after its quote, and the offset of its closing
    quote (-1 when there is none)."""
    out: list[str] = []
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if quote == '"' and nxt in _DOUBLE_ESCAPES:
                out.append(_DOUBLE_ESCAPES[nxt])
                i += 2
                continue
            if quote != '"' and nxt in (quote, "\\"):
                out.append(nxt)
                i += 2
                continue
        if c == quote:
            return "".join(out), i
        out.append(c)
        i += 1
    return "", -1


def _url_password(value: str) -> tuple[str, str, str] | None:
    """(password, user, host) of a URL value that carries a password."""
    if "://" not in value:
        return None
    try:
        url = urlsplit(value)
        password, user, host = url.password, url.username or "", url.hostname or ""
    except ValueError:
        return None
    if not password:
        return None
    return unquote(password), unquote(user), host


_TEMPLATES = (".example", ".sample", ".template", ".dist", ".defaults", ".tmpl")


class Dotenv(Family):
    title = "a .env file"
    advice = (
        "Keep {file} out of version control (add it to .gitignore) and readable by you only "
        "(chmod 600 {file}); for real passwords prefer a secrets manager or your keyring and "
        "load them into the environment when the program starts."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        if source.path.name.lower().endswith(_TEMPLATES):
            return  # .env.example and the like: placeholders, meant to be committed
        found = list(assignments(text))
        context = tuple(
            value
            for _, name, value in found
            if value
            and len(value) <= 64
            and re.split(r"[_.\-]+", name.upper())[-1] in _CONTEXT
            and "://" not in value
        )
        for line, name, value in found:
            url = _url_password(value)
            if url is not None:
                password, user, host = url
                yield Secret(
                    line=line,
                    field=name,
                    value=password,
                    target="",
                    user_inputs=(user, host, *context),
                )
                continue
            kind = kind_of(name)
            if kind is None or not value or value.lower() in _NOT_SECRETS or _PATH.fullmatch(value):
                continue
            yield Secret(
                line=line,
                field=name,
                value=value,
                kind=kind,
                target="",
                user_inputs=context,
            )
