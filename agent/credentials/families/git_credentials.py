"""git credential-store's file: one URL a line, https://user:password@host/path, percent-encoded."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from agent.credentials.model import Family, Secret, Source


class GitCredentials(Family):
    id = "git_credentials"
    title = "git's credential store"
    advice = (
        "Move these to your keyring: git config --global credential.helper libsecret "
        "(or git-credential-manager), then delete {file}; git asks once and keeps the "
        "password encrypted. Prefer a scoped access token to your account password."
    )
    paths = ("~/.git-credentials", "$XDG_CONFIG_HOME/git/credentials")

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        for number, line in enumerate(text.splitlines(), start=1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            try:
                url = urlsplit(entry)
                password = url.password
                user = url.username or ""
                host = url.hostname or ""
            except ValueError:
                continue
            if password is None:
                continue
            user, password = unquote(user), unquote(password)
            yield Secret(
                line=number,
                field="password",
                value=password,
                target=host + (f" (user {user})" if user else ""),
                user_inputs=(user, host),
            )
