"""The KDE and Xfce settings readers, checked against the real tools that write and read them.

KDE: kwriteconfig5 writes the person's files; system files are written by hand, as an admin
or a distribution ships them, into a private $XDG_CONFIG_DIRS. Every value the reader returns
is compared with what kreadconfig5 answers for the same key: as text, as a flag (`--type
bool`, whose answer is the exit status) and as a number (`--type int`, whose answer is the
exit status too, so only its low 8 bits can be compared).

Xfce: xfconf-query writes through xfconfd, which D-Bus activation starts on a private session
bus whose environment points $XDG_CONFIG_HOME and $XDG_CONFIG_DIRS into the test's folder.
xfconfd writes its XML on a 5-second timer or when it exits, so the test stops it (SIGTERM to
the process the bus names as the owner of org.xfce.Xfconf) and waits for it to be gone. Every
property the reader returns is then compared with `xfconf-query -c CH -p PROP` (a new xfconfd
reading the files afresh), the set of them with `xfconf-query -c CH -l`, and whether each is
locked with xfconfd's own IsPropertyLocked.
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
from jeepney.wrappers import (  # type: ignore[import-untyped]
    DBusAddress,
    new_method_call,
    unwrap_msg,
)

from agent.errors import ProbeUnavailable
from agent.probes import SettingValue, kconfig, xfconf
from tests.conftest import as_nobody, require_tool

TIMEOUT = 30.0
UNSET = "<hygiene-test: not set>"
XFCONF = "org.xfce.Xfconf"
XFCONF_OBJECT = DBusAddress("/org/xfce/Xfconf", bus_name=XFCONF, interface=XFCONF)
PER_CHANNEL = Path("xfce4") / "xfconf" / "xfce-perchannel-xml"


def _die_with_parent() -> None:
    """Runs in the child before exec: if pytest itself is killed, the kernel ends the child."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait(what: str, done: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.02)


def _assert_one_sentence(err: ProbeUnavailable, shown: str) -> str:
    message = str(err)
    assert shown in message, message
    assert "\n" not in message and message.endswith("."), message
    assert "Traceback" not in message
    assert err.__cause__ is None, "the OSError behind it must not be chained into logs"
    return message


# -- KDE -----------------------------------------------------------------------------------


@dataclass
class Kde:
    """A home folder and two system folders, with kwriteconfig5 and kreadconfig5 pointed there."""

    root: Path
    kwriteconfig: str
    kreadconfig: str

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def config(self) -> Path:
        return self.home / ".config"

    @property
    def system_high(self) -> Path:
        return self.root / "etc-xdg-high"

    @property
    def system_low(self) -> Path:
        return self.root / "etc-xdg-low"

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_CONFIG_DIRS": f"{self.system_high}:{self.system_low}",
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "LC_ALL": "C.UTF-8",  # kreadconfig5 prints in the locale's encoding
            "QT_QPA_PLATFORM": "offscreen",
        }

    def read(self, name: str) -> kconfig.KConfig:
        return kconfig.read(name, self.env)

    def write(
        self,
        name: str,
        group: str,
        key: str,
        value: str,
        kind: str | None = None,
        *,
        ok: bool = True,
    ) -> None:
        """kwriteconfig5, as a person's settings dialog or a script writes a value; `ok`: whether
        it should succeed."""
        argv = [self.kwriteconfig, "--file", name, *_groups(group), "--key", key]
        if kind:
            argv += ["--type", kind]
        done = self._run([*argv, "--", value], check=ok)
        assert ok or done.returncode != 0, "kwriteconfig5 wrote where KDE should refuse"

    def system_file(self, name: str, text: str, *, high: bool = False) -> Path:
        path = (self.system_high if high else self.system_low) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def user_file(self, name: str, text: str | bytes) -> Path:
        path = self.config / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def kde_text(self, name: str, group: str, key: str) -> str | None:
        done = self._run([*self._read_argv(name, group, key), "--default", UNSET], check=True)
        assert done.stdout.endswith("\n")
        text = done.stdout[:-1]
        return None if text == UNSET else text

    def kde_bool(self, name: str, group: str, key: str) -> bool | None:
        """What KDE reads as a flag; None when it falls back to the default (not set)."""
        argv = [*self._read_argv(name, group, key), "--type", "bool", "--default"]
        when_true = self._run([*argv, "true"]).returncode == 0
        when_false = self._run([*argv, "false"]).returncode == 0
        return None if when_true != when_false else when_true

    def kde_int_low_byte(self, name: str, group: str, key: str) -> int | None:
        """The low 8 bits of the number KDE reads (an exit status holds no more); None when
        KDE falls back to the default."""
        argv = [*self._read_argv(name, group, key), "--type", "int", "--default"]
        answers = {self._run([*argv, str(default)]).returncode for default in (7, 9)}
        return answers.pop() if len(answers) == 1 else None

    def assert_agrees(self, name: str, group: str, key: str) -> kconfig.KConfig:
        """The reader and KDE give the same text, flag and number for this key."""
        ours = self.read(name)
        where = f"{name} [{group}] {key}"
        assert ours.get(group, key) == self.kde_text(name, group, key), where
        assert ours.boolean(group, key) == self.kde_bool(name, group, key), where
        number = ours.integer(group, key)
        low_byte = None if number is None else number & 0xFF
        assert low_byte == self.kde_int_low_byte(name, group, key), where
        return ours

    def _read_argv(self, name: str, group: str, key: str) -> list[str]:
        return [self.kreadconfig, "--file", name, *_groups(group), "--key", key]

    def _run(self, argv: Sequence[str], *, check: bool = False) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, env=self.env, capture_output=True, timeout=TIMEOUT, check=False)
        # Decoded by hand: text mode would turn a "\r" in a value into "\n".
        out, err = done.stdout.decode(), done.stderr.decode(errors="replace")
        if check and done.returncode != 0:
            pytest.fail(f"{argv[0]} failed ({done.returncode}): {err}")
        return subprocess.CompletedProcess(done.args, done.returncode, out, err)


