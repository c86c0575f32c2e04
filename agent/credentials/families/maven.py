"""Maven's settings.xml: <servers><server> with <id>, <username>, <password>, <passphrase>
(of its <privateKey>) and HTTP headers in <configuration><httpHeaders> (GitLab's
Private-Token); <proxies><proxy> with <password>; and the <properties> of <profiles>
(gpg.passphrase is the common one).

A value in braces, "{COQLCE6DU6GtcS5P=}" (Maven 3's mvn --encrypt-password, Maven 4's
mvnenc), is encrypted with the master password: nothing to find. "${env.NAME}" and other
${...} are filled in by Maven from the environment or properties: a reference, not a secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from agent.credentials.families import _xml
from agent.credentials.model import Family, Kind, Secret, Source

# plexus-sec-dispatcher's test: text, then "{" cipher text "}" with no backslash before either.
_ENCRYPTED = re.compile(r"(?:^|[^\\$])\{.*?[^\\]\}", re.DOTALL)
# Headers that carry a service's token (GitLab's package registry documents the first three).
_TOKEN_HEADERS = frozenset({"private-token", "job-token", "deploy-token", "authorization"})


def _stored(value: str) -> bool:
    """A value kept here as it is: not empty, not interpolated, not encrypted."""
    return bool(value) and "${" not in value and _ENCRYPTED.search(value) is None


class Maven(Family):
    title = "Maven's settings.xml"
    advice = (
        "Encrypt the passwords in {file}: mvn --encrypt-master-password once (it goes to "
        "~/.m2/settings-security.xml), then mvn --encrypt-password for each one (Maven 4: "
        "mvnenc); or write ${env.NAME} and set NAME in the environment of the build."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        root = _xml.parse(text)
        if root is None:
            return
        for servers in root.findall("servers"):
            for server in servers.findall("server"):
                yield from _server(server)
        for proxies in root.findall("proxies"):
            for proxy in proxies.findall("proxy"):
                yield from _proxy(proxy)
        for profiles in root.findall("profiles"):
            for profile in profiles.findall("profile"):
                yield from _properties(profile)
        _xml.whole(root)


def _server(server: _xml.Element) -> Iterator[Secret]:
    name = server.child_text("id")
    user = server.child_text("username")
    target = f"server {name}" + (f" (user {user})" if user else "")
    for field in ("password", "passphrase"):
        element = server.find(field)
        if element is not None and _stored(element.text.strip()):
            yield Secret(
                line=element.value_line,
                field=field,
                value=element.text.strip(),
                target=target,
                user_inputs=(user, name),
            )
    headers = server.path("configuration", "httpHeaders")
    if headers is None:
        return
    for header in headers.findall("property"):
        key = header.child_text("name")
        element = header.find("value")
        if key.lower() not in _TOKEN_HEADERS or element is None:
            continue
        value = element.text.strip()
        if not _stored(value):
            continue
        scheme, _, credentials = value.partition(" ")
        if key.lower() != "authorization":
            yield Secret(
                line=element.value_line,
                field=key,
                value=value,
                kind="token",
                target=f"server {name}",
            )
        elif scheme.lower() == "basic":
            # user:password in base64: as readable as plain text.
            login, _, password = _base64(credentials.strip()).partition(":")
            if password:
                yield Secret(
                    line=element.value_line,
                    field=key,
                    value=password,
                    target=f"server {name}" + (f" (user {login})" if login else ""),
                    user_inputs=(login, name),
                    encoding="base64",
                )
        elif credentials.strip():
            yield Secret(
                line=element.value_line,
                field=key,
                value=credentials.strip(),
                kind="token",
                target=f"server {name}",
            )


def _proxy(proxy: _xml.Element) -> Iterator[Secret]:
    element = proxy.find("password")
    if element is None or not _stored(element.text.strip()):
        return
    host = proxy.child_text("host") or proxy.child_text("id")
    user = proxy.child_text("username")
    yield Secret(
        line=element.value_line,
        field="password",
        value=element.text.strip(),
        target=f"proxy {host}" + (f" (user {user})" if user else ""),
        user_inputs=(user, host),
    )


def _properties(profile: _xml.Element) -> Iterator[Secret]:
    properties = profile.find("properties")
    if properties is None:
        return
    for element in properties.children:
        key = element.tag.lower()
        kind: Kind
        if key.endswith(("password", "passphrase")):
            kind = "password"
        elif key.endswith("token"):
            kind = "token"
        else:
            continue
        value = element.text.strip()
        if _stored(value):
            yield Secret(
                line=element.value_line,
                field=element.tag,
                value=value,
                kind=kind,
                target=f"property {element.tag} (profile {profile.child_text('id')})",
            )


def _base64(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return ""
