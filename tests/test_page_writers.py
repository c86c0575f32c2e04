"""Two writers of the page at once (`hygiene page` beside the agent, or twice): the page
that stays always holds its own token, so its links act; and a page that could not be
written leaves the one before it, and its links, working. Real processes, real files."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent import links
from tests.conftest import Machine, Outcome

ROUNDS = 8


def page_links(page: Path) -> list[str]:
    return [
        m.replace("&amp;", "&") for m in re.findall(r'href="(hygiene:[^"]+)"', page.read_text())
    ]


@pytest.fixture
def state(
    machine: Machine, make_key: Callable[..., Path], hygiene_process: Callable[..., Outcome]
) -> Path:
    """The state folder after one audit that found an unprotected key."""
    machine.keep_only("ssh_keys")
    make_key(machine.ssh / "id_ed25519")
    assert hygiene_process("run", "--once").code == 0
    return machine.state / "hygiene-agent"


def test_pages_written_at_once_keep_their_links_working(machine: Machine, state: Path) -> None:
    script = Path(sys.executable).with_name("hygiene")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "agent"]
    for _ in range(ROUNDS):
        writers = [
            subprocess.Popen(
                [*command, "page", "--print-path"], env=machine.env(), stdout=subprocess.DEVNULL
            )
            for _ in range(2)
        ]
        assert [w.wait(60) for w in writers] == [0, 0]
        token = links.current_token(state)
        found = page_links(state / links.PAGE_FILE)
        assert token is not None and found
        for url in found:
            links.parse(url, token)  # raises LinkRefused when the page and token disagree


def test_a_page_that_cannot_be_written_leaves_the_last_one_working(
    state: Path, hygiene_process: Callable[..., Outcome]
) -> None:
    page = state / links.PAGE_FILE
    assert hygiene_process("page", "--print-path").code == 0
    url = page_links(page)[0]
    # A folder where the page goes: no writer, root included, can replace it.
    page.rename(state / "page.kept")
    page.mkdir()
    try:
        failed = hygiene_process("page", "--print-path")
    finally:
        page.rmdir()
        (state / "page.kept").rename(page)
    assert failed.code == 2 and "cannot write the page" in failed.err
    assert "Traceback" not in failed.err
    assert links.parse(url, links.current_token(state))


def test_a_refused_policy_file_is_on_the_page_once(
    machine: Machine, state: Path, hygiene_process: Callable[..., Outcome]
) -> None:
    broken = machine.user_policies / "zz-broken.yaml"
    broken.write_text("schema: 1\nchecks:\n  ssh_keys: {every: often}\n")
    done = hygiene_process("page", "--print-path")
    assert done.code == 0, done.err
    text = (state / links.PAGE_FILE).read_text()
    assert text.count("zz-broken.yaml, line 3: checks.ssh_keys.every") == 1
    assert "left out until it is mended" in text
