"""Windows answer files (unattend.xml) that Windows Setup and sysprep leave on the disk.

The passwords of the Microsoft-Windows-Shell-Setup component: UserAccounts/
AdministratorPassword, UserAccounts/LocalAccounts/LocalAccount/Password, AutoLogon/Password
(and their Offline* forms), each a <Value> with <PlainText>. PlainText false is no
protection: the Value is base64 of the UTF-16LE password followed by the element's name
("AdministratorPassword", "Password"). Also the Credentials/Password that joins a domain
(Microsoft-Windows-UnattendedJoin's Identification, plus its MachinePassword) and the one
for Windows Deployment Services (Login/Credentials), both plain strings.

After setup Windows may overwrite the values with "*SENSITIVE*DATA*DELETED*": nothing left.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from agent.credentials.families import _xml
from agent.credentials.model import Family, Secret, Source

_DELETED = "*SENSITIVE*DATA*DELETED*"
_ENCODED = "base64 (PlainText false)"


class Unattend(Family):
    title = "a Windows answer file"
    advice = (
        "Delete {file} now that Windows is installed (Setup does not always remove it), and "
        "change the passwords it held; next time give accounts a one-time password that must "
        "be changed at first logon, and let LAPS manage the local administrator's password."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        root = _xml.parse(text)
        if root is None:
            return
        for element in root.iter():
            tag = element.tag
            if tag in ("AdministratorPassword", "OfflineAdministratorPassword"):
                yield from _secret(element, tag, "the administrator account", ())
            elif tag == "AutoLogon":
                user = element.child_text("Username")
                domain = element.child_text("Domain")
                yield from _secret(
                    element.find("Password"),
                    "AutoLogon/Password",
                    "automatic logon" + (f" (user {user})" if user else ""),
                    (user, domain),
                )
            elif tag in ("LocalAccount", "OfflineLocalAccount"):
                name = element.child_text("Name")
                yield from _secret(
                    element.find("Password"),
                    f"{tag}/Password",
                    f"local account {name}" if name else "a local account",
                    (name, element.child_text("DisplayName")),
                )
            elif tag == "Identification":  # Microsoft-Windows-UnattendedJoin
                joins = element.child_text("JoinDomain")
                yield from _credentials(
                    element.find("Credentials"), f"joining {joins or 'the domain'}"
                )
                yield from _secret(
                    element.find("MachinePassword"),
                    "MachinePassword",
                    f"the computer's account in {joins or 'the domain'}",
                    (joins,),
                )
            elif tag == "Login":  # Microsoft-Windows-Setup's WindowsDeploymentServices
                yield from _credentials(element.find("Credentials"), "Windows Deployment Services")
        _xml.whole(root)


def _credentials(element: _xml.Element | None, what: str) -> Iterator[Secret]:
    if element is None:
        return
    user = element.child_text("Username")
    domain = element.child_text("Domain")
    account = f"{domain}\\{user}" if domain and user else user
    yield from _secret(
        element.find("Password"),
        "Credentials/Password",
        what + (f" (user {account})" if account else ""),
        (user, domain),
    )


def _secret(
    element: _xml.Element | None, field: str, target: str, inputs: tuple[str, ...]
) -> Iterator[Secret]:
    """The password an element holds: its <Value> (with <PlainText>) or its own text."""
    if element is None:
        return
    holder = element.find("Value")
    if holder is None:
        holder = element
    value = holder.text.strip()
    if value == _DELETED:
        return
    encoding = ""
    if element.child_text("PlainText").lower() == "false":
        decoded = _decode(value, element.tag)
        if decoded is None:
            return
        value, encoding = decoded, _ENCODED
    yield Secret(
        line=holder.value_line,
        field=field,
        value=value,
        target=target,
        user_inputs=inputs,
        encoding=encoding,
    )


def _decode(value: str, suffix: str) -> str | None:
    """Windows' PlainText false: base64 of UTF-16LE (password + the element's name)."""
    try:
        text = base64.b64decode(value, validate=True).decode("utf-16-le")
    except (binascii.Error, ValueError):
        return None
    return text.removesuffix(suffix)
