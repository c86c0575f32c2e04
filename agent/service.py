"""`hygiene service install|uninstall|status`: the agent as a service of the person's own.

Linux: a systemd user unit; macOS: a launchd LaunchAgent; Windows: a Task Scheduler task
that starts at logon. The templates live in install/ (inside the package once built).

Deciding what to do is kept apart from doing it. `render_*` make the files and
`install_plan`/`uninstall_plan` list the steps, for any platform on any platform, from
a `Host` that says whose machine it is; `apply` writes the files and runs the commands
through a `Runner` that tests replace with one that records.
"""

from __future__ import annotations

import errno
import getpass
import os
import plistlib
import re
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO
from xml.sax.saxutils import escape as xml_escape

from agent.errors import AgentError
from agent.files import read_small_file, write_whole
from agent.instance import LOCK_FILE, running_agent
from agent.paths import Paths, shipped
from agent.text import printable

NAME = "hygiene-agent"
UNIT = f"{NAME}.service"
URL_HANDLER = f"{NAME}-url.desktop"  # the desktop file's id, as mimeapps.list names it
URL_MIME = "x-scheme-handler/hygiene"
DEFAULTS_SECTION = "[Default Applications]"
MAX_MIMEAPPS = 1 << 20
LABEL = NAME
TASK = NAME

Platform = Literal["linux", "darwin", "win32"]
MANAGERS: dict[Platform, str] = {"linux": "systemd", "darwin": "launchd", "win32": "Task Scheduler"}
KINDS: dict[Platform, str] = {
    "linux": "systemd user service",
    "darwin": "launchd LaunchAgent",
    "win32": "Task Scheduler task",
}

# launchctl's answer to `print` for a service the domain does not have.
LAUNCHCTL_NO_SUCH_SERVICE = 113
# `bootstrap` right after `bootout` fails with these while launchd still tears the old
# job down (bootout returns before the job is gone).
LAUNCHCTL_BUSY = (5, 37)
RETRIES = 10
RETRY_PAUSE = 0.5


class ServiceError(AgentError):
    """The service cannot be installed, removed or asked about; the message says why."""


@dataclass(frozen=True)
class Host:
    """Whose machine this is, as far as the service files and commands care."""

    platform: Platform
    home: Path
    env: Mapping[str, str]
    program: tuple[str, ...]  # the command line that runs `hygiene run`
    state: Path  # the agent's state folder, where its lock file says whether it runs
    uid: int = 0  # macOS: the gui/<uid> domain
    user: str = ""  # Windows: DOMAIN\user, whose logon starts the task

    @classmethod
    def current(cls, platform: str = sys.platform) -> Host:
        kind = _platform(platform)
        env = dict(os.environ)
        user = ""
        if kind == "win32":
            user = env.get("USERNAME") or getpass.getuser()
            if env.get("USERDOMAIN"):
                user = f"{env['USERDOMAIN']}\\{user}"
        return cls(
            platform=kind,
            home=Path.home(),
            env=env,
            program=agent_command(Path(sys.executable).absolute(), kind),
            state=Paths.from_environment(env).state,
            uid=os.getuid() if hasattr(os, "getuid") else 0,
            user=user,
        )


def _platform(name: str) -> Platform:
    if name.startswith("linux"):
        return "linux"
    if name == "darwin":
        return "darwin"
    if name == "win32":
        return "win32"
    raise ServiceError(
        f"`hygiene service` knows systemd (Linux), launchd (macOS) and Task Scheduler "
        f"(Windows), not {name}; run `hygiene run` from your session's autostart instead"
    )


def agent_command(executable: Path, platform: Platform) -> tuple[str, ...]:
    """The command line of this installation's `hygiene run`."""
    if platform == "win32":
        # hygiene.exe is a console program: started at logon it would open a window that
        # closing kills the agent. pythonw.exe runs the same code without one.
        pythonw = executable.with_name("pythonw.exe")
        if pythonw.is_file():
            return (str(pythonw), "-m", "agent", "run")
        script = executable.with_name("hygiene.exe")
    else:
        script = executable.with_name("hygiene")
    if script.is_file():
        return (str(script), "run")
    return (str(executable), "-m", "agent", "run")


# Where things go. Built by hand rather than with platformdirs because tests plan for a
# platform other than the one they run on.


def _xdg_dir(host: Host, variable: str, default: str) -> Path:
    value = host.env.get(variable, "")
    # The XDG spec says a relative path is invalid and is to be ignored.
    return Path(value) if Path(value).is_absolute() else host.home / default


def unit_path(host: Host) -> Path:
    return _xdg_dir(host, "XDG_CONFIG_HOME", ".config") / "systemd" / "user" / UNIT


