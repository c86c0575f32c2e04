"""~/.pypirc: the upload credentials twine (and the old setup.py upload) read, one section a
repository ([pypi], [testpypi], any server listed in [distutils] index-servers).

twine reads it with configparser, like the AWS files. A username of "__token__" means the
password is a PyPI API token. A section without a password leaves twine to ask the keyring.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from agent.credentials.families.aws import ini_options
from agent.credentials.model import Family, Secret, Source


class Pypirc(Family):
    title = "a .pypirc file"
    advice = (
        "Take the password lines out of {file}: twine then takes them from your keyring "
        "(keyring set https://upload.pypi.org/legacy/ __token__), or publish from CI with "
        "PyPI's trusted publishing, which needs no stored token. Meanwhile use a token scoped "
        "to one project and chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        sections: dict[str, dict[str, str]] = {}
        passwords: list[tuple[int, str, str]] = []
        for number, section, key, value in ini_options(text):
            sections.setdefault(section, {})[key] = value
            if key == "password" and value and section != "distutils":
                passwords.append((number, section, value))
        for number, section, value in passwords:
            options = sections[section]
            user = options.get("username", "")
            host = ""
            with contextlib.suppress(ValueError):
                host = urlsplit(options.get("repository", "")).hostname or ""
            name = "pypi" if section == "server-login" else section
            yield Secret(
                line=number,
                field="password",
                value=value,
                kind="token" if user == "__token__" else "password",
                target=f"repository {name}" + (f" (user {user})" if user else ""),
                user_inputs=(user, name, host),
            )
