"""kubeconfig (~/.kube/config): users[].user holds how kubectl authenticates as that user.

Secrets in it: token, password (with username), client-key-data (the client certificate's
private key, base64 of the PEM) and an auth-provider's config (id-token, refresh-token,
client-secret, access-token). exec (a credential plugin), tokenFile and client-key (paths)
only point elsewhere.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from agent.credentials.families.gh import compose, kind, members, scalar
from agent.credentials.model import Family, Secret, Source

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from yaml.nodes import Node

_PROVIDER_TOKENS = ("id-token", "refresh-token", "client-secret", "access-token")


class Kube(Family):
    title = "a kubeconfig file"
    advice = (
        "Use an exec credential plugin (kubelogin for OIDC or Azure, aws eks get-token, "
        "gke-gcloud-auth-plugin) so {file} holds no token or key, and keep it private "
        "meanwhile: chmod 600 {file}."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        seen: set[int] = set()
        # Only users is read at the top: a users entry may be an alias of a node written
        # under another key (an anchor kept under "defaults"), so the top level does not
        # mark the nodes it passes over as seen.
        tops = (top for document in compose(text) for top in members(document, set()))
        for key, users in tops:
            if key != "users" or kind(users) != "sequence":
                continue
            for item in users.value:
                if id(item) in seen:
                    continue
                seen.add(id(item))
                fields = list(members(item, seen))
                name = next((scalar(v) for k, v in fields if k == "name"), "")
                for field, user in fields:
                    if field == "user":
                        yield from _user(user, name, seen)


def _user(node: Node, name: str, seen: set[int]) -> Iterator[Secret]:
    fields = list(members(node, seen))
    username = next((scalar(v) for k, v in fields if k == "username"), "")
    target = f"user {name}" if name else "a user without a name"

    def secret(at: Node, field: str, value: str, kind: str = "token", encoding: str = "") -> Secret:
        return Secret(
            line=at.start_mark.line + 1,
            field=field,
            value=value,
            kind="password" if kind == "password" else "token",
            target=target,
            user_inputs=(username, name),
            encoding=encoding,
        )

    for field, value in fields:
        text = scalar(value)
        if field == "token" and text:
            yield secret(value, field, text)
        elif field == "password" and text:
            yield secret(value, field, text, kind="password")
        elif field == "client-key-data" and text:
            key = _decoded(text)
            if key is not None:
                yield secret(value, field, key, encoding="base64")
        elif field == "auth-provider":
            for part, config in members(value, seen):
                if part != "config":
                    continue
                for item, token in members(config, seen):
                    if item in _PROVIDER_TOKENS and scalar(token):
                        yield secret(token, item, scalar(token))


def _decoded(data: str) -> str | None:
    """The PEM text of client-key-data, or None when it is not base64."""
    raw = "".join(data.split())
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