def desktop_file_path(host: Host) -> Path:
    return _xdg_dir(host, "XDG_DATA_HOME", ".local/share") / "applications" / URL_HANDLER


def mimeapps_path(host: Host) -> Path:
    return _xdg_dir(host, "XDG_CONFIG_HOME", ".config") / "mimeapps.list"


def plist_path(host: Host) -> Path:
    return host.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def mac_log_path(host: Host) -> Path:
    return host.home / "Library" / "Logs" / NAME / "agent.log"


def task_xml_path(host: Host) -> Path:
    local = host.env.get("LOCALAPPDATA", "")
    base = Path(local) if local else host.home / "AppData" / "Local"
    return base / NAME / f"{TASK}.xml"


def service_file(host: Host) -> Path:
    """The one file install writes that makes the service."""
    if host.platform == "linux":
        return unit_path(host)
    if host.platform == "darwin":
        return plist_path(host)
    return task_xml_path(host)


def installed_files(host: Host) -> tuple[Path, ...]:
    """The files install writes of its own (not mimeapps.list, which others share)."""
    if host.platform == "linux":
        return (unit_path(host), desktop_file_path(host))
    return (service_file(host),)


def where_logs_are(host: Host) -> str:
    if host.platform == "linux":
        return f"journalctl --user -u {NAME}"
    if host.platform == "darwin":
        return str(mac_log_path(host))
    return (
        "Task Scheduler keeps no output; `hygiene notifications` lists what the agent told "
        "you, and Event Viewer (Applications and Services Logs > Microsoft > Windows > "
        "TaskScheduler > Operational) when it started and stopped"
    )


def template_path(name: str) -> Path:
    return shipped("install", name)


def _template(name: str) -> str:
    return template_path(name).read_text(encoding="utf-8")


def _fill(template: str, values: Mapping[str, str]) -> str:
    # One pass, so a value that happens to contain @NAME@ is left as it is.
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template)


# systemd (systemd.syntax(7), systemd.service(5)): words in double quotes take C escapes;
# % starts a specifier everywhere, and $ a variable in the arguments of ExecStart=.
_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_./:+=,-]+")


def systemd_quote(word: str, *, variables: bool = True) -> str:
    text = word.replace("%", "%%")
    if variables:
        text = text.replace("$", "$$")
    if _SYSTEMD_PLAIN.fullmatch(word):
        return text
    return '"' + "".join(_systemd_escape(c) for c in text) + '"'


def _systemd_escape(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def render_systemd_unit(host: Host) -> str:
    program, *arguments = host.program
    # systemd refuses these in the path of the program itself, however they are quoted.
    if any(c in "\"'\\\x7f" or ord(c) < 0x20 for c in program):
        raise ServiceError(
            f"systemd cannot start a program whose path holds quotes, backslashes or "
            f"control characters ({program!r}); install hygiene-agent in another folder"
        )
    exec_start = " ".join(
        [systemd_quote(program, variables=False), *(systemd_quote(a) for a in arguments)]
    )
    # The user manager does not read the shell's profile: without these it would look
    # for policies and keep state where `hygiene status` in the shell does not.
    environment = "\n".join(
        "Environment=" + systemd_quote(f"{name}={host.env[name]}", variables=False)
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")
        if Path(host.env.get(name, "")).is_absolute()
    )
    template = _template("hygiene-agent.service")
    if not environment:
        template = template.replace("@ENVIRONMENT@\n", "")
    return _fill(template, {"EXEC_START": exec_start, "ENVIRONMENT": environment})


# The Desktop Entry spec ("The Exec key"): these characters make an argument need double
# quotes; inside them ", `, $ and the backslash take a backslash; and since the key is a
# string, whose own escapes are undone first, every backslash of that is then written twice.
_DESKTOP_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")


def desktop_quote(word: str) -> str:
    text = word.replace("%", "%%")  # % starts a field code anywhere
    if not any(c in _DESKTOP_RESERVED for c in word):
        return text
    quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in text) + '"'
    return quoted.replace("\\", "\\\\")  # the string's escaping, over the quoting


def url_handler_command(host: Host) -> tuple[str, ...]:
    """The command line a browser runs for a hygiene: link, before the URL."""
    # host.program runs `hygiene run`: the same program, another command.
    return (*host.program[:-1], "open-url", "--")