def _groups(group: str) -> list[str]:
    argv: list[str] = []
    for part in group.split("][") if group else ["<default>"]:
        argv += ["--group", part]
    return argv


@pytest.fixture
def kde(tmp_path: Path) -> Kde:
    tools = Kde(tmp_path, require_tool("kwriteconfig5"), require_tool("kreadconfig5"))
    tools.config.mkdir(parents=True)
    (tmp_path / "run").mkdir(mode=0o700)
    return tools


def test_kscreenlocker_as_kwriteconfig5_writes_it(kde: Kde) -> None:
    kde.write("kscreenlockerrc", "Daemon", "Autolock", "false")
    kde.write("kscreenlockerrc", "Daemon", "Timeout", "7")
    kde.write("kscreenlockerrc", "Daemon", "LockOnResume", "true", kind="bool")
    kde.write("kscreenlockerrc", "Daemon", "LockGrace", "30")

    for key in ("Autolock", "Timeout", "LockOnResume", "LockGrace", "NotThere"):
        kde.assert_agrees("kscreenlockerrc", "Daemon", key)
    found = kde.read("kscreenlockerrc")
    assert found.boolean("Daemon", "Autolock") is False
    assert found.integer("Daemon", "Timeout") == 7
    assert found.boolean("Daemon", "LockOnResume") is True
    assert found.integer("Daemon", "LockGrace") == 30
    assert found.get("Daemon", "NotThere") is None
    assert found.get("Other", "Timeout") is None
    assert found.sources == ("~/.config/kscreenlockerrc",)


@pytest.mark.parametrize(
    ("written", "stored"), [("on", True), ("yes", True), ("1", True), ("off", False), ("0", False)]
)
def test_kwriteconfig5_type_bool(kde: Kde, written: str, stored: bool) -> None:
    kde.write("kscreenlockerrc", "Daemon", "Autolock", written, kind="bool")

    # kwriteconfig5 --type bool stores the word KDE itself writes for a flag.
    assert (kde.config / "kscreenlockerrc").read_text().splitlines()[1] == (
        f"Autolock={'true' if stored else 'false'}"
    )
    assert (
        kde.assert_agrees("kscreenlockerrc", "Daemon", "Autolock").boolean("Daemon", "Autolock")
        is stored
    )


def test_system_defaults_under_the_person_s_file(kde: Kde) -> None:
    low = kde.system_file(
        "kscreenlockerrc",
        "[Daemon]\nAutolock=true\nTimeout=15\nLockGrace=5\nLockOnResume=true\n",
    )
    high = kde.system_file("kscreenlockerrc", "[Daemon]\nTimeout=10\n", high=True)
    kde.write("kscreenlockerrc", "Daemon", "LockOnResume", "false", kind="bool")

    for key in ("Autolock", "Timeout", "LockGrace", "LockOnResume"):
        kde.assert_agrees("kscreenlockerrc", "Daemon", key)
    found = kde.read("kscreenlockerrc")
    assert found.integer("Daemon", "Timeout") == 10  # the first system folder wins
    assert found.integer("Daemon", "LockGrace") == 5
    assert found.boolean("Daemon", "LockOnResume") is False  # the person's file wins
    assert found.sources == (str(low), str(high), "~/.config/kscreenlockerrc")

    kde.write("kscreenlockerrc", "Daemon", "Timeout", "3")
    assert (
        kde.assert_agrees("kscreenlockerrc", "Daemon", "Timeout").integer("Daemon", "Timeout") == 3
    )


def test_immutable_group_holds_against_the_person_s_file(kde: Kde) -> None:
    kde.system_file("kscreenlockerrc", "[Daemon][$i]\nAutolock=true\nTimeout=5\n")
    # A file the person (or a tool that ignores the lock) wrote by hand.
    kde.user_file("kscreenlockerrc", "[Daemon]\nAutolock=false\nTimeout=60\nLockGrace=99\n")
    # KDE's own writer refuses to write into an immutable group.
    kde.write("kscreenlockerrc", "Daemon", "LockOnResume", "false", ok=False)

    for key in ("Autolock", "Timeout", "LockGrace", "LockOnResume"):
        kde.assert_agrees("kscreenlockerrc", "Daemon", key)
    found = kde.read("kscreenlockerrc")
    assert found.boolean("Daemon", "Autolock") is True
    assert found.integer("Daemon", "Timeout") == 5
    assert found.get("Daemon", "LockGrace") is None  # not even new keys
    assert found.get("Daemon", "LockOnResume") is None
    assert "LockOnResume" not in (kde.config / "kscreenlockerrc").read_text()


