"""The `hygiene:` links on the "My device" page: how they are written and how strictly they
are read. A link acts only when it carries the token of the page written last: a link
copied from any other web page, or from an older page, does nothing. No check, policy or
pydantic here.

The token is kept in the page itself (a meta tag at the top of page.html, 0600 in the state
folder), not in a file beside it: the page is replaced whole, so whoever reads it gets a
page and its own token, never one writer's page with another's token, and a page that
could not be written leaves the one before it, and its links, working.

    hygiene:snooze?target=ssh_keys&for=1d&token=...
    hygiene:unsnooze?target=3b5ba676136179f4bba22d444135c506&token=...
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from agent.files import read_file_head, read_small_file, write_whole

PAGE_FILE = "page.html"
LOCK_FILE = "page.lock"  # held while the page is written or its token renewed
PAGE_LIMIT = 16 * 1024 * 1024  # a page this agent writes is well under 1 MB
HEAD_BYTES = 1024  # the token's meta tag is within the page's first bytes
MAX_URL = 300  # a valid link is well under 200 characters
SNOOZE_LENGTHS = ("1h", "1d", "7d")  # what the page offers; open-url accepts only these

ActionName = Literal["snooze", "unsnooze"]
_TARGET = re.compile(r"[a-z][a-z0-9_]{0,39}|[0-9a-f]{32}")  # a check id or a finding id
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_TOKEN_META = re.compile(rb'<meta name="hygiene-page-token" content="([A-Za-z0-9_-]{43})">')
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


def new_token() -> str:
    """A fresh token for the page about to be written."""
    return secrets.token_urlsafe(32)


def token_meta(token: str) -> str:
    """The tag that keeps `token` in the page; render puts it right after the charset."""
    return f'<meta name="hygiene-page-token" content="{token}">'


def current_token(state: Path) -> str | None:
    """The token of the page written last, or None when there is no page (or its token
    cannot be read: then no link acts until the page is written again)."""
    try:
        head = read_file_head(state / PAGE_FILE, HEAD_BYTES)
    except OSError:
        return None
    found = _TOKEN_META.findall(head)
    return found[0].decode("ascii") if len(found) == 1 else None


def page_lock(state: Path) -> contextlib.AbstractContextManager[None]:
    """The page's writers (write_page, rotate_token's callers) take turns under this: one
    never puts back a page another has just replaced. Raises OSError."""
    from agent.instance import exclusive  # noqa: PLC0415

    return exclusive(state / LOCK_FILE)


def rotate_token(state: Path, token: str) -> None:
    """Give the page written last a new token in place of `token`, as a link uses it (under
    page_lock): the same link opened again, at once or later, or its token read off a
    process list, acts no more. Raises OSError; a page that no longer holds `token` is left
    alone."""
    path = state / PAGE_FILE
    page = read_small_file(path, PAGE_LIMIT)
    if _TOKEN_META.findall(page[:HEAD_BYTES]) != [token.encode("ascii")]:
        return
    fresh = new_token().encode("ascii")
    write_whole(path, page.replace(token.encode("ascii"), fresh), 0o600)


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
    action = Action(
        name="snooze" if name == "snooze" else "unsnooze", target=values["target"], length=length
    )
    if url != action_url(token, action):
        raise LinkRefused("the link is not written as the page writes it")
    return action