def render_url_desktop_file(host: Host) -> str:
    command = url_handler_command(host)
    # Control characters: the spec has no escape for them in Exec. %: the spec's %% is
    # read by GLib and xdg-open only after they look for the program, which they then
    # do not find; the desktop file would be skipped.
    if any(ord(c) < 0x20 or c in "\x7f%" for word in command for c in word):
        raise ServiceError(
            f"The page's links are not registered: desktop launchers cannot start a program "
            f"whose path holds control characters or % ({printable(command[0])}); install "
            "hygiene-agent in another folder to use them"
        )
    exec_line = " ".join([*(desktop_quote(word) for word in command), "%u"])
    return _fill(_template(URL_HANDLER), {"EXEC": exec_line})


def render_launchd_plist(host: Host) -> bytes:
    template = plistlib.loads(template_path("hygiene-agent.plist").read_bytes())
    values: dict[str, object] = {
        "LABEL": LABEL,
        "LOG": str(mac_log_path(host)),
        "PROGRAM_ARGUMENTS": list(host.program),
    }
    filled = {key: _fill_plist(value, values) for key, value in template.items()}
    return plistlib.dumps(filled, sort_keys=False)


def _fill_plist(node: object, values: Mapping[str, object]) -> object:
    if isinstance(node, str):
        match = re.fullmatch(r"@([A-Z_]+)@", node)
        return values[match.group(1)] if match else node
    if isinstance(node, dict):
        return {key: _fill_plist(value, values) for key, value in node.items()}
    if isinstance(node, list):
        filled: list[object] = []
        for item in node:
            value = _fill_plist(item, values)
            # A placeholder alone in an array stands for the whole list.
            if isinstance(item, str) and isinstance(value, list):
                filled.extend(value)
            else:
                filled.append(value)
        return filled
    return node


def render_task_xml(host: Host) -> bytes:
    """The task definition, in UTF-16 as schtasks /XML wants it (the template is UTF-8)."""
    command, *arguments = host.program
    text = _fill(
        _template("hygiene-agent.xml"),
        {
            "NAME": xml_escape(TASK),
            "USER": xml_escape(host.user),
            "COMMAND": xml_escape(command),
            "ARGUMENTS": xml_escape(subprocess.list2cmdline(arguments)),
        },
    )
    # Little-endian with its byte order mark, as Windows writes UTF-16.
    return b"\xff\xfe" + text.encode("utf-16-le")


# Plans: what install and uninstall do, as data.


@dataclass(frozen=True)
class WriteFile:
    path: Path
    data: bytes
    mode: int = 0o644

    @property
    def text(self) -> str:
        if self.data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return self.data.decode("utf-16")
        return self.data.decode("utf-8")


@dataclass(frozen=True)
class MakeFolder:
    path: Path


@dataclass(frozen=True)
class RemoveFile:
    path: Path


@dataclass(frozen=True)
class RemoveFolderIfEmpty:
    path: Path
    # False for a folder install may have found there (~/.config/systemd/user): left as it
    # is without a word when something else is in it.
    say_kept: bool = True


@dataclass(frozen=True)
class SetDefaultApp:
    """In a mimeapps.list: `app` becomes the default application of `mime`."""

    path: Path
    mime: str
    app: str


@dataclass(frozen=True)
class DropDefaultApp:
    """In a mimeapps.list: `app` is no longer the default of `mime`; the file goes when
    nothing else is in it."""

    path: Path
    mime: str
    app: str


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    retry_on: tuple[int, ...] = ()


Step = (
    WriteFile | MakeFolder | RemoveFile | RemoveFolderIfEmpty | SetDefaultApp | DropDefaultApp | Run
)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    # Commands for the person to run where the service manager is out of this process's
    # reach, with why.
    manual: tuple[tuple[str, ...], ...] = ()
    manual_reason: str = ""
    notes: tuple[str, ...] = ()  # what was left out, and why


@dataclass(frozen=True)
class ServiceState:
    """What the service manager says about the service."""

    registered: bool
    running: bool
    pid: int | None
    detail: str  # in the manager's words: "active (running)", "running", "Ready"


def _systemctl(*args: str) -> tuple[str, ...]:
    return ("systemctl", "--user", *args)


NO_USER_MANAGER = (
    "No systemd user manager is reachable from here ($XDG_RUNTIME_DIR/systemd/private "
    "is missing), so nothing was started or stopped"
)


