"""~/.fetchmailrc: free-form keywords, as fetchmail's own lexer (rcfile_l.l) reads them.

`poll` (or `server`, `skip`) HOST starts a server entry and `defaults` one for every server;
inside, each `user`/`username` NAME starts a user entry whose `password`/`pass` VALUE is the
mailbox's password, and `esmtppassword` the one for the SMTP listener fetchmail hands mail to.
Words are quoted "..." or '...' (with C escapes) or bare; '#' starts a comment; ':', ';'
and ',' are ignored, as are the noise words (with, and, has, wants, options).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.credentials.model import Family, Lines, Secret, Source

_BARE = re.compile(r"[^=;:, \t\r\n]+")
_ENTRY = frozenset({"poll", "server", "skip"})
_AUTH = frozenset({"auth", "authenticate", "preauth", "preauthenticate"})  # then a method


class Word:
    __slots__ = ("line", "quoted", "text")

    def __init__(self, text: str, line: int, *, quoted: bool) -> None:
        self.text = text
        self.line = line
        self.quoted = quoted


def words(text: str) -> Iterator[Word]:
    """The words of a fetchmailrc with their lines; "=" is a word of its own."""
    i, n = 0, len(text)
    lines = Lines(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n;:," or (c == "\\" and text.startswith("\n", i + 1)):
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'" and text.find(c, i + 1) > 0:
            end = text.find(c, i + 1)
            yield Word(_escapes(text[i + 1 : end]), lines.at(i), quoted=True)
            i = end + 1
        elif c == "=":
            yield Word("=", lines.at(i), quoted=False)
            i += 1
        else:
            match = _BARE.match(text, i)
            end = match.end() if match else i + 1
            yield Word(_escapes(text[i:end]), lines.at(i), quoted=False)
            i = end


_SIMPLE = {"\\": "\\", "n": "\n", "t": "\t", "b": "\b", "r": "\r"}


def _escapes(raw: str) -> str:
    """fetchmail's escapes(): \\xHH, \\0ooo, \\ddd (decimal), \\n \\t \\b \\r, \\<newline>."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c != "\\" or i + 1 >= n:
            if c != "\\":
                out.append(c)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt in "xX":
            match = re.match(r"[0-9a-fA-F]{0,2}", raw[i + 2 :])
            digits = match.group() if match else ""
            out.append(chr(int(digits, 16)) if digits else "\0")
            i += 2 + len(digits)
        elif nxt == "0":
            match = re.match(r"[0-7]{0,3}", raw[i + 1 :])
            digits = match.group() if match else "0"
            out.append(chr(int(digits, 8)))
            i += 1 + len(digits)
        elif nxt.isdigit():
            match = re.match(r"[0-9]{1,3}", raw[i + 1 :])
            digits = match.group() if match else nxt
            out.append(chr(int(digits) % 256))
            i += 1 + len(digits)
        elif nxt == "\n":
            i += 2
        else:
            out.append(_SIMPLE.get(nxt, nxt))
            i += 2
    return "".join(out)


class _User:
    __slots__ = ("esmtpname", "found", "host", "name")

    def __init__(self, host: str, name: str = "") -> None:
        self.host = host
        self.name = name
        self.esmtpname = ""
        self.found: list[tuple[str, Word]] = []  # (field, value)

    def secrets(self) -> Iterator[Secret]:
        for name, word in self.found:
            if name == "esmtppassword":
                user, where = self.esmtpname, "the SMTP server fetchmail delivers to"
            else:
                user, where = self.name, self.host
            yield Secret(
                line=word.line,
                field=name,
                value=word.text,
                target=where + (f" (user {user})" if user else ""),
                user_inputs=(user, self.host if self.host != _EVERY else ""),
            )


_EVERY = "every server"


class Fetchmail(Family):
    title = "a fetchmail configuration"
    advice = (
        "Take the password out of {file}: fetchmail then asks for it, or reads it from "
        "~/.netrc (plain text too, so only a stopgap); where the server offers it, use OAuth2 "
        "(fetchmail's auth oauthbearer with a token helper) instead. Keep the file private: "
        "chmod 600 {file} (fetchmail refuses a file others can read)."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        user: _User | None = None
        stream = words(text)
        for word in stream:
            if word.quoted:
                continue
            key = word.text
            if key in _ENTRY or key in ("defaults", "set"):
                if user is not None:
                    yield from user.secrets()
                user = None
                if key in _ENTRY:
                    user = _User(host=_next(stream).text)
                elif key == "defaults":
                    user = _User(host=_EVERY)
            elif user is None:
                continue
            elif key in ("user", "username"):
                yield from user.secrets()
                user = _User(host=user.host, name=_next(stream).text)
            elif key in ("password", "pass", "esmtppassword"):
                value = _next(stream)
                if value.text or value.quoted:
                    user.found.append(("esmtppassword" if key == "esmtppassword" else key, value))
            elif key == "esmtpname":
                user.esmtpname = _next(stream).text
            elif key in _AUTH:
                _next(stream)  # "auth password" names a method, not a password
        if user is not None:
            yield from user.secrets()


def _next(stream: Iterator[Word]) -> Word:
    return next(stream, Word("", 0, quoted=False))
