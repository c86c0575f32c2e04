"""Mutt's and NeoMutt's muttrc: `set imap_pass=...`, smtp_pass, pop_pass, nntp_pass, user
variables (my_pass) and passwords inside mailbox URLs (smtp_url, folder, spoolfile,
mailboxes: imaps://user:password@host/).

Words are read as mutt's own tokenizer reads them: '...' literally, "..." and bare words with
backslash escapes; an unquoted '#' starts a comment and ';' separates commands; a backslash
at the end of a line joins the next. A `command` in backticks or a $variable makes the value
elsewhere (`pass show mail`): indirection, no secret. So is the *_oauth_refresh_command,
unless it spells the refresh token out on its command line. The commands of account-hook,
folder-hook and the other hooks are read as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import unquote, urlsplit

from agent.credentials.model import Family, Kind, Secret, Source

_PASSWORDS = {"imap_pass": "IMAP", "smtp_pass": "SMTP", "pop_pass": "POP", "nntp_pass": "NNTP"}
# Where each protocol's user name is, in order: its own variable, then a URL variable.
_USERS = {
    "IMAP": ("imap_user", "imap_login", "folder", "spoolfile"),
    "SMTP": ("smtp_user", "smtp_url"),
    "POP": ("pop_user", "pop_host", "spoolfile"),
    "NNTP": ("nntp_user", "news_server"),
}
_OAUTH = ("imap_oauth_refresh_command", "smtp_oauth_refresh_command", "pop_oauth_refresh_command")
_REFRESH_TOKEN = re.compile(r"--refresh[_-]token(?:=|\s+)[\"']?([^\s\"']+)")
_SCHEMES = {
    "imap": "IMAP", "imaps": "IMAP", "pop": "POP", "pops": "POP",
    "smtp": "SMTP", "smtps": "SMTP", "nntp": "NNTP", "snews": "NNTP", "news": "NNTP",
}  # fmt: skip
_HOOKS = frozenset(
    {
        "account-hook", "folder-hook", "send-hook", "send2-hook", "reply-hook",
        "message-hook", "startup-hook", "shutdown-hook", "timeout-hook",
    }
)  # fmt: skip
_MAILBOXES = frozenset({"mailboxes", "named-mailboxes", "virtual-mailboxes"})
LineAt = Callable[[int], int]
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "e": "\x1b", "E": "\x1b"}


class Token:
    __slots__ = ("at", "indirect", "text")

    def __init__(self, text: str, at: int, indirect: bool) -> None:
        self.text = text
        self.at = at  # where it starts in the command line
        self.indirect = indirect  # holds a `command` or a $variable: its value is made elsewhere


def extract(s: str, i: int, equal: bool = False) -> tuple[Token, int]:
    """One word of a muttrc command from offset i (mutt_extract_token), and where the next
    word starts."""
    out: list[str] = []
    start = i
    quote = ""
    indirect = False
    n = len(s)
    while i < n:
        ch = s[i]
        if not quote and (ch in " \t\r\n#;" or (equal and ch == "=")):
            break
        if quote and ch == quote:
            quote = ""
            i += 1
        elif not quote and ch in "'\"":
            quote = ch
            i += 1
        elif ch == "\\" and quote != "'":
            if i + 1 < n:
                out.append(_ESCAPES.get(s[i + 1], s[i + 1]))
            i += 2
        elif ch == "`" and quote != "'":
            end = s.find("`", i + 1)
            indirect = True
            i = n if end < 0 else end + 1
        else:
            if ch == "$" and quote != "'" and i + 1 < n and (s[i + 1] == "{" or s[i + 1].isalpha()):
                indirect = True
            out.append(ch)
            i += 1
    token = Token("".join(out), start, indirect)
    while i < n and s[i] in " \t\r\n":
        i += 1
    return token, i


class _Found:
    __slots__ = ("field", "line", "scope", "token")

    def __init__(self, line: int, field: str, token: Token, scope: _Scope) -> None:
        self.line = line
        self.field = field
        self.token = token
        self.scope = scope


class _Scope:
    """The variables a file (or a hook's command) sets; a hook's scope sees the file's."""

    __slots__ = ("parent", "pattern", "refs", "values")

    def __init__(self, parent: _Scope | None = None, pattern: str = "") -> None:
        self.parent = parent
        self.pattern = pattern  # a hook's pattern: often the account's URL
        self.values: dict[str, str] = {}
        # Kept in the file's scope: my_pass -> ("IMAP", the scope whose imap_pass is $my_pass).
        self.refs: dict[str, tuple[str, _Scope]] = {}

    def get(self, name: str) -> str:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        return ""

    def root(self) -> _Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    def user(self, protocol: str) -> str:
        for name in _USERS[protocol]:
            value = self.get(name)
            if name.endswith("_user") or name == "imap_login":
                if value:
                    return value
            elif _url_user(value):
                return _url_user(value)
        return _url_user(self.pattern)


def _url_user(value: str) -> str:
    try:
        return unquote(urlsplit(value).username or "")
    except ValueError:
        return ""


def logical_lines(text: str) -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """Lines with a backslash at the end joined to the next, as mutt reads them; with, for
    each piece, its offset in the joined line and its line in the file."""
    joined: list[str] = []
    starts: list[tuple[int, int]] = []
    size = 0
    for number, line in enumerate(text.split("\n"), start=1):
        starts.append((size, number))
        if line.endswith("\\"):
            joined.append(line[:-1])
            size += len(line) - 1
            continue
        joined.append(line)
        yield "".join(joined), starts
        joined, starts, size = [], [], 0
    if joined:
        yield "".join(joined), starts


def _line_at(starts: list[tuple[int, int]], at: int) -> int:
    number = starts[0][1]
    for offset, line in starts:
        if offset <= at:
            number = line
    return number


class Mutt(Family):
    title = "a Mutt configuration"
    advice = (
        "Keep the password out of {file}: set imap_pass=`pass show mail` (any password "
        "manager's command works), or keep the settings in a gpg-encrypted file read with "
        'source "gpg -dq ~/.mutt/passwords.gpg |"; and use an app password or OAuth2 '
        "(mutt_oauth2.py) rather than the account's own password. chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        top = _Scope()
        found: list[_Found] = []
        for line, starts in logical_lines(text):
            _commands(line, _locator(starts), top, found)
        yield from _secrets(found)


def _fixed(line: int) -> LineAt:
    return lambda _at: line


def _locator(starts: list[tuple[int, int]]) -> LineAt:
    return lambda at: _line_at(starts, at)


def _commands(s: str, line_at: LineAt, scope: _Scope, found: list[_Found]) -> None:
    """Read the commands of one line (or of a hook's command string)."""
    i = 0
    n = len(s)
    while i < n:
        while i < n and s[i] in " \t\r\n;":
            i += 1
        if i >= n or s[i] == "#":
            return
        name, i = extract(s, i)
        args: list[Token] = []
        if name.text == "set":
            i = _set(s, i, line_at, scope, found)
            continue
        while i < n and s[i] not in "#;":
            token, i = extract(s, i)
            args.append(token)
        if name.text in _HOOKS and len(args) >= 2:
            # The last word is a command; the hook's pattern often names the account.
            hook = _Scope(parent=scope, pattern=args[-2].text)
            _commands(args[-1].text, _fixed(line_at(args[-1].at)), hook, found)
        elif name.text in _MAILBOXES:
            for token in args:
                if _url_password(token.text):
                    found.append(_Found(line_at(token.at), name.text, token, scope))


def _set(s: str, i: int, line_at: LineAt, scope: _Scope, found: list[_Found]) -> int:
    """set name=value name2 = "value" ...: record each value, note the secret ones."""
    n = len(s)
    while i < n and s[i] not in "#;":
        name, i = extract(s, i, equal=True)
        if i >= n or s[i] != "=":
            continue  # set a boolean: set ssl_force_tls, set noconfirmappend
        i += 1
        while i < n and s[i] in " \t\r":
            i += 1
        value, i = extract(s, i)
        key = name.text.lower()
        scope.values[key] = "" if value.indirect else value.text
        if key in _PASSWORDS and value.indirect:
            # set imap_pass=$my_pass: my_pass is the IMAP password.
            scope.root().refs[value.text.strip("${}").lower()] = (_PASSWORDS[key], scope)
        secret = (
            key in _PASSWORDS
            or key in _OAUTH
            or (key.startswith("my_") and "pass" in key)
            or _url_password(value.text)
        )
        if (secret and not value.indirect) or key in _OAUTH:
            found.append(_Found(line_at(value.at), key, value, scope))
    return i


def _url_password(value: str) -> tuple[str, str, str, str] | None:
    """(protocol, host, user, password) of a mail URL that holds a password, else None."""
    try:
        url = urlsplit(value.strip())
        protocol = _SCHEMES.get(url.scheme.lower(), "")
        password, user, host = url.password, url.username, url.hostname
    except ValueError:
        return None
    if not protocol or not password:
        return None
    return protocol, host or "", unquote(user or ""), unquote(password)


def _secrets(found: list[_Found]) -> Iterator[Secret]:
    for item in found:
        key, text, scope = item.field, item.token.text, item.scope
        url = None if key in _OAUTH else _url_password(text)
        if url is not None:
            protocol, host, user, password = url
            yield Secret(
                line=item.line,
                field=key,
                value=password,
                target=f"{protocol} {host}" + (f" (user {user})" if user else ""),
                user_inputs=(user, host),
            )
            continue
        kind: Kind
        if key in _OAUTH:
            match = _REFRESH_TOKEN.search(text)
            if match is None:
                continue  # the command fetches the token: indirection
            protocol = key.partition("_")[0].upper()
            value, kind, what = match.group(1), "token", f"{protocol} OAuth2"
        else:
            protocol = _PASSWORDS.get(key, "")
            if not protocol and key in scope.root().refs:
                protocol, scope = scope.root().refs[key]
            value, kind, what = text, "password", protocol or f"the variable {key}"
        user = scope.user(protocol) if protocol else ""
        yield Secret(
            line=item.line,
            field=key,
            value=value,
            kind=kind,
            target=what + (f" (user {user})" if user else ""),
            user_inputs=(user, _url_host(scope.pattern)),
        )


def _url_host(value: str) -> str:
    try:
        return urlsplit(value).hostname or ""
    except ValueError:
        return ""
