"""~/.s3cfg: s3cmd's configuration, as s3cmd --configure writes it (every option, empty or not).

Read as s3cmd's own parser does: "#" comment lines, "[section]" headers (all sections are
read together), "name = value" with one pair of double quotes stripped. A value starting
with "$" is taken from that environment variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.credentials.model import Family, Kind, Secret, Source

_DATA = re.compile(r"\s*(?P<key>\w+)\s*=\s*(?P<value>.*)")
_QUOTED = re.compile(r'"(.*)"\s*')
_SECRETS: dict[str, Kind] = {
    "secret_key": "token",  # the S3 secret access key
    "access_token": "token",  # an STS session token
    "gpg_passphrase": "password",  # what s3cmd -e encrypts uploads with
}


class S3cfg(Family):
    title = "s3cmd's configuration"
    advice = (
        "s3cmd has no keyring: keep {file} private (chmod 600 {file}) and use keys limited to "
        "the buckets you sync. Or leave the values out: s3cmd reads a value written as "
        "$VARIABLE from the environment, which aws-vault or your password manager can fill."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        options: dict[str, str] = {}
        found: list[tuple[int, str, str]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#") or line.startswith("["):
                continue
            match = _DATA.match(line)
            if match is None:
                continue
            key, value = match.group("key"), match.group("value")
            if _QUOTED.fullmatch(value):
                value = value[: value.rindex('"')][1:]
            value = value.strip()
            options[key] = value
            if key in _SECRETS and value and not value.startswith("$"):
                found.append((number, key, value))
        host = options.get("host_base") or "s3.amazonaws.com"
        host = host.removeprefix("https://").removeprefix("http://")
        user_inputs = (options.get("access_key", ""), host)
        for number, key, value in found:
            target = "the files s3cmd encrypts" if key == "gpg_passphrase" else host
            yield Secret(
                line=number,
                field=key,
                value=value,
                kind=_SECRETS[key],
                target=target,
                user_inputs=user_inputs,
            )