def test_immutable_keys_groups_and_files(kde: Kde) -> None:
    kde.system_file(
        "testrc",
        "[Keys]\nLocked[$i]=admin\nLocked=admin-again\nFree=admin\n"
        "[Outer][$i]\nKey=admin\nFirst=one\nFirst=two\n"
        "[Outer][Inner]\nKey=admin\n"
        "[Gone]\nKey=admin\n",
    )
    kde.system_file(
        "testrc", "[Keys]\nLocked=higher\nFree=higher\n[Outer]\nNew=higher\n", high=True
    )
    kde.user_file(
        "testrc",
        "[Keys]\nLocked=person\nFree=person\n[Outer]\nKey=person\nFirst=person\n"
        "[Outer][Inner]\nKey=person\n[Gone]\nKey[$d]\n",
    )

    cases = [
        ("Keys", "Locked", "admin"),  # a locked key: neither a higher system file nor the person
        ("Keys", "Free", "person"),
        ("Outer", "Key", "admin"),
        ("Outer", "First", "one"),  # in a locked group the first copy wins
        ("Outer", "New", None),  # a locked group takes no new keys, from any file
        ("Outer][Inner", "Key", "person"),  # a sub-group is not locked with its parent
        ("Gone", "Key", None),  # [$d]: deleted
    ]
    for group, key, value in cases:
        assert kde.assert_agrees("testrc", group, key).get(group, key) == value, (group, key)

    # [$i] alone on a line: no file after this one is read at all.
    kde.system_file("wholerc", "[$i]\n[Daemon]\nTimeout=5\n")
    kde.system_file("wholerc", "[Daemon]\nLockGrace=4\n", high=True)
    kde.user_file("wholerc", "[Daemon]\nTimeout=60\nAutolock=false\n")
    for key in ("Timeout", "LockGrace", "Autolock"):
        kde.assert_agrees("wholerc", "Daemon", key)
    whole = kde.read("wholerc")
    assert (whole.integer("Daemon", "Timeout"), whole.get("Daemon", "Autolock")) == (5, None)
    assert whole.sources == (str(kde.system_low / "wholerc"),)


def test_nested_groups(kde: Kde) -> None:
    kde.write("nestedrc", "Outer][Inner", "Key", "inner")
    kde.write("nestedrc", "Outer][Inner][Deepest", "Key", "deepest")
    kde.write("nestedrc", "Outer", "Key", "outer")
    kde.write("nestedrc", "", "Key", "top")  # the group before any header
    kde.write("nestedrc", "a]b", "k=ey", "odd")  # kwriteconfig5 escapes these as \x5d, \x3d

    text = (kde.config / "nestedrc").read_text()
    assert "[Outer][Inner][Deepest]" in text and "[a\\x5db]" in text
    for group, key, value in [
        ("Outer][Inner", "Key", "inner"),
        ("Outer][Inner][Deepest", "Key", "deepest"),
        ("Outer", "Key", "outer"),
        ("", "Key", "top"),
        ("<default>", "Key", "top"),
        ("a]b", "k=ey", "odd"),
        ("Inner", "Key", None),
    ]:
        assert kde.assert_agrees("nestedrc", group, key).get(group, key) == value, (group, key)


@pytest.mark.parametrize(
    "value",
    [
        "  leading and trailing  ",
        "tab\there",
        "two\nlines\r\n",
        "back\\slash \\s not an escape",
        "semi;colon,comma",
        "café ünïcödé ✓",
        "[brackets] = equals # hash",
        "",
    ],
)
def test_escapes_round_trip_through_kwriteconfig5(kde: Kde, value: str) -> None:
    kde.write("escapesrc", "Values", "Key", value)

    found = kde.assert_agrees("escapesrc", "Values", "Key")
    assert found.get("Values", "Key") == value


def test_escapes_written_by_hand(kde: Kde) -> None:
    kde.user_file(
        "handrc",
        "[Values]\n"
        "Spaces=\\s padded \\s\n"
        "Controls=a\\tb\\nc\\rd\n"
        "Backslash=a\\\\b\n"
        "Kept=a\\;b\\,c\n"
        "Hex=\\x41\\x62\\xc3\\xa9\n"
        "BadHex=a\\x4g b\n"
        "ShortHex=a\\x4\n"
        "Unknown=a\\qb\n"
        "Trailing=ab\\\n"
        "[Sp\\x61ce\\sd]\n"
        "Key=group names are unescaped too\n",
    )

    for key, value in [
        ("Spaces", "  padded  "),
        ("Controls", "a\tb\nc\rd"),
        ("Backslash", "a\\b"),
        ("Kept", "a\\;b\\,c"),  # KDE leaves these for its list reader
        ("Hex", "Abé"),
        ("BadHex", "ax b"),
        ("ShortHex", "ax"),
        ("Unknown", "a\\b"),
        ("Trailing", "ab"),
    ]:
        assert kde.assert_agrees("handrc", "Values", key).get("Values", key) == value, key
    assert kde.assert_agrees("handrc", "Space d", "Key").get("Space d", "Key") is not None


