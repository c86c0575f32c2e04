"""git credential-store's file: one URL a line, https://user:password@host/path, percent-encoded."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from agent.credentials.model import Family, Refused, Secret, Source
from agent.credentials.strength import is_token


class GitCredentials(Family):
    title = "git's credential store"
    advice = (
        "Move these to your keyring: git config --global credential.helper libsecret "
        "(or git-credential-manager), then delete {file}; git asks once and keeps the "
        "password encrypted. Prefer a scoped access token to your account password."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        unread: list[int] = []
        for number, line in enumerate(text.splitlines(), start=1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            try:
                url = urlsplit(entry)
                password = url.password
                user = url.username or ""
                host = url.hostname or ""
            except ValueError:  # a broken host ("[..."): it may still hold a password
                unread.append(number)
                continue
            if password is None:
                if not is_token(unquote(user)):
                    continue
                # A token written where the user name goes, with no password (a line written
                # by hand, as CI scripts do): the token is the secret (see scan.describe).
                password = ""
            user, password = unquote(user), unquote(password)
            yield Secret(
                line=number,
                field="password",
                value=password,
                target=host + (f" (user {user})" if user else ""),
                user_inputs=(user, host),
            )
        if unread:
            lines = ", ".join(str(n) for n in unread[:5]) + (", ..." if len(unread) > 5 else "")
            # The other lines' secrets are reported: the note says which were not checked.
            raise Refused(f"line {lines} is not a URL and was not checked; the other lines were")
