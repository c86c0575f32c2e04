"""Pidgin's (libpurple's, so Finch's too) accounts: ~/.purple/accounts.xml.

Each <account> has <protocol>, <name> and, when "Remember password" is on and no keyring
plugin took it, <password> in plain text. A proxy of the account's own may have a <password>
too, and some protocol plugins keep a service's token in a <setting name='token'>.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.credentials.families import _xml
from agent.credentials.model import Family, Secret, Source

_PROTOCOLS = {
    "prpl-jabber": "XMPP",
    "prpl-irc": "IRC",
    "prpl-icq": "ICQ",
    "prpl-aim": "AIM",
    "prpl-yahoo": "Yahoo",
    "prpl-msn": "MSN",
    "prpl-gg": "Gadu-Gadu",
    "prpl-novell": "GroupWise",
    "prpl-meanwhile": "Sametime",
    "prpl-simple": "SIMPLE",
    "prpl-silc": "SILC",
    "prpl-zephyr": "Zephyr",
    "prpl-eionrobb-discord": "Discord",
}
# Settings that protocol plugins fill with what the service issued (purple-discord: token).
_TOKEN_SETTINGS = frozenset(
    {"token", "access_token", "refresh_token", "api_token", "auth_token", "oauth_token"}
)


class Pidgin(Family):
    title = "Pidgin's accounts"
    advice = (
        "Keep the passwords in your keyring: install Pidgin's keyring plugin "
        "(pidgin-gnome-keyring, or pidgin-libsecret) and enable it under Tools > Plugins; or "
        "turn 'Remember password' off for these accounts so Pidgin asks. chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        root = _xml.parse(text)
        if root is None:
            return
        for account in root.iter("account"):
            protocol_id = account.child_text("protocol")
            if not protocol_id:
                continue  # the <account version='1.0'> that holds them all
            name = account.child_text("name")
            protocol = _PROTOCOLS.get(protocol_id, protocol_id.removeprefix("prpl-"))
            target = f"account {name} ({protocol})"
            user, _, server = name.partition("/")[0].partition("@")
            inputs = (name, user, server, account.child_text("alias"))
            password = account.find("password")
            if password is not None and password.text.strip():
                yield Secret(
                    line=password.value_line,
                    field="password",
                    value=password.text.strip(),
                    target=target,
                    user_inputs=inputs,
                )
            proxy = account.find("proxy")
            if proxy is not None:
                secret = proxy.find("password")
                if secret is not None and secret.text.strip():
                    host = proxy.child_text("host")
                    proxy_user = proxy.child_text("username")
                    by = f"(user {proxy_user})" if proxy_user else ""
                    yield Secret(
                        line=secret.value_line,
                        field="proxy password",
                        value=secret.text.strip(),
                        target=" ".join(w for w in ("proxy", host, by, "for", target) if w),
                        user_inputs=(proxy_user, host),
                    )
            for settings in account.findall("settings"):
                for setting in settings.findall("setting"):
                    key = setting.attributes.get("name", "")
                    if key in _TOKEN_SETTINGS and setting.text.strip():
                        yield Secret(
                            line=setting.value_line,
                            field=key,
                            value=setting.text.strip(),
                            kind="token",
                            target=target,
                        )
        _xml.whole(root)