def test_comments_duplicates_locales_and_broken_lines(kde: Kde) -> None:
    kde.system_file("linesrc", "[Daemon]\nTimeout[de]=99\nAutolock=true\n")
    kde.user_file(
        "linesrc",
        "# a comment\n"
        "\n"
        "   [Daemon]   \n"
        "Timeout=1\n"
        "  Timeout  =  2  \n"
        "#Timeout=3\n"
        ";Comment=not a comment to KDE\n"
        "LockGrace[de]=40\n"
        "LockGrace=4\n"
        "Autolock[fr]=false\n"
        "no equals sign\n"
        "=no key\n"
        "Two[de][fr]=locales\n"
        "[Broken\n"
        "AfterBroken=still in Daemon\n"
        "[Other] trailing words\n"
        "Key=other\n",
    )

    for group, key, value in [
        ("Daemon", "Timeout", "2"),  # the last copy wins; keys and values are trimmed
        (
            "Daemon",
            ";Comment",
            "not a comment to KDE",
        ),
        ("Daemon", "LockGrace", "4"),  # the localized entries are passed over
        ("Daemon", "Autolock", "true"),
        ("Daemon", "Two", None),
        ("Daemon", "AfterBroken", "still in Daemon"),
        ("Other", "Key", "other"),
    ]:
        assert kde.assert_agrees("linesrc", group, key).get(group, key) == value, key


def test_expansion_marker_is_read_literally(kde: Kde) -> None:
    kde.user_file("expandrc", "[Paths]\nWhere[$e]=$HOME/x\n")

    # The documented difference: KDE expands $HOME from its own environment; the agent
    # reports what the file says.
    assert kde.read("expandrc").get("Paths", "Where") == "$HOME/x"
    assert kde.kde_text("expandrc", "Paths", "Where") == f"{kde.home}/x"


@pytest.mark.parametrize(
    "value",
    ["true", "TRUE", "on", "Yes", "1", "false", "False", "OFF", "no", "0", "maybe", "", "2"],
)
def test_flags_as_kde_reads_them(kde: Kde, value: str) -> None:
    kde.user_file("flagsrc", f"[Daemon]\nAutolock={value}\n")

    found = kde.assert_agrees("flagsrc", "Daemon", "Autolock")
    assert found.boolean("Daemon", "Autolock") is (value.lower() not in {"false", "off", "no", "0"})


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("300", 300),
        ("+5", 5),
        ("-3", -3),
        ("010", 10),
        ("0x10", None),
        ("1e3", None),
        ("5 minutes", None),
        ("", None),
        ("\\s12\\s", 12),
        ("99999999999", 99999999999 % 2**32),  # Qt keeps the low 32 bits
        ("4294967297", 1),
        ("99999999999999999999", None),
    ],
)
def test_numbers_as_kde_reads_them(kde: Kde, value: str, number: int | None) -> None:
    kde.user_file("numbersrc", f"[Daemon]\nTimeout={value}\n")

    assert kde.assert_agrees("numbersrc", "Daemon", "Timeout").integer("Daemon", "Timeout") == (
        number
    )


def test_missing_files_are_empty_and_xdg_defaults(kde: Kde) -> None:
    found = kde.read("kscreenlockerrc")
    assert (found.sources, dict(found.entries)) == ((), {})

    kde.user_file("kscreenlockerrc", "[Daemon]\nTimeout=4\n")
    plain = {"HOME": str(kde.home)}  # no XDG variables: ~/.config and /etc/xdg
    assert kconfig.read("kscreenlockerrc", plain).integer("Daemon", "Timeout") == 4
    assert kconfig.config_dirs(plain) == [Path("/etc/xdg")]
    relative = {"HOME": str(kde.home), "XDG_CONFIG_HOME": "rel", "XDG_CONFIG_DIRS": "a::/b"}
    assert kconfig.config_home(relative) == kde.config
    assert kconfig.config_dirs(relative) == [Path("/b")]


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../secret", "a/../../b"])
def test_names_that_are_not_kde_files(kde: Kde, name: str) -> None:
    with pytest.raises(ProbeUnavailable, match="is not the name of a KDE settings file"):
        kde.read(name)


# -- files that cannot be read: shared by both readers ---------------------------------------


def _huge(path: Path, kind: str) -> None:
    padding = "#" * (2 * 1024 * 1024) if kind == "kde" else f"<!-- {'x' * 2 * 1024 * 1024} -->"
    head = "[Daemon]\nTimeout=5\n" if kind == "kde" else '<channel name="c" version="1.0">'
    tail = "" if kind == "kde" else "</channel>"
    path.write_text(f"{head}{padding}\n{tail}")


def _binary(path: Path, kind: str) -> None:
    path.write_bytes(b"[Daemon]\nTimeout=\x00\x01\x02\x03\xff\n" if kind == "kde" else b"\x00" * 64)


def _not_utf8(path: Path, kind: str) -> None:
    text = "[Daemon]\nName=café\n" if kind == "kde" else '<channel name="café" version="1.0"/>'
    path.write_bytes(text.encode("latin-1"))


def _folder(path: Path, kind: str) -> None:
    path.mkdir()


def _fifo(path: Path, kind: str) -> None:
    os.mkfifo(path)


def _loop(path: Path, kind: str) -> None:
    path.symlink_to(path.name)


