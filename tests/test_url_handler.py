"""`hygiene service install` registers `hygiene open-url` as the handler of hygiene: links on
Linux: a desktop file, made the default of x-scheme-handler/hygiene in mimeapps.list. Judged
by the real tools that look it up: xdg-utils (xdg-mime, xdg-open), GLib's gio and
desktop-file-validate. xdg-open runs the handler end to end, on the test's desktop."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent import links
from agent.service import (
    Host,
    ServiceError,
    default_app,
    render_url_desktop_file,
    service_command,
    with_default,
    without_default,
)
from agent.store import Store
from tests.conftest import Machine, Outcome, require_tool, token_page
from tests.desktop import Desktop
from tests.test_service import desktop_file, mimeapps, unit_file

MIME = "x-scheme-handler/hygiene"
HANDLER = "hygiene-agent-url.desktop"
# What would make xdg-utils take a desktop environment's own path instead of its generic one.
DESKTOP_VARIABLES = (
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DESKTOP_SESSION",
    "KDE_FULL_SESSION",
    "GNOME_DESKTOP_SESSION_ID",
    "MATE_DESKTOP_SESSION_ID",
    "LXQT_SESSION_CONFIG",
    "BROWSER",
    "DBUS_SESSION_BUS_ADDRESS",
)


def tool_env(machine: Machine, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in machine.env().items() if k not in DESKTOP_VARIABLES}
    env.update(extra)
    return env


def run(argv: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def xdg_default(machine: Machine) -> str:
    done = run([require_tool("xdg-mime"), "query", "default", MIME], tool_env(machine))
    return done.stdout.strip()


def test_install_makes_the_handler_the_one_xdg_mime_and_gio_name(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    assert xdg_default(machine) == ""
    assert hygiene("service", "install", "--dry-run").code == 0
    assert xdg_default(machine) == ""

    assert hygiene("service", "install").code == 0
    assert xdg_default(machine) == HANDLER
    gio = run([require_tool("gio"), "mime", MIME], tool_env(machine))
    assert gio.stdout.splitlines()[0].endswith(f": {HANDLER}"), gio.stdout + gio.stderr
    validate = run([require_tool("desktop-file-validate"), str(desktop_file(machine))], os.environ)
    assert (validate.returncode, validate.stdout + validate.stderr) == (0, "")

    # Installing again changes nothing more.
    written = mimeapps(machine).read_bytes()
    assert hygiene("service", "install").code == 0
    assert mimeapps(machine).read_bytes() == written

    assert hygiene("service", "uninstall").code == 0
    assert xdg_default(machine) == ""
    assert not mimeapps(machine).exists()


def test_xdg_open_runs_the_handler_and_the_link_snoozes(
    machine: Machine, desktop: Desktop, hygiene: Callable[..., Outcome]
) -> None:
    assert hygiene("service", "install").code == 0
    state = machine.state / "hygiene-agent"
    state.mkdir(parents=True, exist_ok=True)
    old = token_page(state)
    token = token_page(state)  # the page was written again
    # xdg-utils' generic path (no desktop environment named) with the test's X display and
    # session bus: it reads mimeapps.list and runs the desktop file's Exec line itself.
    env = tool_env(machine, **desktop.env)
    xdg_open = require_tool("xdg-open")

    def open_link(url: str) -> subprocess.CompletedProcess[str]:
        return run([xdg_open, url], env)

    url = links.action_url(token, links.Action("snooze", "ssh_keys", "1d"))
    done = open_link(url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ssh_keys is snoozed until ")
    with Store.open(state) as store:
        assert list(store.snoozes(datetime.now(UTC))) == ["ssh_keys"]
    (got,) = desktop.received(at_least=1)
    assert got.summary == "Snoozed ssh_keys for 1 day"

    desktop.clear()
    for bad in (
        links.action_url(old, links.Action("unsnooze", "ssh_keys")),
        links.action_url(token, links.Action("unsnooze", "ssh_keys")) + "&x=1",
        url.replace(":snooze", ":erase"),
    ):
        done = open_link(bad)
        assert done.returncode != 0
        assert done.stderr.startswith("hygiene: refused a hygiene: link: "), done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
    with Store.open(state) as store:
        assert list(store.snoozes(datetime.now(UTC))) == ["ssh_keys"]
    assert desktop.received(timeout=1.0) == []


@pytest.mark.parametrize(
    "folder",
    ["plain", "with space", "dollar$sign", 'quo"te', "back\\slash", "tick`s;&|", "ünï"],
)
def test_the_exec_line_runs_the_program_wherever_it_is(
    machine: Machine, tmp_path: Path, folder: str
) -> None:
    """GLib reads the Exec line by the Desktop Entry spec's quoting rules: a path quoted or
    escaped wrongly runs something else, or nothing."""
    program = tmp_path / folder / "hygiene"
    program.parent.mkdir(parents=True)
    program.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    program.chmod(0o755)
    host = replace(Host.current(), program=(str(program), "run"))
    desktop = desktop_file(machine)
    desktop.parent.mkdir(parents=True)
    desktop.write_text(render_url_desktop_file(host))
    machine.config.mkdir()
    mimeapps(machine).write_text(with_default("", MIME, HANDLER))
    validate = run([require_tool("desktop-file-validate"), str(desktop)], os.environ)
    assert (validate.returncode, validate.stdout + validate.stderr) == (0, "")

    url = "hygiene:snooze?target=ssh_keys&for=1d&token=" + "T" * 43
    args = tmp_path / "args"
    env = tool_env(machine, ARGS_FILE=str(args))
    done = run([require_tool("gio"), "open", url], env)
    assert done.returncode == 0, done.stderr
    for _ in range(100):  # gio does not wait for the program it starts
        if args.exists() and args.read_text().endswith("\n"):
            break
        subprocess.run(["sleep", "0.05"], check=True)
    assert args.read_text().splitlines() == ["open-url", "--", url]

    args.unlink()
    program.unlink()
    assert run([require_tool("gio"), "open", url], env).returncode != 0  # the test can fail


@pytest.mark.parametrize("folder", ["odd\nname", "tab\there", "50%home"])
def test_a_path_no_launcher_can_start_is_refused_in_one_sentence(
    tmp_path: Path, folder: str
) -> None:
    host = replace(Host.current(), program=(str(tmp_path / folder / "hygiene"), "run"))
    with pytest.raises(ServiceError) as refused:
        render_url_desktop_file(host)
    assert str(refused.value).startswith(
        "The page's links are not registered: desktop launchers cannot start a program whose "
        "path holds control characters or % ("
    )
    assert "\n" not in str(refused.value) and "\t" not in str(refused.value)


def test_the_service_is_installed_all_the_same_and_says_the_links_are_not(
    machine: Machine, tmp_path: Path
) -> None:
    host = replace(Host.current(), program=(str(tmp_path / "50%home" / "hygiene"), "run"))
    out = io.StringIO()
    assert service_command("install", host=host, out=out) == 0
    said = out.getvalue().splitlines()
    assert said[0] == f"Wrote {unit_file(machine)}"
    assert said[1].startswith("The page's links are not registered: desktop launchers cannot")
    assert not desktop_file(machine).exists()
    assert not mimeapps(machine).exists()


THEIRS = """# kept by hand
[Default Applications]
text/html=firefox-esr.desktop
x-scheme-handler/https=firefox-esr.desktop;chromium.desktop;

