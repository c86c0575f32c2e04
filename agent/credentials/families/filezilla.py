"""FileZilla's site manager and recent servers (sitemanager.xml, recentservers.xml).

Each <Server> has <Host>, <Port>, <User>, <Logontype> and, when FileZilla keeps the password,
<Pass>: base64 (encoding="base64", FileZilla 3.26 and later), plain text (older versions), or
encrypted with the master password (encoding="crypt": nothing to find here).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from agent.credentials.families import _xml
from agent.credentials.model import Family, Secret, Source

_ANONYMOUS = "0"  # Logontype 0: anonymous login, no password of the person's


class FileZilla(Family):
    title = "FileZilla's saved sites"
    advice = (
        "Set a master password in FileZilla (Edit > Settings > Interface > Passwords: "
        "'Save passwords protected by a master password'), which encrypts the saved "
        "passwords in {file}, or choose the logon type 'Ask for password' for these sites."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        root = _xml.parse(text)
        if root is None:
            return
        for server in root.iter("Server"):
            if server.child_text("Logontype") == _ANONYMOUS:
                continue
            secret = server.find("Pass")
            if secret is None:
                continue
            value = secret.text.strip()
            encoding = secret.attributes.get("encoding", "").strip().lower()
            if not value or encoding == "crypt":
                continue
            if encoding == "base64":
                decoded = _base64(value)
                if decoded is None:
                    continue
                value, words = decoded, "base64"
            elif encoding:
                continue  # an encoding this version does not know: not plain text
            else:
                words = ""
            host = server.child_text("Host")
            user = server.child_text("User")
            yield Secret(
                line=secret.value_line,
                field="Pass",
                value=value,
                target=(host or "a server") + (f" (user {user})" if user else ""),
                user_inputs=(user, host, server.child_text("Name")),
                encoding=words,
            )
        _xml.whole(root)


def _base64(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