def install_plan(host: Host, *, reachable: bool, state: ServiceState | None) -> Plan:
    """`state` is what the manager said before (None when it could not be asked)."""
    if host.platform == "linux":
        files: tuple[Step, ...] = (WriteFile(unit_path(host), render_systemd_unit(host).encode()),)
        notes: tuple[str, ...] = ()
        try:
            desktop = render_url_desktop_file(host)
        except ServiceError as err:  # the agent runs all the same; only the links do not
            notes = (str(err),)
        else:
            files += (
                WriteFile(desktop_file_path(host), desktop.encode()),
                SetDefaultApp(mimeapps_path(host), URL_MIME, URL_HANDLER),
            )
        commands = [_systemctl("daemon-reload"), _systemctl("enable", "--now", UNIT)]
        if state and state.running:
            commands.append(_systemctl("restart", UNIT))  # to run the new unit and code
        if not reachable:
            return Plan(
                files,
                tuple(commands),
                NO_USER_MANAGER + ". To start the agent now and at every login, run:",
                notes,
            )
        return Plan((*files, *(Run(c) for c in commands)), notes=notes)
    if host.platform == "darwin":
        plist = plist_path(host)
        steps: list[Step] = [
            WriteFile(plist, render_launchd_plist(host)),
            # launchd opens the log but does not create its folder.
            MakeFolder(mac_log_path(host).parent),
        ]
        if state and state.registered:
            steps.append(Run(("launchctl", "bootout", f"gui/{host.uid}/{LABEL}")))
        steps.append(Run(("launchctl", "bootstrap", f"gui/{host.uid}", str(plist)), LAUNCHCTL_BUSY))
        return Plan(tuple(steps))
    xml = task_xml_path(host)
    steps = [
        WriteFile(xml, render_task_xml(host)),
        Run(("schtasks", "/Create", "/TN", TASK, "/XML", str(xml), "/F")),
    ]
    if state and state.running:
        steps.append(Run(("schtasks", "/End", "/TN", TASK)))
    # The logon trigger fires at the next logon; this starts the agent now.
    steps.append(Run(("schtasks", "/Run", "/TN", TASK)))
    return Plan(tuple(steps))


def uninstall_plan(host: Host, *, reachable: bool, state: ServiceState | None) -> Plan:
    registered = bool(state and state.registered)
    if host.platform == "linux":
        unit = unit_path(host)
        # What `systemctl disable` would remove, if the person had enabled it.
        wants = unit.parent / "default.target.wants"
        desktop = desktop_file_path(host)
        handler = (DropDefaultApp(mimeapps_path(host), URL_MIME, URL_HANDLER), RemoveFile(desktop))
        # The folders install creates when they are missing, once nothing else is in them
        # (not the XDG base folders themselves).
        folders = tuple(
            RemoveFolderIfEmpty(folder, say_kept=False)
            for folder in (wants, unit.parent, unit.parent.parent, desktop.parent)
        )
        if not reachable:
            return Plan(
                (RemoveFile(unit), RemoveFile(wants / UNIT), *handler, *folders),
                (_systemctl("stop", UNIT), _systemctl("daemon-reload")),
                NO_USER_MANAGER + ". If the agent runs as a service in another session, "
                "stop it there with:",
            )
        return Plan(
            (
                Run(_systemctl("disable", "--now", UNIT)),
                RemoveFile(unit),
                Run(_systemctl("daemon-reload")),
                *handler,
                *folders,
            )
        )
    if host.platform == "darwin":
        steps: list[Step] = []
        if registered:
            steps.append(Run(("launchctl", "bootout", f"gui/{host.uid}/{LABEL}")))
        plist = plist_path(host)
        steps += [
            RemoveFile(plist),
            RemoveFolderIfEmpty(mac_log_path(host).parent),
            # Made by install on an account that had no launch agent yet.
            RemoveFolderIfEmpty(plist.parent, say_kept=False),
        ]
        return Plan(tuple(steps))
    steps = []
    if state and state.running:
        steps.append(Run(("schtasks", "/End", "/TN", TASK)))
    if registered:
        steps.append(Run(("schtasks", "/Delete", "/TN", TASK, "/F")))
    xml = task_xml_path(host)
    steps += [RemoveFile(xml), RemoveFolderIfEmpty(xml.parent)]
    return Plan(tuple(steps))


# mimeapps.list (the XDG MIME Applications spec): which application opens hygiene: links.
# Edited line by line, so that every other line stays exactly as it was.


def _key(line: str) -> str:
    return line.partition("=")[0].strip()


BOM = "\ufeff"


def _apps(line: str) -> list[str]:
    return [app.strip() for app in line.partition("=")[2].split(";") if app.strip()]


def _lines(text: str) -> tuple[list[str], str]:
    """mimeapps.list `text` as its lines, each with its own line ending but the newline
    (a CR stays on its line), and the ending a new line gets. Only a newline ends a line:
    a form feed or a Unicode line separator inside a comment leaves it one comment. A byte
    order mark is not part of the first line (_joined puts it back)."""
    lines = text.removeprefix(BOM).split("\n")
    if lines and not lines[-1]:
        lines.pop()
    crlf = sum(line.endswith("\r") for line in lines) * 2 > len(lines) > 0
    return lines, "\r" if crlf else ""


