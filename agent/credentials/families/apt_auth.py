"""/etc/apt/auth.conf and auth.conf.d/: apt's logins for private repositories, netrc format."""

from __future__ import annotations

from collections.abc import Iterator

from agent.credentials.families.netrc import secrets
from agent.credentials.model import Family, Secret, Source


class AptAuth(Family):
    title = "apt's auth.conf"
    advice = (
        "apt needs this password to reach the repository, so keep {file} readable by root "
        "alone (chmod 600, owned by root; apt 2.x reads it as root before dropping rights) and "
        "use a token the repository issued for this machine rather than your own password."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        return secrets(text)