[Added Associations]
x-scheme-handler/hygiene=elsewhere.desktop;
image/png=eog.desktop;
"""


def dotfile(machine: Machine, text: str) -> Path:
    """A mimeapps.list kept as a dotfiles manager keeps it: a link to a file elsewhere."""
    machine.config.mkdir(parents=True)
    kept = machine.home / "dotfiles" / "mimeapps.list"
    kept.parent.mkdir()
    kept.write_text(text)
    mimeapps(machine).symlink_to(kept)
    return kept


def test_install_adds_one_line_to_a_mimeapps_list_and_uninstall_takes_it_back(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    kept = dotfile(machine, THEIRS)
    kept.chmod(0o600)

    assert hygiene("service", "install").code == 0
    assert mimeapps(machine).is_symlink()
    assert kept.read_text() == THEIRS.replace(
        "[Default Applications]\n", f"[Default Applications]\n{MIME}={HANDLER}\n"
    )
    assert kept.stat().st_mode & 0o777 == 0o600
    assert xdg_default(machine) == HANDLER

    assert hygiene("service", "uninstall").code == 0
    assert mimeapps(machine).is_symlink()
    assert kept.read_text() == THEIRS


def test_a_linked_mimeapps_list_left_empty_stays_where_it_is(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    kept = dotfile(machine, "")
    assert hygiene("service", "install").code == 0
    assert kept.read_text() == f"[Default Applications]\n{MIME}={HANDLER}\n"
    assert hygiene("service", "uninstall").code == 0
    assert mimeapps(machine).is_symlink()
    assert kept.read_text() == ""


def test_status_says_when_another_handler_has_the_links(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    assert hygiene("service", "install").code == 0
    mimeapps(machine).write_text(f"[Default Applications]\n{MIME}=other\x1b[2J.desktop\n")
    status = hygiene("service", "status")
    assert (
        f"  Links:     {desktop_file(machine)} is installed, but {mimeapps(machine)} makes "
        f"other\\x1b[2J.desktop the handler of {MIME}"
    ) in status.out.splitlines()

    mimeapps(machine).unlink()
    status = hygiene("service", "status")
    assert (
        f"  Links:     {desktop_file(machine)} is installed, but {mimeapps(machine)} does not "
        f"make it the handler of {MIME}"
    ) in status.out.splitlines()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", f"[Default Applications]\n{MIME}={HANDLER}\n"),
        ("[Default Applications]\n", f"[Default Applications]\n{MIME}={HANDLER}\n"),
        (  # no newline at its end, and none added
            "[Added Associations]\na=b.desktop",
            f"[Added Associations]\na=b.desktop\n\n[Default Applications]\n{MIME}={HANDLER}",
        ),
        (  # the handlers it named stay, after ours: uninstall gives them back
            f"[Default Applications]\na=b.desktop\n{MIME} = old.desktop\n{MIME}=older.desktop\n",
            f"[Default Applications]\n{MIME}={HANDLER};old.desktop;older.desktop\na=b.desktop\n",
        ),
        (  # a byte order mark stays first, and is no part of the section's name
            "\ufeff[Default Applications]\na=b.desktop\n",
            f"\ufeff[Default Applications]\n{MIME}={HANDLER}\na=b.desktop\n",
        ),
    ],
)
def test_the_default_is_set_in_its_section_alone(before: str, after: str) -> None:
    assert with_default(before, MIME, HANDLER) == after
    assert with_default(after, MIME, HANDLER) == after
    assert default_app(after, MIME) == HANDLER


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (f"[Default Applications]\n{MIME}={HANDLER}\n", ""),
        (
            f"[Default Applications]\n{MIME}={HANDLER};b.desktop;\n",
            f"[Default Applications]\n{MIME}=b.desktop;\n",
        ),
        (
            f"[Default Applications]\n{MIME}=b.desktop\n",
            f"[Default Applications]\n{MIME}=b.desktop\n",
        ),
        (f"[Added Associations]\n{MIME}={HANDLER}\n", f"[Added Associations]\n{MIME}={HANDLER}\n"),
        # The section install made, left empty, goes with our line.
        (f"# mine\n\n[Default Applications]\n{MIME}={HANDLER}\n", "# mine\n"),
    ],
)
def test_uninstall_takes_only_its_own_entry(before: str, after: str) -> None:
    assert without_default(before, MIME, HANDLER) == after


def test_a_mimeapps_list_that_is_no_file_is_one_sentence_and_never_opened(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    machine.config.mkdir(parents=True)
    os.mkfifo(mimeapps(machine))  # opened, it would block the install for ever
    outcome = hygiene("service", "install")
    assert outcome.code == 0  # the service is installed; only the links are not
    assert (
        f"Note: the page's links are not registered: cannot read {mimeapps(machine)}: "
        "not a regular file\n"
    ) in outcome.out


def test_every_other_byte_of_a_mimeapps_list_stays_as_it_was(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    # Windows line ends, a form feed inside a comment (which str.splitlines would end the
    # comment at, making the rest a live line), a byte that is not UTF-8.
    theirs = b"[Default Applications]\r\ntext/html=firefox.desktop\r\n# a\x0cb\r\nx=\xff\r\n"
    machine.config.mkdir(parents=True)
    mimeapps(machine).write_bytes(theirs)
    assert hygiene("service", "install").code == 0
    assert mimeapps(machine).read_bytes() == theirs.replace(
        b"Applications]\r\n", f"Applications]\r\n{MIME}={HANDLER}\r\n".encode()
    )
    assert hygiene("service", "uninstall").code == 0
    assert mimeapps(machine).read_bytes() == theirs


@pytest.mark.parametrize("kind", ["a symbolic link loop", "a folder", "UTF-16"])
def test_a_mimeapps_list_that_cannot_be_edited_leaves_the_service_installed(
    machine: Machine, hygiene: Callable[..., Outcome], kind: str
) -> None:
    machine.config.mkdir(parents=True)
    if kind == "a symbolic link loop":
        mimeapps(machine).symlink_to("mimeapps.list")
    elif kind == "a folder":
        mimeapps(machine).mkdir()
    else:
        mimeapps(machine).write_bytes("[Default Applications]\n".encode("utf-16"))
    before = os.path.lexists(mimeapps(machine)) and mimeapps(machine).is_dir()
    done = hygiene("service", "install")
    assert done.code == 0, done.err
    assert "Traceback" not in done.out + done.err
    assert "Note: the page's links are not registered: " in done.out
    assert unit_file(machine).exists() and desktop_file(machine).exists()
    gone = hygiene("service", "uninstall")
    assert gone.code == 0, gone.err
    assert "Traceback" not in gone.out + gone.err
    assert not unit_file(machine).exists()
    assert mimeapps(machine).is_dir() == before


@pytest.mark.parametrize(
    "theirs",
    [
        b"[Added Associations]\na=b.desktop",  # no newline at its end
        b"\xef\xbb\xbf[Default Applications]\ntext/html=firefox.desktop\n",  # a byte order mark
        f"[Default Applications]\n{MIME}=other.desktop;\n".encode(),  # another handler
    ],
    ids=["no final newline", "byte order mark", "another handler"],
)
def test_install_then_uninstall_gives_back_the_file_as_it_was(
    machine: Machine, hygiene: Callable[..., Outcome], theirs: bytes
) -> None:
    machine.config.mkdir(parents=True)
    mimeapps(machine).write_bytes(theirs)
    assert hygiene("service", "install").code == 0
    assert xdg_default(machine) == HANDLER
    assert hygiene("service", "uninstall").code == 0
    assert mimeapps(machine).read_bytes() == theirs


def test_a_mimeapps_list_with_cr_alone_is_a_note_and_left_as_it_was(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    theirs = b"[Default Applications]\rtext/html=firefox.desktop\r"
    machine.config.mkdir(parents=True)
    mimeapps(machine).write_bytes(theirs)
    for argv in (["install", "--dry-run"], ["install"], ["uninstall", "--dry-run"], ["uninstall"]):
        done = hygiene("service", *argv)
        assert done.code == 0, (argv, done.err)
        assert "the page's links would not be registered" in done.out or (
            "the page's links are not registered" in done.out
        ), (argv, done.out)
    assert mimeapps(machine).read_bytes() == theirs