def _joined(lines: list[str], text: str) -> str:
    """`lines` as a file again, with `text`'s byte order mark and its final newline (or
    none) as they were."""
    bom = BOM if text.startswith(BOM) else ""
    end = "\n" if text.endswith("\n") or not text.removeprefix(BOM) else ""
    return bom + "\n".join(lines) + end


def with_default(text: str, mime: str, app: str) -> str:
    """mimeapps.list `text` with `app` as the default application of `mime`, first in its
    section, any other application it named kept after it (uninstall gives them back);
    every other line as it was, byte for byte."""
    old, cr = _lines(text)
    named = _entries(old, mime)
    others = [a for line in named for a in dict.fromkeys(_apps(line)) if a != app]
    entry = _list_line(mime, [app, *others], named[0] if named else "", cr)
    lines: list[str] = []
    section = ""
    placed = False
    for line in old:
        if line.startswith("["):
            section = line.strip()
            lines.append(line)
            if section == DEFAULTS_SECTION and not placed:
                lines.append(entry)
                placed = True
        elif not (section == DEFAULTS_SECTION and "=" in line and _key(line) == mime):
            lines.append(line)
    if not placed:
        lines += ([cr] if lines and lines[-1].strip() else []) + [DEFAULTS_SECTION + cr, entry]
    return _joined(lines, text)


def _list_line(mime: str, apps: list[str], like: str, cr: str) -> str:
    """`mime`'s line naming `apps`, ending in ";" as the line it replaces did."""
    end = ";" if like.rstrip("\r").endswith(";") else ""
    return f"{mime}={';'.join(apps)}{end}{cr}"


def _entries(lines: list[str], mime: str) -> list[str]:
    """The lines that name `mime`'s default applications."""
    section, found = "", []
    for line in lines:
        if line.startswith("["):
            section = line.strip()
        elif section == DEFAULTS_SECTION and "=" in line and _key(line) == mime:
            found.append(line)
    return found


def without_default(text: str, mime: str, app: str) -> str:
    """mimeapps.list `text` with `app` no longer a default of `mime` (any other it named
    stays); "" when nothing but section headers and blank lines would be left. A
    [Default Applications] section left empty goes too: install made it."""
    old, cr = _lines(text)
    lines: list[str] = []
    section = ""
    for line in old:
        if line.startswith("["):
            section = line.strip()
        elif section == DEFAULTS_SECTION and "=" in line and _key(line) == mime:
            others = [other for other in _apps(line) if other != app]
            if others == _apps(line):
                lines.append(line)
            elif others:
                lines.append(_list_line(mime, others, line, cr))
            continue
        lines.append(line)
    if all(not line.strip() or line.startswith("[") for line in lines):
        return ""
    return _joined(_without_empty_defaults(lines), text)


def _without_empty_defaults(lines: list[str]) -> list[str]:
    """`lines` less a [Default Applications] header with no line under it before the next
    section, and the blank line before it."""
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.strip() == DEFAULTS_SECTION:
            rest = lines[i + 1 :]
            body = rest[: next((k for k, r in enumerate(rest) if r.startswith("[")), len(rest))]
            if not any(r.strip() for r in body):
                if out and not out[-1].strip():
                    out.pop()
                continue
        out.append(line)
    return out


def default_app(text: str, mime: str) -> str | None:
    """The default application mimeapps.list `text` names for `mime`."""
    section = ""
    for line in _lines(text)[0]:
        if line.startswith("["):
            section = line.strip()
        elif section == DEFAULTS_SECTION and "=" in line and _key(line) == mime:
            return next(iter(_apps(line)), None)
    return None


def read_mimeapps(path: Path) -> str:
    """The text of a mimeapps.list, "" when there is none; raises ServiceError. Bytes that
    are not UTF-8 are kept as they are (surrogateescape), to be written back unchanged."""
    try:
        data = read_small_file(path, MAX_MIMEAPPS)
    except FileNotFoundError:
        return ""
    except OSError as err:
        raise _os_problem(err, "read", path) from None
    if b"\0" in data or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ServiceError(f"{printable(str(path))} is not a text file this can edit")
    if b"\r" in data and b"\n" not in data:
        raise ServiceError(
            f"{printable(str(path))} ends its lines with CR alone, as no reader does"
        )
    return data.decode("utf-8", "surrogateescape")


