"""~/.netrc (and Windows' _netrc): ftp, curl, git over HTTPS, fetchmail and others read it.

Tokens are machine/default, login, password, account and macdef; values may be quoted.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.credentials.model import Family, Secret, Source


def tokens(text: str) -> Iterator[tuple[str, int]]:
    """The words of a netrc file with their lines: quotes and backslash escapes as curl reads
    them, comments from '#' to the end of the line, macro bodies skipped."""
    line = 1
    i = 0
    n = len(text)
    in_macro = False
    while i < n:
        c = text[i]
        if in_macro:
            # A macro runs to the first empty line.
            end = text.find("\n\n", i)
            if end < 0:
                return
            line += text.count("\n", i, end + 2)
            i = end + 2
            in_macro = False
            continue
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r,":
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        else:
            start_line = line
            word: list[str] = []
            if c == '"':
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    if text[i] == "\n":
                        line += 1
                    word.append(text[i])
                    i += 1
                i += 1
            else:
                while i < n and text[i] not in " \t\r\n":
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    word.append(text[i])
                    i += 1
            value = "".join(word)
            yield value, start_line
            if value == "macdef":
                # The macro's name follows on the same line; its body is not ours to read.
                end = text.find("\n", i)
                if end < 0:
                    return
                line += 1
                i = end + 1
                in_macro = True


def secrets(text: str) -> Iterator[Secret]:
    """The password of each machine entry, with its login and host as what it is for."""
    host = ""
    login = ""
    pending: list[tuple[str, int]] = []
    words = iter(tokens(text))
    for word, line in words:
        if word in ("machine", "default"):
            yield from _entry(host, login, pending)
            host = next(words, ("", line))[0] if word == "machine" else "any other host"
            login = ""
            pending = []
        elif word in ("login", "password", "passwd", "account"):
            value, at = next(words, ("", line))
            if word == "login":
                login = value
            elif word in ("password", "passwd"):
                pending.append((value, at))
    yield from _entry(host, login, pending)


def _entry(host: str, login: str, passwords: list[tuple[str, int]]) -> Iterator[Secret]:
    target = " ".join(part for part in (host, f"(login {login})" if login else "") if part)
    for value, line in passwords:
        yield Secret(
            line=line,
            field="password",
            value=value,
            target=target,
            user_inputs=(login, host),
        )


class Netrc(Family):
    title = "a netrc file"
    advice = (
        "Take the password line out of {file} and let the program ask, or keep the password "
        "in your keyring (for git: git config --global credential.helper libsecret; for "
        "curl: pass it with --netrc-file from an encrypted store). Keep the file private: "
        "chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        return secrets(text)
