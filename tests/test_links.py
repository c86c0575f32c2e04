"""agent.links: a `hygiene:` link is read only when it is exactly one the page writes, with
the token of the page written last. Every other text is refused with one sentence that never
repeats it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent import links
from agent.links import Action, LinkRefused, action_url, current_token, parse
from tests.conftest import token_page

FINDING = "3b5ba676136179f4bba22d444135c506"
TOKEN = "A" * 43
OTHER = "B" * 43


@pytest.mark.parametrize(
    "action",
    [
        *(Action("snooze", "ssh_keys", length) for length in links.SNOOZE_LENGTHS),
        Action("snooze", FINDING, "1d"),
        Action("unsnooze", "ssh_keys"),
        Action("unsnooze", FINDING),
    ],
)
def test_a_link_the_page_writes_is_read_back_as_its_action(action: Action) -> None:
    assert parse(action_url(TOKEN, action), TOKEN) == action


def test_only_the_spelling_the_page_writes_acts() -> None:
    url = action_url(TOKEN, Action("snooze", "vpn", "1d"))
    assert parse(url, TOKEN) == Action("snooze", "vpn", "1d")
    reordered = f"hygiene:snooze?token={TOKEN}&for=1d&target=vpn"
    for other in ("HYGIENE" + url.removeprefix("hygiene"), reordered):
        with pytest.raises(LinkRefused, match="not written as the page writes it"):
            parse(other, TOKEN)


SNOOZE = f"hygiene:snooze?target=ssh_keys&for=1d&token={TOKEN}"
REFUSED = {
    "a wrong token": (SNOOZE.replace(TOKEN, OTHER), "token is not the current page's"),
    "a token cut short": (SNOOZE[:-1], "token is not the current page's"),
    "an empty token": (SNOOZE.replace(TOKEN, ""), "token is not the current page's"),
    "another action": (SNOOZE.replace(":snooze", ":delete"), "an action the page does not"),
    "no action": (f"hygiene:?target=vpn&token={TOKEN}", "an action the page does not"),
    "an extra parameter": (SNOOZE + "&then=rm", "a parameter the page does not write"),
    "a duplicated target": (SNOOZE + "&target=vpn", "a parameter the page does not write"),
    "a duplicated token": (SNOOZE + f"&token={TOKEN}", "a parameter the page does not write"),
    "an empty pair": (SNOOZE.replace("&for", "&&for"), "a parameter the page does not write"),
    "a length on unsnooze": (
        f"hygiene:unsnooze?target=vpn&for=1d&token={TOKEN}",
        "a parameter the page does not write",
    ),
    "a missing length": (SNOOZE.replace("&for=1d", ""), "lacks a parameter"),
    "no query": ("hygiene:snooze", "lacks a parameter"),
    "a length the page does not offer": (SNOOZE.replace("1d", "3650d"), "lasts 1h, 1d, 7d"),
    "a target that is no id": (SNOOZE.replace("ssh_keys", "SSH_KEYS"), "neither a check id"),
    "another scheme": ("https" + SNOOZE.removeprefix("hygiene"), "not a hygiene: link"),
    "a scheme-like prefix": ("xhygiene" + SNOOZE.removeprefix("hygiene"), "not a hygiene: link"),
    "nothing after the scheme": ("hygiene:", "not a hygiene: link"),
    "an empty URL": ("", "not a hygiene: link"),
    "an authority": (SNOOZE.replace(":snooze", "://snooze"), "characters a page's link never"),
    "a percent-escaped target": (SNOOZE.replace("ssh_keys", "ssh%5Fkeys"), "characters"),
    "a percent-escaped action": (SNOOZE.replace("snooze?", "sn%6Fooze?"), "characters"),
    "a plus for a space": (SNOOZE.replace("1d", "1d+"), "characters a page's link never"),
    "a fragment": (SNOOZE + "#top", "characters a page's link never"),
    "a newline": (SNOOZE + "\n", "characters a page's link never"),
    "a newline inside": (SNOOZE.replace("&for", "\n&for"), "characters a page's link never"),
    "a NUL": (SNOOZE.replace("ssh_keys", "ssh_keys\0"), "characters a page's link never"),
    "a non-ASCII letter": (SNOOZE.replace("ssh_keys", "ssh_kеys"), "characters"),  # noqa: RUF001
    "a byte that is not UTF-8": (SNOOZE.replace(TOKEN, "\udcff" * 43), "characters"),
    "a bidirectional override": (SNOOZE + "\u202e", "characters a page's link never"),
    "a huge URL": (SNOOZE + "&x=" + "y" * 100_000, "longer than 300 characters"),
    "one character too long": (
        SNOOZE.replace("ssh_keys", "a" * (links.MAX_URL - len(SNOOZE) + 9)),
        "longer than 300",
    ),
}


@pytest.mark.parametrize(("url", "said"), REFUSED.values(), ids=REFUSED.keys())
def test_anything_but_a_page_link_with_the_token_is_refused(url: str, said: str) -> None:
    with pytest.raises(LinkRefused) as refused:
        parse(url, TOKEN)
    sentence = str(refused.value)
    assert said in sentence
    assert "\n" not in sentence
    # The URL is never repeated, not even its parts.
    assert not {TOKEN, OTHER, "ssh_keys", "rm", "#top", "%"} & set(sentence.split())
    assert TOKEN not in sentence


def test_the_longest_link_allowed_is_read() -> None:
    target = "a" + "b" * 39
    url = action_url(TOKEN, Action("snooze", target, "1d"))
    assert len(url) < links.MAX_URL
    assert parse(url, TOKEN).target == target


def test_no_page_written_means_no_link_is_valid(tmp_path: Path) -> None:
    assert current_token(tmp_path) is None
    with pytest.raises(LinkRefused, match="no page has been written yet"):
        parse(SNOOZE, current_token(tmp_path))


def test_a_new_page_makes_every_earlier_link_stale(tmp_path: Path) -> None:
    first = token_page(tmp_path)
    url = action_url(first, Action("unsnooze", "vpn"))
    assert parse(url, current_token(tmp_path)) == Action("unsnooze", "vpn")

    second = token_page(tmp_path)
    assert second != first
    with pytest.raises(LinkRefused, match="the page was written again since"):
        parse(url, current_token(tmp_path))
    assert parse(action_url(second, Action("unsnooze", "vpn")), current_token(tmp_path))


def test_a_used_token_is_replaced_in_the_page_and_acts_no_more(tmp_path: Path) -> None:
    token = token_page(tmp_path)
    page = tmp_path / links.PAGE_FILE
    url = action_url(token, Action("unsnooze", "vpn"))
    links.rotate_token(tmp_path, token)
    fresh = current_token(tmp_path)
    assert fresh is not None and fresh != token
    assert token not in page.read_text()
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    with pytest.raises(LinkRefused, match="the page was written again since"):
        parse(url, fresh)
    # A page written again meanwhile (another token) is left as it is.
    links.rotate_token(tmp_path, token)
    assert current_token(tmp_path) == fresh


@pytest.mark.parametrize(
    "head",
    [
        "",
        '<meta name="hygiene-page-token" content="short">',
        f'<meta name="hygiene-page-token" content="{TOKEN}!">',
        '<meta name="hygiene-page-token" content="' + "\x00" * 43 + '">',
        '<meta name="hygiene-page-token" content="' + "é" * 43 + '">',
        # Two tokens: which one the page's links carry cannot be told.
        f'<meta name="hygiene-page-token" content="{TOKEN}">' * 2,
        # The token further in than a page writes it.
        " " * links.HEAD_BYTES + f'<meta name="hygiene-page-token" content="{TOKEN}">',
    ],
)
def test_a_page_whose_token_cannot_be_read_has_no_token(tmp_path: Path, head: str) -> None:
    (tmp_path / links.PAGE_FILE).write_text(f"<!DOCTYPE html><head>{head}</head>")
    assert current_token(tmp_path) is None


def test_a_page_that_is_a_fifo_or_a_folder_has_no_token(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / links.PAGE_FILE)
    assert current_token(tmp_path) is None
    (tmp_path / links.PAGE_FILE).unlink()
    (tmp_path / links.PAGE_FILE).mkdir()
    assert current_token(tmp_path) is None