def _edit_mimeapps(step: SetDefaultApp | DropDefaultApp) -> bool:
    """Carry out the step; False when the file needed no change."""
    # A mimeapps.list kept in a dotfiles repository is a symbolic link: its target is
    # edited, and kept even when empty.
    linked = step.path.is_symlink()
    before = _mimeapps_text(step.path)
    path = step.path.resolve()
    if isinstance(step, SetDefaultApp):
        after = with_default(before, step.mime, step.app)
    else:
        after = without_default(before, step.mime, step.app)
    if after == before:
        return False
    try:
        if not after and not linked:
            path.unlink()
            return True
        mode = stat.S_IMODE(path.stat().st_mode) if before else 0o644
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, after.encode("utf-8", "surrogateescape"), mode)
    except OSError as err:
        raise _os_problem(err, "write", path) from None
    return True


# Asking the service manager.


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str = ""
    stderr: str = ""


Runner = Callable[[Sequence[str]], Completed]


def run_command(argv: Sequence[str]) -> Completed:
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        return Completed(127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return Completed(124, "", f"{argv[0]} did not answer within 60 seconds")
    except OSError as err:
        return Completed(126, "", f"{argv[0]}: {err.strerror or err}")
    return Completed(done.returncode, done.stdout, done.stderr)


def manager_reachable(host: Host) -> bool:
    """Whether the service manager can be asked from this process.

    On Linux that means a systemd user manager is already running for this user: its
    private socket exists. Nothing here ever starts one.
    """
    if host.platform != "linux":
        return True
    runtime = Path(host.env.get("XDG_RUNTIME_DIR", ""))
    if not runtime.is_absolute():
        return False
    try:
        return stat.S_ISSOCK((runtime / "systemd" / "private").stat().st_mode)
    except OSError:
        return False


def query_state(host: Host, runner: Runner) -> ServiceState:
    """What the manager says; raises ServiceError when it does not answer."""
    if host.platform == "linux":
        argv = _systemctl(
            "show", UNIT, "--property=LoadState,ActiveState,SubState,MainPID,UnitFileState"
        )
        result = runner(argv)
        if result.returncode != 0:
            raise ServiceError(_failed(argv, result, host.platform))
        return parse_systemctl_show(result.stdout)
    if host.platform == "darwin":
        argv = ("launchctl", "print", f"gui/{host.uid}/{LABEL}")
        result = runner(argv)
        if result.returncode == LAUNCHCTL_NO_SUCH_SERVICE:
            return ServiceState(registered=False, running=False, pid=None, detail="not loaded")
        if result.returncode != 0:
            raise ServiceError(_failed(argv, result, host.platform))
        return parse_launchctl_print(result.stdout)
    argv = ("schtasks", "/Query", "/TN", TASK, "/FO", "LIST", "/V")
    result = runner(argv)
    # For a task that does not exist schtasks exits 1 and says, in the language of the
    # system, "ERROR: The system cannot find the file specified."
    if result.returncode == 1:
        return ServiceState(registered=False, running=False, pid=None, detail="no task")
    if result.returncode != 0:
        raise ServiceError(_failed(argv, result, host.platform))
    return parse_schtasks_list(result.stdout)


def parse_systemctl_show(text: str) -> ServiceState:
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    load = props.get("LoadState", "")
    active = props.get("ActiveState", "")
    sub = props.get("SubState", "")
    pid = props.get("MainPID", "")
    detail = f"{active} ({sub})" if sub else active
    if props.get("UnitFileState"):
        detail += f", {props['UnitFileState']}"
    return ServiceState(
        registered=load == "loaded",
        running=active in ("active", "reloading", "deactivating"),
        pid=int(pid) if pid.isdigit() and pid != "0" else None,
        detail=detail,
    )


def parse_launchctl_print(text: str) -> ServiceState:
    # Only the service's own lines, one tab in: nested blocks (endpoints, the resource
    # coalition) have `state = active` lines of their own.
    props: dict[str, str] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"\t([a-z][a-z ()]*?) = (.*)", line)
        if match:
            props.setdefault(match.group(1), match.group(2).strip())
    state = props.get("state", "unknown")
    pid = props.get("pid", "")
    detail = state
    if "last exit code" in props:
        detail += f", last exit code {props['last exit code']}"
    return ServiceState(
        registered=True,
        running=state == "running",
        pid=int(pid) if pid.isdigit() else None,
        detail=detail,
    )


def parse_schtasks_list(text: str) -> ServiceState:
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            props.setdefault(key.strip(), value.strip())
    status = props.get("Status", "")
    detail = status or "unknown"
    if props.get("Last Result"):
        detail += f", last result {props['Last Result']}"
    # The labels are in the system's language; elsewhere than English this reads as not
    # running, and the agent's lock file answers instead.
    return ServiceState(registered=True, running=status == "Running", pid=None, detail=detail)


# Doing it.


