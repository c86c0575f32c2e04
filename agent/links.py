"""The `hygiene:` links on the "My device" page: how they are written and how strictly they
are read. A link acts only when it carries the token of the page written last (kept 0600 in
the state folder): a link copied from any other web page, or from an older page, does
nothing. Pure text in and out, and one small file; no check, policy or pydantic here.

    hygiene:snooze?target=ssh_keys&for=1d&token=...
    hygiene:unsnooze?target=3b5ba676136179f4bba22d444135c506&token=...
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from agent.files import read_small_file, write_whole

TOKEN_FILE = "page-token"  # noqa: S105 - the file's name, not its content
MAX_URL = 300  # a valid link is well under 200 characters
SNOOZE_LENGTHS = ("1h", "1d", "7d")  # what the page offers; open-url accepts only these

ActionName = Literal["snooze", "unsnooze"]
_TARGET = re.compile(r"[a-z][a-z0-9_]{0,39}|[0-9a-f]{32}")  # a check id or a finding id
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
# Every character a page's link can hold: no percent-escape, space, control or non-ASCII
# character, so no two spellings of one link and nothing a decoder could read otherwise.
_LINK_CHARACTERS = re.compile(r"[A-Za-z0-9_:?&=-]+")


class LinkRefused(ValueError):
    """A `hygiene:` URL that is not exactly a known action with the current token. Its text
    is one sentence that never repeats the URL (which could be anything)."""


@dataclass(frozen=True)
class Action:
    name: ActionName
    target: str
    length: str | None = None  # snooze only: one of SNOOZE_LENGTHS


def new_token(state: Path) -> str:
    """A fresh token for the page about to be written; every earlier page's links stop
    working. Raises OSError."""
    token = secrets.token_urlsafe(32)
    write_whole(state / TOKEN_FILE, token.encode("ascii"), 0o600)
    return token


def current_token(state: Path) -> str | None:
    """The token of the page written last, or None when there is none (or it is damaged)."""
    try:
        text = read_small_file(state / TOKEN_FILE, 256).decode("ascii", "replace").strip()
    except OSError:
        return None
    return text if _TOKEN.fullmatch(text) else None


def action_url(token: str, action: Action) -> str:
    query = f"target={quote(action.target, safe='')}"
    if action.name == "snooze":
        query += f"&for={action.length}"
    return f"hygiene:{action.name}?{query}&token={token}"


def parse(url: str, token: str | None) -> Action:
    """The action `url` asks for, when it is exactly one a page writes and carries `token`;
    raises LinkRefused otherwise."""
    if len(url) > MAX_URL:
        raise LinkRefused(f"the link is longer than {MAX_URL} characters")
    scheme, _, rest = url.partition(":")
    if scheme.lower() != "hygiene" or not rest:
        raise LinkRefused("the link is not a hygiene: link")
    if not _LINK_CHARACTERS.fullmatch(url):
        raise LinkRefused("the link holds characters a page's link never holds")
    name, _, query = rest.partition("?")
    if name not in ("snooze", "unsnooze"):
        raise LinkRefused("the link asks for an action the page does not offer")
    expected = {"target", "token", "for"} if name == "snooze" else {"target", "token"}
    values: dict[str, str] = {}
    for pair in query.split("&") if query else []:
        key, eq, value = pair.partition("=")
        if not eq or key not in expected or key in values:
            raise LinkRefused("the link carries a parameter the page does not write")
        values[key] = value
    if set(values) != expected:
        raise LinkRefused("the link lacks a parameter the page writes")
    # The token first: a link from elsewhere learns nothing about which targets exist.
    if token is None:
        raise LinkRefused("no page has been written yet, so no link is valid")
    if not hmac.compare_digest(values["token"].encode(), token.encode()):
        raise LinkRefused(
            "the link's token is not the current page's (the page was written again since, "
            "or the link comes from somewhere else)"
        )
    if not _TARGET.fullmatch(values["target"]):
        raise LinkRefused("the link's target is neither a check id nor a finding id")
    length = values.get("for")
    if name == "snooze" and length not in SNOOZE_LENGTHS:
        raise LinkRefused(f"a snooze from the page lasts {', '.join(SNOOZE_LENGTHS)}")
    action: ActionName = "snooze" if name == "snooze" else "unsnooze"
    return Action(name=action, target=values["target"], length=length)