BAD_FILES: dict[str, tuple[Callable[[Path, str], None], str]] = {
    "huge": (_huge, "larger than 1 MiB"),
    "binary": (_binary, "binary file"),
    "not-utf8": (_not_utf8, "not UTF-8 text"),
    "folder": (_folder, "is a folder"),
    "fifo": (_fifo, "not a regular file"),
    "symlink-loop": (_loop, "symbolic link loop"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_kde_files_that_cannot_be_read(kde: Kde, case: str) -> None:
    make, reason = BAD_FILES[case]
    make(kde.config / "kscreenlockerrc", "kde")

    with pytest.raises(ProbeUnavailable) as caught:
        kde.read("kscreenlockerrc")
    message = _assert_one_sentence(caught.value, "~/.config/kscreenlockerrc")
    assert reason in message


@pytest.mark.parametrize("case", ["folder", "binary"])
def test_kde_system_files_that_cannot_be_read(kde: Kde, case: str) -> None:
    make, reason = BAD_FILES[case]
    kde.system_high.mkdir()
    make(kde.system_high / "kscreenlockerrc", "kde")

    with pytest.raises(ProbeUnavailable) as caught:
        kde.read("kscreenlockerrc")
    assert reason in _assert_one_sentence(caught.value, str(kde.system_high / "kscreenlockerrc"))


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder outside pytest's 0700 one, so that another user can reach files inside."""
    folder = Path(tempfile.mkdtemp(prefix="hygiene-unreadable-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _read_unreadable(module: str, name: str, env: dict[str, str]) -> str:
    """What the reader says of a file it has no permission to read. Root reads anything, so
    as root the reading happens in a forked child that has become nobody first."""
    reader = kconfig.read if module == "kconfig" else xfconf.read

    def attempt() -> str:
        try:
            reader(name, env)
        except ProbeUnavailable as err:
            return str(err)
        except Exception as err:  # noqa: BLE001 - reported to the parent as the failure
            return f"crashed: {type(err).__name__}: {err}"
        return "read"

    return as_nobody(attempt)


def _open_tree(root: Path, file: Path) -> None:
    """Every folder from `root` down to `file` reachable by others; the file itself not."""
    for folder in [root, *[p for p in file.parents if root in p.parents]]:
        folder.chmod(0o755)
    file.chmod(0o000)


def test_kde_file_without_permission(open_folder: Path) -> None:
    home = open_folder / "home"
    path = home / ".config" / "kscreenlockerrc"
    path.parent.mkdir(parents=True)
    path.write_text("[Daemon]\nTimeout=5\n")
    _open_tree(open_folder, path)
    env = {"HOME": str(home), "XDG_CONFIG_DIRS": str(open_folder / "none")}

    said = _read_unreadable("kconfig", "kscreenlockerrc", env)
    assert said == "~/.config/kscreenlockerrc could not be read: permission denied."


# -- Xfce ----------------------------------------------------------------------------------


@dataclass
class Xfce:
    """xfconfd on a private session bus, with its folders inside the test's."""

    root: Path
    xfconf_query: str
    dbus_daemon: str
    address: str = ""
    _bus: subprocess.Popen[bytes] | None = None
    _logs: list[Path] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def config(self) -> Path:
        return self.home / ".config"

    @property
    def system_high(self) -> Path:
        return self.root / "etc-xdg-high"

    @property
    def system_low(self) -> Path:
        return self.root / "etc-xdg-low"

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_CONFIG_DIRS": f"{self.system_high}:{self.system_low}",
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_DATA_DIRS": "/usr/local/share:/usr/share",  # where the service file is
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "LANG": "C.UTF-8",
        }

    # -- the bus and xfconfd --

    def start(self) -> None:
        log = (self.root / "dbus-daemon.log").open("ab")
        with log:
            self._bus = subprocess.Popen(
                [self.dbus_daemon, "--session", "--nofork", "--print-address=1"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        assert self._bus.stdout is not None
        ready, _, _ = select.select([self._bus.stdout], [], [], TIMEOUT)
        line = self._bus.stdout.readline().decode().strip() if ready else ""
        if not line:
            pytest.fail(f"dbus-daemon did not start: {self._log_tail()}")
        self.address = line

    def close(self) -> None:
        if self._bus is None:
            return
        try:
            self.flush()
        finally:
            self._bus.terminate()
            try:
                self._bus.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._bus.kill()
                self._bus.wait(timeout=10)
            if self._bus.stdout:
                self._bus.stdout.close()
            self._bus = None

    def _call(self, message: Any) -> Any:
        with open_dbus_connection(bus=self.address, auth_timeout=5) as connection:
            return unwrap_msg(connection.send_and_get_reply(message, timeout=10))

    def flush(self) -> None:
        """Stop xfconfd, which writes every changed channel as it exits."""
        if not self._call(message_bus.NameHasOwner(XFCONF))[0]:
            return
        pid = int(self._call(message_bus.GetConnectionUnixProcessID(XFCONF))[0])
        os.kill(pid, signal.SIGTERM)

        def gone() -> bool:
            try:
                # A zombie has exited (and written its files); its parent reaps it later.
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:
                return True
            return stat.rpartition(")")[2].split()[0] == "Z"

        _wait("xfconfd exiting", gone)
        _wait(
            "xfconfd leaving the bus", lambda: not self._call(message_bus.NameHasOwner(XFCONF))[0]
        )

    def _log_tail(self) -> str:
        path = self.root / "dbus-daemon.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    # -- xfconf-query --

    def query(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.xfconf_query, *args],
            env={**self.env, "DBUS_SESSION_BUS_ADDRESS": self.address},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def write(self, channel: str, prop: str, *typed: tuple[str, str]) -> None:
        """xfconf-query -c CHANNEL -p PROP -n -t TYPE -s VALUE [-t TYPE -s VALUE ...]."""
        argv = ["-c", channel, "-p", prop, "-n"]
        for kind, _ in typed:
            argv += ["-t", kind]
        for _, value in typed:
            argv += ["-s", value]
        done = self.query(*argv)
        if done.returncode != 0:
            pytest.fail(f"xfconf-query {' '.join(argv)} failed: {done.stderr}{self._log_tail()}")

    def shown(self, channel: str, prop: str) -> str | None:
        done = self.query("-c", channel, "-p", prop)
        if done.returncode != 0:
            assert "does not exist" in done.stderr, done.stderr
            return None
        assert done.stdout.endswith("\n")
        return done.stdout[:-1]

    def listed(self, channel: str) -> set[str]:
        done = self.query("-c", channel, "-l")
        return {line for line in done.stdout.splitlines() if line.startswith("/")}

    def is_locked(self, channel: str, prop: str) -> bool:
        message = new_method_call(XFCONF_OBJECT, "IsPropertyLocked", "ss", (channel, prop))
        return bool(self._call(message)[0])

    # -- files --

    def system_file(self, channel: str, xml: str, *, high: bool = False) -> Path:
        path = (self.system_high if high else self.system_low) / PER_CHANNEL / f"{channel}.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(xml, encoding="utf-8")
        return path

    def user_path(self, channel: str) -> Path:
        return self.config / PER_CHANNEL / f"{channel}.xml"

    def user_file(self, channel: str, xml: str | bytes) -> Path:
        path = self.user_path(channel)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(xml, bytes):
            path.write_bytes(xml)
        else:
            path.write_text(xml, encoding="utf-8")
        return path

    def read(self, channel: str) -> xfconf.Channel:
        return xfconf.read(channel, self.env)

    def assert_agrees(self, channel: str) -> xfconf.Channel:
        """The reader and xfconfd (started afresh on the files) see the same channel."""
        self.flush()
        ours = self.read(channel)
        assert set(ours) == self.listed(channel)
        for prop, value in ours.items():
            assert _as_xfconf_query_prints(value) == self.shown(channel, prop), prop
            assert ours.is_locked(prop) == self.is_locked(channel, prop), prop
        return ours


def _as_xfconf_query_prints(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:f}"
    if isinstance(value, tuple):
        items = "".join(f"{item}\n" for item in value)
        return f"Value is an array with {len(value)} items:\n\n{items}"[:-1]
    return str(value)


def _require_runs(tool: str, *args: str) -> None:
    """Skip (or fail in CI) when an installed tool cannot run, e.g. a missing library."""
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode == 0:
        return
    message = f"{tool} does not run here: {done.stderr.strip()}"
    if os.environ.get("HYGIENE_REQUIRE_REAL") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def xfce(tmp_path: Path) -> Iterator[Xfce]:
    query = require_tool("xfconf-query")
    _require_runs(query, "--version")
    session = Xfce(tmp_path, query, require_tool("dbus-daemon"))
    session.config.mkdir(parents=True)
    (tmp_path / "run").mkdir(mode=0o700)
    session.start()
    try:
        yield session
    finally:
        session.close()


def channel_xml(channel: str, body: str, attributes: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<channel name="{channel}" version="1.0"{attributes}>\n{body}\n</channel>\n'
    )


def test_screensaver_and_power_manager_written_by_xfconf_query(xfce: Xfce) -> None:
    xfce.write("xfce4-screensaver", "/saver/enabled", ("bool", "true"))
    xfce.write("xfce4-screensaver", "/saver/idle-activation/delay", ("int", "5"))
    xfce.write("xfce4-screensaver", "/lock/enabled", ("bool", "false"))
    xfce.write("xfce4-screensaver", "/lock/saver-activation/delay", ("int", "2"))
    xfce.write(
        "xfce4-power-manager",
        "/xfce4-power-manager/lock-screen-suspend-hibernate",
        ("bool", "true"),
    )

    saver = xfce.assert_agrees("xfce4-screensaver")
    assert saver.get("/saver/enabled") is True
    assert saver.get("/saver/idle-activation/delay") == 5
    assert saver.get("/lock/enabled") is False
    assert saver.get("/lock/saver-activation/delay") == 2
    assert saver.get("/saver") is None  # a branch, not a value
    assert saver.sources[-1] == "~/.config/xfce4/xfconf/xfce-perchannel-xml/xfce4-screensaver.xml"
    power = xfce.assert_agrees("xfce4-power-manager")
    assert power.get("/xfce4-power-manager/lock-screen-suspend-hibernate") is True

    xfce.write("xfce4-screensaver", "/saver/idle-activation/delay", ("int", "15"))
    assert xfce.assert_agrees("xfce4-screensaver").get("/saver/idle-activation/delay") == 15


def test_types_written_by_xfconf_query(xfce: Xfce) -> None:
    channel = "hygiene-test-types"
    xfce.write(channel, "/string", ("string", "a & b < \"c\" > 'd' ünï"))
    xfce.write(channel, "/empty-string", ("string", ""))
    xfce.write(channel, "/double", ("double", "1.5"))
    xfce.write(channel, "/negative", ("int", "-7"))
    xfce.write(channel, "/uint", ("uint", "4294967295"))
    xfce.write(channel, "/uint64", ("uint64", "18446744073709551615"))
    xfce.write(channel, "/int64", ("int64", "-9223372036854775808"))
    xfce.write(channel, "/array", ("string", "one"), ("int", "2"), ("bool", "true"))

    found = xfce.assert_agrees(channel)
    assert found == {
        "/string": "a & b < \"c\" > 'd' ünï",
        "/empty-string": "",
        "/double": 1.5,
        "/negative": -7,
        "/uint": 4294967295,
        "/uint64": 18446744073709551615,
        "/int64": -9223372036854775808,
        "/array": ("one", "2", "true"),
    }
    assert not found.locked and not found.channel_locked


def _me() -> tuple[str, str]:
    """This user's name and primary group, as xfconfd (running as this user) sees them."""
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def test_system_defaults_and_property_locks(xfce: Xfce) -> None:
    channel = "hygiene-test-locks"
    me, my_group = _me()
    other = "nobody" if me != "nobody" else "root"
    xfce.system_file(
        channel,
        channel_xml(
            channel,
            '  <property name="lock" type="empty">\n'
            f'    <property name="enabled" type="bool" value="true" locked="{other};{me}"/>\n'
            '    <property name="delay" type="int" value="10"/>\n'
            "  </property>\n"
            '  <property name="star" type="int" value="1" locked="*"/>\n'
            f'  <property name="someone-else" type="int" value="1" locked="{other}"/>\n'
            f'  <property name="all-but-other" type="int" value="1" unlocked="{other}"/>\n'
            f'  <property name="primary-group" type="int" value="1" locked="@{my_group}"/>\n'
            '  <property name="low-only" type="int" value="1"/>',
        ),
    )
    xfce.system_file(
        channel,
        channel_xml(
            channel,
            '  <property name="lock" type="empty">'
            '<property name="delay" type="int" value="20"/></property>',
        ),
        high=True,
    )
    # Written before the admin's lock (or by hand): the person's values for everything.
    body = "\n".join(
        f'  <property name="{name}" type="int" value="2"/>'
        for name in ("star", "someone-else", "all-but-other", "primary-group")
    )
    xfce.user_file(
        channel,
        channel_xml(
            channel,
            '  <property name="lock" type="empty">'
            '<property name="enabled" type="bool" value="false"/></property>\n' + body,
        ),
    )

    found = xfce.assert_agrees(channel)
    assert found.get("/lock/enabled") is True  # locked for this user: their false is passed over
    assert found.is_locked("/lock/enabled")
    assert found.get("/all-but-other") == 1
    assert found.get("/lock/delay") == 20  # the first system folder wins
    assert found.get("/low-only") == 1
    assert found.get("/someone-else") == 2
    assert found.get("/star") == 2  # "*" is no wildcard to xfconfd
    if me not in grp.getgrgid(os.getgid()).gr_mem:
        assert found.get("/primary-group") == 2  # only listed members count, not a primary group
    assert not found.is_locked("/star") and not found.channel_locked

    # xfconfd refuses to change a locked property, as the reader says (xfconf-query itself
    # does not report the refusal).
    xfce.query("-c", channel, "-p", "/lock/enabled", "-s", "false")
    xfce.query("-c", channel, "-p", "/someone-else", "-s", "3")
    after = xfce.assert_agrees(channel)
    assert (after.get("/lock/enabled"), after.get("/someone-else")) == (True, 3)


def test_channel_lock(xfce: Xfce) -> None:
    channel = "hygiene-test-channel-lock"
    low = xfce.system_file(
        channel, channel_xml(channel, '  <property name="before" type="int" value="1"/>')
    )
    high = xfce.system_file(
        channel,
        channel_xml(
            channel, '  <property name="delay" type="int" value="5"/>', f' locked="{_me()[0]}"'
        ),
        high=True,
    )
    xfce.user_file(
        channel, channel_xml(channel, '  <property name="delay" type="int" value="60"/>')
    )

    found = xfce.assert_agrees(channel)
    # The lock drops what lower files said, and the person's file is not read at all.
    assert found == {"/delay": 5}
    assert found.channel_locked and found.is_locked("/anything")
    assert found.sources == (str(low), str(high))
    xfce.query("-c", channel, "-p", "/delay", "-s", "1")
    assert xfce.assert_agrees(channel) == {"/delay": 5}


def test_empty_type_clears_a_system_value_but_not_for_the_person(xfce: Xfce) -> None:
    channel = "hygiene-test-empty"
    xfce.system_file(
        channel,
        channel_xml(
            channel,
            '  <property name="cleared" type="int" value="1"/>\n'
            '  <property name="kept" type="int" value="1"/>',
        ),
    )
    xfce.system_file(
        channel, channel_xml(channel, '  <property name="cleared" type="empty"/>'), high=True
    )
    xfce.user_file(channel, channel_xml(channel, '  <property name="kept" type="empty"/>'))

    assert xfce.assert_agrees(channel) == {"/kept": 1}


def test_values_as_xfconfd_converts_them(xfce: Xfce) -> None:
    channel = "hygiene-test-values"
    xfce.system_file(
        channel,
        channel_xml(
            channel,
            '  <property name="hex" type="int" value="0x10"/>\n'
            '  <property name="octal" type="int" value="010"/>\n'
            '  <property name="spaced" type="int" value=" 7"/>\n'
            '  <property name="uint-minus-zero" type="uint" value="-0"/>\n'
            '  <property name="big" type="int64" value="99999999999999999999"/>\n'
            '  <property name="exponent" type="double" value="2.5e3"/>\n'
            '  <property name="entities" type="string" value="&lt;&amp;&#x41;&quot;"/>\n'
            '  <property name="no-value" type="string"/>\n'
            '  <property name="empty-array" type="array"/>\n'
            '  <property name="branch" type="int" value="3">\n'
            '    <property name="leaf" type="bool" value="true"/>\n'
            "  </property>",
        ),
    )

    assert xfce.assert_agrees(channel) == {
        "/hex": 16,
        "/octal": 8,
        "/spaced": 7,
        "/uint-minus-zero": 0,
        "/big": 2**63 - 1,
        "/exponent": 2500.0,
        "/entities": '<&A"',
        "/no-value": "",
        "/empty-array": (),
        "/branch": 3,
        "/branch/leaf": True,
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # A value that does not parse is kept as its type's zero; the rest of the file is not read.
        (
            '<property name="a" type="int" value="1"/>'
            '<property name="flag" type="bool" value="True"/>'
            '<property name="b" type="int" value="2"/>',
            {"/a": 1, "/flag": False},
        ),
        (
            '<property name="a" type="int" value="1"/><property name="n" type="int" value="5 "/>'
            '<property name="b" type="int" value="2"/>',
            {"/a": 1, "/n": 0},
        ),
        # A lock in the person's file stops the reading there.
        (
            '<property name="a" type="int" value="1"/>'
            '<property name="b" type="int" value="2" locked="root"/>'
            '<property name="c" type="int" value="3"/>',
            {"/a": 1},
        ),
        # An unknown element, attribute or type.
        (
            '<property name="a" type="int" value="1"/><junk/>'
            '<property name="b" type="int" value="2"/>',
            {"/a": 1},
        ),
        ('<property name="a" type="int" value="1" colour="red"/>', {}),
        ('<property name="a" type="list" value="1"/>', {}),
        # xfconfd keeps one "array being filled": after a nested property it has none.
        (
            '<property name="arr" type="array"><value type="string" value="x"/>'
            '<property name="inner" type="int" value="1"/><value type="string" value="y"/>'
            '</property><property name="after" type="int" value="1"/>',
            {"/arr": ("x",), "/arr/inner": 1},
        ),
    ],
)
def test_where_xfconfd_stops_reading(xfce: Xfce, body: str, expected: dict[str, Any]) -> None:
    channel = "hygiene-test-stops"
    xfce.user_file(channel, channel_xml(channel, body))

    assert xfce.assert_agrees(channel) == expected


@pytest.mark.parametrize(
    "xml",
    [
        '<channel name="c" version="2.0"><property name="a" type="int" value="1"/></channel>',
        '<channel name="c"><property name="a" type="int" value="1"/></channel>',
        '<settings><property name="a" type="int" value="1"/></settings>',
        "   \n",
    ],
)
def test_files_xfconfd_ignores(xfce: Xfce, xml: str) -> None:
    channel = "hygiene-test-ignored"
    xfce.user_file(channel, xml)

    found = xfce.assert_agrees(channel)
    assert found == {}
    assert found.sources == (f"~/.config/{PER_CHANNEL}/{channel}.xml",)


def test_missing_channel_and_bad_names(xfce: Xfce) -> None:
    found = xfce.assert_agrees("hygiene-test-nothing")
    assert (dict(found), found.sources) == ({}, ())
    for name in ("", "../../etc/passwd", "a/b", "with space"):
        with pytest.raises(ProbeUnavailable, match="is not the name of an xfconf channel"):
            xfce.read(name)


def test_truncated_file_is_reported(xfce: Xfce) -> None:
    xfce.write("xfce4-screensaver", "/lock/enabled", ("bool", "true"))
    xfce.write("xfce4-screensaver", "/saver/idle-activation/delay", ("int", "5"))
    xfce.flush()
    path = xfce.user_path("xfce4-screensaver")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])

    with pytest.raises(ProbeUnavailable) as caught:
        xfce.read("xfce4-screensaver")
    message = _assert_one_sentence(caught.value, f"~/.config/{PER_CHANNEL}/xfce4-screensaver.xml")
    assert "not well-formed XML" in message


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE channel SYSTEM "file:///etc/passwd">',
        '<!DOCTYPE channel [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    ],
)
def test_document_type_is_refused(xfce: Xfce, doctype: str) -> None:
    xfce.user_file(
        "xfce4-screensaver",
        f'<?xml version="1.0"?>\n{doctype}\n<channel name="xfce4-screensaver" version="1.0">'
        '<property name="lock" type="empty"><property name="enabled" type="bool" value="true"/>'
        "</property></channel>\n",
    )

    with pytest.raises(ProbeUnavailable) as caught:
        xfce.read("xfce4-screensaver")
    message = _assert_one_sentence(caught.value, f"~/.config/{PER_CHANNEL}/xfce4-screensaver.xml")
    assert "document type declaration" in message


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_xfconf_files_that_cannot_be_read(xfce: Xfce, case: str) -> None:
    make, reason = BAD_FILES[case]
    path = xfce.user_path("xfce4-screensaver")
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path, "xfconf")

    with pytest.raises(ProbeUnavailable) as caught:
        xfce.read("xfce4-screensaver")
    message = _assert_one_sentence(caught.value, f"~/.config/{PER_CHANNEL}/xfce4-screensaver.xml")
    assert reason in message


def test_xfconf_file_without_permission(open_folder: Path) -> None:
    home = open_folder / "home"
    path = home / ".config" / PER_CHANNEL / "xfce4-screensaver.xml"
    path.parent.mkdir(parents=True)
    path.write_text(channel_xml("xfce4-screensaver", '<property name="a" type="int" value="1"/>'))
    _open_tree(open_folder, path)
    env = {"HOME": str(home), "XDG_CONFIG_DIRS": str(open_folder / "none")}

    said = _read_unreadable("xfconf", "xfce4-screensaver", env)
    shown = f"~/.config/{PER_CHANNEL}/xfce4-screensaver.xml"
    assert said == f"{shown} could not be read: permission denied."