def show_command(argv: Sequence[str], platform: Platform) -> str:
    return subprocess.list2cmdline(argv) if platform == "win32" else shlex.join(argv)


def _failed(argv: Sequence[str], result: Completed, platform: Platform) -> str:
    said = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines()]
    said = [line for line in said if line]
    reason = f": {said[-1]}" if said else ""
    return f"`{show_command(argv, platform)}` failed (exit {result.returncode}){reason}"


def _os_problem(err: OSError, action: str, path: Path) -> ServiceError:
    where = err.filename if isinstance(err.filename, str) else str(path)
    reason = (err.strerror or type(err).__name__).lower()
    return ServiceError(f"cannot {action} {where}: {reason}")


def apply(
    plan: Plan,
    host: Host,
    runner: Runner,
    out: TextIO,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Carry out a plan, saying each thing done; the first failure raises ServiceError."""
    for step in plan.steps:
        if isinstance(step, WriteFile):
            _write(step)
            print(f"Wrote {step.path}", file=out)
        elif isinstance(step, MakeFolder):
            try:
                step.path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise _os_problem(err, "create the folder", step.path) from None
        elif isinstance(step, RemoveFile):
            if os.path.lexists(step.path):
                try:
                    step.path.unlink()
                except OSError as err:
                    raise _os_problem(err, "remove", step.path) from None
                print(f"Removed {step.path}", file=out)
        elif isinstance(step, RemoveFolderIfEmpty):
            try:
                step.path.rmdir()
            except FileNotFoundError:
                pass
            except OSError as err:
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise _os_problem(err, "remove", step.path) from None
                if step.say_kept:
                    print(f"Kept {step.path}: other files are in it", file=out)
            else:
                print(f"Removed {step.path}", file=out)
        elif isinstance(step, SetDefaultApp | DropDefaultApp):
            _default_app(step, out)
        else:
            _run(step, host.platform, runner, sleep)
            print(f"Ran: {show_command(step.argv, host.platform)}", file=out)
    _print_manual(plan, host, out)


def _would_default_app(step: SetDefaultApp | DropDefaultApp, out: TextIO) -> None:
    """What _default_app would do, said as it would say it."""
    try:
        _mimeapps_text(step.path)
    except ServiceError as err:
        print(f"Note: the page's links would not be registered: {err}", file=out)
        return
    if isinstance(step, SetDefaultApp):
        print(
            f"Would make {step.app} the handler of {step.mime} in {step.path}, with the "
            f"line {step.mime}={step.app} first under {DEFAULTS_SECTION}",
            file=out,
        )
    elif default_app(_mimeapps_text(step.path), step.mime) == step.app:
        print(f"Would remove {step.app} as the handler of {step.mime} from {step.path}", file=out)


def _mimeapps_text(path: Path) -> str:
    """The text at `path`, where a symbolic link leads; raises ServiceError."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: a symbolic link loop
        raise ServiceError(f"cannot follow {printable(str(path))}: {err}") from None
    return read_mimeapps(target)


def _default_app(step: SetDefaultApp | DropDefaultApp, out: TextIO) -> None:
    """Edit mimeapps.list; one that cannot be edited is a note, not the end of the install:
    the agent runs without the page's links."""
    try:
        changed = _edit_mimeapps(step)
    except ServiceError as err:
        print(f"Note: the page's links are not registered: {err}", file=out)
        return
    if isinstance(step, SetDefaultApp):
        print(f"Made {step.app} the handler of {step.mime} in {step.path}", file=out)
    elif changed:
        print(f"Removed {step.app} as the handler of {step.mime} from {step.path}", file=out)


def _write(step: WriteFile) -> None:
    try:
        step.path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _os_problem(err, "create the folder", step.path.parent) from None
    try:
        # A new temporary file renamed over the target: nothing already there (a FIFO, a
        # device) is ever opened, and a reader sees the old file or the new one.
        write_whole(step.path, step.data, step.mode)
    except OSError as err:
        raise _os_problem(err, "write", step.path) from None


def _run(step: Run, platform: Platform, runner: Runner, sleep: Callable[[float], None]) -> None:
    for attempt in range(RETRIES + 1):
        result = runner(step.argv)
        if result.returncode == 0:
            return
        if result.returncode not in step.retry_on or attempt == RETRIES:
            raise ServiceError(_failed(step.argv, result, platform))
        sleep(RETRY_PAUSE)


def _print_manual(plan: Plan, host: Host, out: TextIO) -> None:
    for note in plan.notes:
        print(note, file=out)
    if plan.manual:
        print(plan.manual_reason, file=out)
        for argv in plan.manual:
            print(f"    {show_command(argv, host.platform)}", file=out)


def describe(plan: Plan, host: Host, out: TextIO) -> None:
    """Say what `apply` would do, every file in full, and do nothing."""
    for step in plan.steps:
        if isinstance(step, WriteFile):
            text = step.text if step.text.endswith("\n") else step.text + "\n"
            print(f"Would write {step.path} (mode {step.mode:04o}):", file=out)
            out.write(text)
            print(f"(end of {step.path})", file=out)
        elif isinstance(step, MakeFolder):
            if not step.path.is_dir():
                print(f"Would create the folder {step.path}", file=out)
        elif isinstance(step, RemoveFile):
            if os.path.lexists(step.path):
                print(f"Would remove {step.path}", file=out)
        elif isinstance(step, RemoveFolderIfEmpty):
            if step.path.is_dir():
                print(f"Would remove the folder {step.path} if it is empty", file=out)
        elif isinstance(step, SetDefaultApp | DropDefaultApp):
            _would_default_app(step, out)
        else:
            print(f"Would run: {show_command(step.argv, host.platform)}", file=out)
    _print_manual(plan, host, out)
    print("Nothing was changed (--dry-run).", file=out)


# The commands.


def service_command(
    action: str,
    *,
    dry_run: bool = False,
    host: Host | None = None,
    runner: Runner = run_command,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """`hygiene service ACTION`; `host`, `runner` and `sleep` are for tests."""
    host = host or Host.current()
    out = out or sys.stdout
    if action == "status":
        out.write(status_text(host, runner))
        return 0
    reachable = manager_reachable(host)
    state = query_state(host, runner) if reachable else None
    if action == "install":
        plan = install_plan(host, reachable=reachable, state=state)
    else:
        if not any(p.exists() for p in installed_files(host)) and not (state and state.registered):
            print(f"{NAME} is not installed as a service: nothing to remove.", file=out)
            return 0
        plan = uninstall_plan(host, reachable=reachable, state=state)
    if dry_run:
        describe(plan, host, out)
        return 0
    apply(plan, host, runner, out, sleep=sleep)
    if plan.manual:
        return 0
    if action == "install":
        print(
            f"The agent runs as a {KINDS[host.platform]} now and starts at each login. "
            f"Logs: {where_logs_are(host)}",
            file=out,
        )
    else:
        print(f"The agent no longer runs as a {KINDS[host.platform]}.", file=out)
    return 0


def status_text(host: Host, runner: Runner) -> str:
    manager = MANAGERS[host.platform]
    path = service_file(host)
    state: ServiceState | None = None
    note = ""
    if manager_reachable(host):
        try:
            state = query_state(host, runner)
        except ServiceError as err:
            note = f"{manager} did not answer: {err}"
    else:
        note = (
            "no systemd user manager is reachable from here, so only the agent's lock "
            f"file ({host.state / LOCK_FILE}) was asked whether it runs"
        )
    installed = path.exists() or bool(state and state.registered)
    lines = [f"{NAME} as a {KINDS[host.platform]}"]
    if installed:
        lines.append(f"  Installed: yes, {path}" if path.exists() else "  Installed: yes")
    else:
        lines.append("  Installed: no (`hygiene service install` installs it)")
    lines.append(f"  Running:   {_running(state, running_agent(host.state), manager)}")
    lines.append(f"  Logs:      {where_logs_are(host)}")
    if host.platform == "linux":
        lines.append(f"  Links:     {_links_handler(host)}")
    if note:
        lines.append(f"  Note:      {note}")
    # What systemctl or launchctl said is outside text: each line shown escaped.
    return "".join(printable(line) + "\n" for line in lines)


def _links_handler(host: Host) -> str:
    """Whether the page's hygiene: links reach `hygiene open-url`."""
    desktop = desktop_file_path(host)
    mimeapps = mimeapps_path(host)
    if not desktop.exists():
        return "hygiene: links open nothing (`hygiene service install` registers the handler)"
    try:
        default = default_app(read_mimeapps(mimeapps), URL_MIME)
    except ServiceError as err:
        return f"{desktop} is installed, but {err}"
    if default == URL_HANDLER:
        return f"hygiene: links open `hygiene open-url`, {desktop}"
    chosen = f"makes {default}" if default else "does not make it"
    return f"{desktop} is installed, but {mimeapps} {chosen} the handler of {URL_MIME}"


def _running(state: ServiceState | None, lock_pid: int | None, manager: str) -> str:
    says = f" ({manager}: {state.detail})" if state and state.registered else ""
    pid = (state.pid if state and state.running else None) or lock_pid
    if pid:
        return f"yes, process {pid}{says}"
    if (state and state.running) or lock_pid is not None:
        return f"yes{says}"
    return f"no{says}"
