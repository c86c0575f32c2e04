"""The AWS CLI's and SDKs' shared files: ~/.aws/credentials and ~/.aws/config.

Both are read with Python's configparser (botocore's raw_config_parse): "[section]" headers,
"key = value" or "key: value", full-line "#" and ";" comments, no inline comments, indented
lines continuing the option above (the config file's nested "s3 =" blocks). In credentials a
section is the profile's name; in config it is "profile NAME" (or "default").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.credentials.model import Family, Secret, Source

_SECTION = re.compile(r"\[(?P<name>.+)\]")
_OPTION = re.compile(r"(?P<key>.*?)\s*[=:]\s*(?P<value>.*)")

# Secret access keys and session tokens are issued by AWS: tokens, not passwords.
# aws_security_token is the older name of aws_session_token, still read by botocore.
_SECRETS = ("aws_secret_access_key", "aws_session_token", "aws_security_token")


def ini_options(text: str) -> Iterator[tuple[int, str, str, str]]:
    """(line, section, key, value) of each option as configparser reads it: keys lower-cased,
    values stripped and taken literally. Continuation lines and malformed lines are skipped."""
    section = ""
    indent: int | None = None  # the indentation of the current option, for continuations
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            indent = None
            continue
        if stripped.startswith(("#", ";")):
            continue
        depth = len(line) - len(line.lstrip())
        if indent is not None and depth > indent:
            continue  # a continuation of the option above (a nested block or a long value)
        header = _SECTION.match(stripped)
        if header is not None:
            section = header.group("name")
            indent = None
            continue
        option = _OPTION.fullmatch(stripped)
        if option is None or not option.group("key"):
            indent = None
            continue
        indent = depth
        yield number, section, option.group("key").lower(), option.group("value")


def profile_name(section: str) -> str:
    """The profile a section belongs to: "profile work" in config, "work" in credentials."""
    kind, _, name = section.partition(" ")
    if kind == "profile" and name.strip():
        return name.strip()
    return section.strip()


class Aws(Family):
    title = "the AWS CLI's credentials"
    advice = (
        "Replace the long-lived keys in {file} with short-lived ones: aws configure sso (IAM "
        "Identity Center), aws-vault (keeps the keys in your keyring), or a credential_process "
        "that reads them from your password manager. Until then keep the file private: "
        "chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        # A profile that gets its keys from credential_process, sso_* or role_arn holds none
        # here; only values written in the file are reported, whatever else the profile says.
        for number, section, key, value in ini_options(text):
            if key not in _SECRETS or not value:
                continue
            kind, _, rest = section.partition(" ")
            if kind in ("sso-session", "services") and rest.strip():
                continue  # not a profile: these sections hold no keys
            name = profile_name(section)
            yield Secret(
                line=number,
                field=key,
                value=value,
                kind="token",
                target=f"profile {name}" if name else "a profile",
            )
