"""GitHub CLI's hosts.yml: per host, the account and (with --insecure-storage, or gh before
2.24) its oauth_token. Since 2.40 each account also sits under users: {name: {oauth_token}}.
A gh that keeps the token in the system keyring writes only user / users names here.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.credentials.model import Family, Refused, Secret, Source

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from yaml.nodes import Node

# PyYAML is imported when a YAML file is read, not with the scanner: most homes have none,
# and every millisecond of the scanner's start-up is paid on each first scan.


def compose(text: str) -> list[Node]:
    """The node tree of each YAML document in the file (no objects built, so no alias
    expansion). Raises Refused for a file that is not YAML: a secret may sit in it all the
    same, so it is said, not skipped."""
    import yaml  # noqa: PLC0415

    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as err:  # the mark is a place; its text may quote the file
        mark = err.problem_mark or err.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise Refused(f"it is not valid YAML{where}; it was not checked") from None
    except yaml.YAMLError:
        raise Refused("it is not valid YAML; it was not checked") from None
    except RecursionError:  # PyYAML recurses once per level of nesting
        raise Refused("it is nested too deeply to read; it was not checked") from None


def members(node: Node | None, seen: set[int]) -> Iterator[tuple[str, Node]]:
    """The scalar-keyed members of a mapping node, each value node visited once (an alias
    repeats a node: it is read where it first appears, and a cycle ends)."""
    if node is None or kind(node) != "mapping":
        return
    for key, value in node.value:
        if kind(key) != "scalar" or id(value) in seen:
            continue
        seen.add(id(value))
        yield str(key.value), value


def kind(node: Node | None) -> str:
    """ "scalar", "sequence" or "mapping": each node class names itself (no yaml import)."""
    return str(getattr(node, "id", ""))


def scalar(node: Node | None) -> str:
    """The text of a scalar node; "" for anything else (a mapping, a list, null)."""
    if node is not None and kind(node) == "scalar" and node.tag != "tag:yaml.org,2002:null":
        return str(node.value)
    return ""


class Gh(Family):
    title = "GitHub CLI's hosts.yml"
    advice = (
        "Log in again with gh auth login (or gh auth refresh): gh keeps the token in your "
        "system keyring unless --insecure-storage is given, and {file} is left with only your "
        "user name. Then revoke the old token under GitHub's Settings > Applications."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        seen: set[int] = set()
        hosts = (host for document in compose(text) for host in members(document, seen))
        for host, config in hosts:
            items = list(members(config, seen))
            user = next((scalar(v) for k, v in items if k == "user"), "")
            for key, value in items:
                if key == "oauth_token":
                    yield from _token(value, host, user)
                elif key == "users":
                    for name, account in members(value, seen):
                        for field, token in members(account, seen):
                            if field == "oauth_token":
                                yield from _token(token, host, name)


def _token(node: Node, host: str, user: str) -> Iterator[Secret]:
    value = scalar(node)
    if value:
        yield Secret(
            line=node.start_mark.line + 1,
            field="oauth_token",
            value=value,
            kind="token",
            target=host + (f" (user {user})" if user else ""),
            user_inputs=(user, host),
        )
