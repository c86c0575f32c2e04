"""`hygiene service install|uninstall|status`: the files a person gets, what is run for them,
and what they are told. systemd's own verifier judges the unit; launchctl and schtasks are
replaced by a recorder that answers with their real outputs (tests/data/service/)."""

from __future__ import annotations

import io
import os
import plistlib
import shlex
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from agent.instance import InstanceLock
from agent.service import Completed, Host, ServiceError, render_systemd_unit, service_command
from tests.conftest import REPO, Machine, Outcome, require_tool

DATA = Path(__file__).parent / "data" / "service"
UNIT = "hygiene-agent.service"
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
WHERE_IS_THE_TEMPLATE = "import agent.service as s; print(s.template_path('hygiene-agent.service'))"
NETWORK_TROUBLE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
)


def files_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def unit_file(machine: Machine) -> Path:
    return machine.config / "systemd" / "user" / UNIT


def desktop_file(machine: Machine) -> Path:
    return machine.home / ".local" / "share" / "applications" / "hygiene-agent-url.desktop"


def mimeapps(machine: Machine) -> Path:
    return machine.config / "mimeapps.list"


def folders_under(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_dir()}


LINKS_LINE = "  Links:     hygiene: links open `hygiene open-url`, {}"


def verify_unit(path: Path) -> subprocess.CompletedProcess[str]:
    """systemd's own check of a user unit, with a private runtime dir: it starts no manager."""
    analyze = require_tool("systemd-analyze")
    with tempfile.TemporaryDirectory() as runtime:
        return subprocess.run(
            [analyze, "--user", "verify", str(path)],
            env={**os.environ, "XDG_RUNTIME_DIR": runtime},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


# Linux, through the command line, with no user manager reachable (as on this machine).


def test_install_writes_a_unit_systemd_accepts_and_says_what_to_run(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    before = files_under(machine.home)
    outcome = hygiene("service", "install")
    assert outcome.code == 0, outcome.err
    unit = unit_file(machine)
    made = {unit, desktop_file(machine), mimeapps(machine)}
    assert files_under(machine.home) - before == {p.relative_to(machine.home) for p in made}
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644

    checked = verify_unit(unit)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")

    text = unit.read_text()
    hygiene_script = Path(sys.executable).with_name("hygiene")
    assert f"ExecStart={hygiene_script} run\n" in text
    assert "Restart=on-failure\n" in text
    # The service keeps its state and reads policies where `hygiene status` in this shell does.
    assert f"Environment=XDG_STATE_HOME={machine.state}\n" in text
    assert f"Environment=XDG_CONFIG_HOME={machine.config}\n" in text
    assert outcome.out.splitlines() == [
        f"Wrote {unit}",
        f"Wrote {desktop_file(machine)}",
        "Made hygiene-agent-url.desktop the handler of x-scheme-handler/hygiene in "
        f"{mimeapps(machine)}",
        "No systemd user manager is reachable from here ($XDG_RUNTIME_DIR/systemd/private is "
        "missing), so nothing was started or stopped. To start the agent now and at every "
        "login, run:",
        "    systemctl --user daemon-reload",
        f"    systemctl --user enable --now {UNIT}",
    ]


def test_dry_run_prints_every_file_and_command_and_changes_nothing(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    before = files_under(machine.home)
    outcome = hygiene("service", "install", "--dry-run")
    assert outcome.code == 0, outcome.err
    assert files_under(machine.home) == before
    assert not (machine.config / "systemd").exists()

    unit = unit_file(machine)
    desktop = desktop_file(machine)
    hygiene("service", "install")
    written, handler = unit.read_text(), desktop.read_text()
    assert outcome.out == (
        f"Would write {unit} (mode 0644):\n{written}(end of {unit})\n"
        f"Would write {desktop} (mode 0644):\n{handler}(end of {desktop})\n"
        "Would make hygiene-agent-url.desktop the handler of x-scheme-handler/hygiene in "
        f"{mimeapps(machine)}, with the line "
        "x-scheme-handler/hygiene=hygiene-agent-url.desktop first under [Default Applications]\n"
        "No systemd user manager is reachable from here ($XDG_RUNTIME_DIR/systemd/private is "
        "missing), so nothing was started or stopped. To start the agent now and at every "
        "login, run:\n"
        "    systemctl --user daemon-reload\n"
        f"    systemctl --user enable --now {UNIT}\n"
        "Nothing was changed (--dry-run).\n"
    )


def test_uninstall_removes_exactly_what_install_made(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    before = files_under(machine.home)
    assert hygiene("service", "install").code == 0
    unit = unit_file(machine)
    # What `systemctl --user enable` makes when the person ran the printed commands.
    wants = unit.parent / "default.target.wants"
    wants.mkdir()
    (wants / UNIT).symlink_to(unit)

    desktop = desktop_file(machine)
    dry = hygiene("service", "uninstall", "--dry-run")
    assert dry.out.splitlines()[:4] == [
        f"Would remove {unit}",
        f"Would remove {wants / UNIT}",
        "Would remove hygiene-agent-url.desktop as the handler of x-scheme-handler/hygiene "
        f"from {mimeapps(machine)}",
        f"Would remove {desktop}",
    ]
    assert unit.exists()

    outcome = hygiene("service", "uninstall")
    assert outcome.code == 0, outcome.err
    assert files_under(machine.home) == before
    # The folders it made for them went too; the XDG base folders stay.
    assert folders_under(machine.home) == {Path(".config"), Path(".local"), Path(".local/share")}
    assert outcome.out.splitlines() == [
        f"Removed {unit}",
        f"Removed {wants / UNIT}",
        "Removed hygiene-agent-url.desktop as the handler of x-scheme-handler/hygiene from "
        f"{mimeapps(machine)}",
        f"Removed {desktop}",
        f"Removed {wants}",
        f"Removed {unit.parent}",
        f"Removed {unit.parent.parent}",
        f"Removed {desktop.parent}",
        "No systemd user manager is reachable from here ($XDG_RUNTIME_DIR/systemd/private is "
        "missing), so nothing was started or stopped. If the agent runs as a service in "
        "another session, stop it there with:",
        f"    systemctl --user stop {UNIT}",
        "    systemctl --user daemon-reload",
    ]
    again = hygiene("service", "uninstall")
    assert (again.code, again.out) == (
        0,
        "hygiene-agent is not installed as a service: nothing to remove.\n",
    )


def test_status_says_installed_running_and_where_the_logs_are(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    lock_file = machine.state / "hygiene-agent" / "agent.lock"
    before = hygiene("service", "status")
    assert before.code == 0, before.err
    assert before.out.splitlines() == [
        "hygiene-agent as a systemd user service",
        "  Installed: no (`hygiene service install` installs it)",
        "  Running:   no",
        "  Logs:      journalctl --user -u hygiene-agent",
        "  Links:     hygiene: links open nothing (`hygiene service install` registers the "
        "handler)",
        "  Note:      no systemd user manager is reachable from here, so only the agent's lock "
        f"file ({lock_file}) was asked whether it runs",
    ]
    hygiene("service", "install")
    with InstanceLock(machine.state / "hygiene-agent"):  # as `hygiene run` holds it
        after = hygiene("service", "status")
    assert after.out.splitlines()[1:5] == [
        f"  Installed: yes, {unit_file(machine)}",
        f"  Running:   yes, process {os.getpid()}",
        "  Logs:      journalctl --user -u hygiene-agent",
        LINKS_LINE.format(desktop_file(machine)),
    ]


def test_a_file_that_cannot_be_written_is_one_sentence_and_exit_2(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    machine.config.mkdir(parents=True)
    (machine.config / "systemd").write_text("not a folder\n")
    outcome = hygiene("service", "install")
    assert outcome.code == 2
    assert outcome.out == ""
    assert outcome.err == (
        f"hygiene: cannot create the folder {machine.config / 'systemd' / 'user'}: "
        "not a directory\n"
    )


@pytest.mark.parametrize("folder", ["with space", "50%home", "dollar$sign", "ünïcode"])
def test_the_unit_starts_the_program_wherever_it_is(
    machine: Machine, tmp_path: Path, folder: str
) -> None:
    """systemd-analyze refuses a unit whose ExecStart names a file that is not there, so a
    path quoted or escaped wrongly for systemd fails here."""
    program = tmp_path / folder / "bin" / "hygiene"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    host = replace(Host.current(), program=(str(program), "run"))
    unit = tmp_path / UNIT
    unit.write_text(render_systemd_unit(host))
    checked = verify_unit(unit)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")

    program.unlink()
    assert verify_unit(unit).returncode != 0  # the check above can fail


def test_a_path_systemd_cannot_start_is_refused_with_the_reason(machine: Machine) -> None:
    host = replace(Host.current(), program=('/home/ann/"odd"/bin/hygiene', "run"))
    with pytest.raises(ServiceError, match="systemd cannot start a program whose path holds"):
        render_systemd_unit(host)


# Linux with a user manager: a stand-in systemctl on PATH records what it is asked, and a
# real socket where systemd keeps its private one makes the manager count as reachable.

FAKE_SYSTEMCTL = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_SYSTEMCTL_LOG"
case " $* " in *" show "*) cat "$FAKE_SYSTEMCTL_SHOW" ;; esac
case " $* " in *" ${FAKE_SYSTEMCTL_FAIL:-none} "*)
    echo "Failed to enable unit: Access denied" >&2
    exit 1 ;;
esac
exit 0
"""


@dataclass
class FakeSystemctl:
    log: Path
    monkeypatch: pytest.MonkeyPatch

    def answer_show(self, name: str) -> None:
        self.monkeypatch.setenv("FAKE_SYSTEMCTL_SHOW", str(DATA / name))

    def fail_on(self, word: str) -> None:
        self.monkeypatch.setenv("FAKE_SYSTEMCTL_FAIL", word)

    def calls(self) -> list[str]:
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return calls


@pytest.fixture
def systemctl(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeSystemctl]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # AF_UNIX paths are short; pytest's tmp_path may be too long for one.
    with tempfile.TemporaryDirectory(prefix="xdg") as runtime:
        (Path(runtime) / "systemd").mkdir()
        with socket.socket(socket.AF_UNIX) as private:
            private.bind(str(Path(runtime) / "systemd" / "private"))
            monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
            recorder = FakeSystemctl(tmp_path / "systemctl.log", monkeypatch)
            monkeypatch.setenv("FAKE_SYSTEMCTL_LOG", str(recorder.log))
            recorder.answer_show("systemctl-show-not-found.txt")
            yield recorder


SHOW = f"--user show {UNIT} --property=LoadState,ActiveState,SubState,MainPID,UnitFileState"


def test_with_a_user_manager_install_enables_and_starts_the_service(
    machine: Machine, hygiene: Callable[..., Outcome], systemctl: FakeSystemctl
) -> None:
    outcome = hygiene("service", "install")
    assert outcome.code == 0, outcome.err
    assert systemctl.calls() == [SHOW, "--user daemon-reload", f"--user enable --now {UNIT}"]
    assert unit_file(machine).is_file()
    assert outcome.out.splitlines()[-1] == (
        "The agent runs as a systemd user service now and starts at each login. "
        "Logs: journalctl --user -u hygiene-agent"
    )

    systemctl.answer_show("systemctl-show-running.txt")
    status = hygiene("service", "status")
    assert status.out.splitlines()[1:] == [
        f"  Installed: yes, {unit_file(machine)}",
        "  Running:   yes, process 4242 (systemd: active (running), enabled)",
        "  Logs:      journalctl --user -u hygiene-agent",
        LINKS_LINE.format(desktop_file(machine)),
    ]
    systemctl.calls()

    # Installing again over a running service restarts it, so the new unit and code run.
    assert hygiene("service", "install").code == 0
    assert systemctl.calls()[-1] == f"--user restart {UNIT}"

    outcome = hygiene("service", "uninstall")
    assert outcome.code == 0, outcome.err
    assert systemctl.calls() == [SHOW, f"--user disable --now {UNIT}", "--user daemon-reload"]
    assert not unit_file(machine).exists()


def test_a_failing_systemctl_is_one_sentence_and_exit_2(
    machine: Machine, hygiene: Callable[..., Outcome], systemctl: FakeSystemctl
) -> None:
    systemctl.fail_on("enable")
    outcome = hygiene("service", "install")
    assert outcome.code == 2
    assert outcome.err == (
        f"hygiene: `systemctl --user enable --now {UNIT}` failed (exit 1): "
        "Failed to enable unit: Access denied\n"
    )


def test_dry_run_asks_the_manager_but_runs_nothing_that_changes_it(
    machine: Machine, hygiene: Callable[..., Outcome], systemctl: FakeSystemctl
) -> None:
    outcome = hygiene("service", "install", "--dry-run")
    assert outcome.code == 0, outcome.err
    assert systemctl.calls() == [SHOW]
    assert outcome.out.splitlines()[-3:] == [
        "Would run: systemctl --user daemon-reload",
        f"Would run: systemctl --user enable --now {UNIT}",
        "Nothing was changed (--dry-run).",
    ]
    assert not unit_file(machine).exists()


# macOS and Windows: planned and carried out here, with the commands recorded and answered
# as launchctl and schtasks answer.


@dataclass
class Recorder:
    """Stands in for launchctl and schtasks: records each command, answers from `answers`."""

    answers: dict[tuple[str, ...], list[Completed]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def answer(self, prefix: Sequence[str], *results: Completed) -> None:
        self.answers[tuple(prefix)] = list(results)

    def __call__(self, argv: Sequence[str]) -> Completed:
        self.calls.append(tuple(argv))
        for prefix, results in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return results.pop(0) if len(results) > 1 else results[0]
        return Completed(0)


def recorded(name: str, code: int = 0) -> Completed:
    text = (DATA / name).read_text()
    return Completed(code, "", text) if name.endswith(".stderr") else Completed(code, text, "")


def run_service(action: str, host: Host, runner: Recorder, *, dry_run: bool = False) -> str:
    out = io.StringIO()
    naps: list[float] = []
    code = service_command(
        action, dry_run=dry_run, host=host, runner=runner, out=out, sleep=naps.append
    )
    assert code == 0
    return out.getvalue()


MAC_PROGRAM = ("/Users/ann/Library/Application Support/hygiene-agent/venv/bin/hygiene", "run")


@pytest.fixture
def mac(machine: Machine) -> Host:
    return Host(
        platform="darwin",
        home=machine.home,
        env=machine.env(),
        program=MAC_PROGRAM,
        state=machine.state / "hygiene-agent",
        uid=501,
    )


def test_macos_install_writes_the_launch_agent_and_bootstraps_it(
    machine: Machine, mac: Host
) -> None:
    launchctl = Recorder()
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-missing.stderr", 113))
    out = run_service("install", mac, launchctl)

    plist = machine.home / "Library" / "LaunchAgents" / "hygiene-agent.plist"
    logs = machine.home / "Library" / "Logs" / "hygiene-agent"
    assert launchctl.calls == [
        ("launchctl", "print", "gui/501/hygiene-agent"),
        ("launchctl", "bootstrap", "gui/501", str(plist)),
    ]
    assert stat.S_IMODE(plist.stat().st_mode) == 0o644
    assert logs.is_dir()  # launchd does not create the folder of its log files
    job = plistlib.loads(plist.read_bytes())
    assert job["Label"] == "hygiene-agent"
    assert job["ProgramArguments"] == list(MAC_PROGRAM)
    assert job["RunAtLoad"] is True
    assert job["KeepAlive"] == {"SuccessfulExit": False}
    assert job["StandardOutPath"] == job["StandardErrorPath"] == str(logs / "agent.log")
    assert out.splitlines()[-1] == (
        "The agent runs as a launchd LaunchAgent now and starts at each login. "
        f"Logs: {logs}/agent.log"
    )


def test_macos_reinstall_boots_the_old_job_out_and_waits_for_launchd(mac: Host) -> None:
    launchctl = Recorder()
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-running.txt"))
    # bootout returns before the job is gone; bootstrap meanwhile says "5: Input/output error".
    busy = Completed(5, "", "Bootstrap failed: 5: Input/output error\n")
    launchctl.answer(["launchctl", "bootstrap"], busy, busy, Completed(0))
    run_service("install", mac, launchctl)
    assert [c[:2] for c in launchctl.calls] == [
        ("launchctl", "print"),
        ("launchctl", "bootout"),
        ("launchctl", "bootstrap"),
        ("launchctl", "bootstrap"),
        ("launchctl", "bootstrap"),
    ]
    assert launchctl.calls[1] == ("launchctl", "bootout", "gui/501/hygiene-agent")


def test_macos_status_reads_launchctl_print(machine: Machine, mac: Host) -> None:
    logs = machine.home / "Library" / "Logs" / "hygiene-agent" / "agent.log"
    launchctl = Recorder()
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-missing.stderr", 113))
    assert run_service("status", mac, launchctl).splitlines() == [
        "hygiene-agent as a launchd LaunchAgent",
        "  Installed: no (`hygiene service install` installs it)",
        "  Running:   no",
        f"  Logs:      {logs}",
    ]
    run_service("install", mac, launchctl)
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-running.txt"))
    assert run_service("status", mac, launchctl).splitlines()[1:3] == [
        f"  Installed: yes, {machine.home}/Library/LaunchAgents/hygiene-agent.plist",
        "  Running:   yes, process 16776 (launchd: running, last exit code (never exited))",
    ]
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-crashed.txt"))
    assert run_service("status", mac, launchctl).splitlines()[2] == (
        "  Running:   no (launchd: spawn scheduled, last exit code 1)"
    )


def test_macos_uninstall_boots_out_then_removes_what_install_made(
    machine: Machine, mac: Host
) -> None:
    before = files_under(machine.home)
    launchctl = Recorder()
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-missing.stderr", 113))
    run_service("install", mac, launchctl)
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-running.txt"))
    launchctl.calls.clear()

    out = run_service("uninstall", mac, launchctl)
    assert launchctl.calls == [
        ("launchctl", "print", "gui/501/hygiene-agent"),
        ("launchctl", "bootout", "gui/501/hygiene-agent"),
    ]
    assert files_under(machine.home) == before
    assert not (machine.home / "Library" / "Logs" / "hygiene-agent").exists()
    assert out.splitlines() == [
        "Ran: launchctl bootout gui/501/hygiene-agent",
        f"Removed {machine.home}/Library/LaunchAgents/hygiene-agent.plist",
        f"Removed {machine.home}/Library/Logs/hygiene-agent",
        f"Removed {machine.home}/Library/LaunchAgents",
        "The agent no longer runs as a launchd LaunchAgent.",
    ]


def test_macos_uninstall_keeps_the_logs_the_agent_wrote(machine: Machine, mac: Host) -> None:
    launchctl = Recorder()
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-missing.stderr", 113))
    run_service("install", mac, launchctl)
    log = machine.home / "Library" / "Logs" / "hygiene-agent" / "agent.log"
    log.write_text("hygiene: warning: something the person may want to read\n")
    out = run_service("uninstall", mac, launchctl)
    assert log.exists()
    assert f"Kept {log.parent}: other files are in it" in out.splitlines()


def test_macos_dry_run_prints_the_plist_and_commands(machine: Machine, mac: Host) -> None:
    launchctl = Recorder()
    launchctl.answer(["launchctl", "print"], recorded("launchctl-print-missing.stderr", 113))
    before = files_under(machine.home)
    out = run_service("install", mac, launchctl, dry_run=True)
    assert files_under(machine.home) == before
    assert launchctl.calls == [("launchctl", "print", "gui/501/hygiene-agent")]
    plist = machine.home / "Library" / "LaunchAgents" / "hygiene-agent.plist"
    head, _, rest = out.partition("\n")
    assert head == f"Would write {plist} (mode 0644):"
    body, _, tail = rest.partition(f"(end of {plist})\n")
    assert plistlib.loads(body.encode())["ProgramArguments"] == list(MAC_PROGRAM)
    assert tail.splitlines() == [
        f"Would create the folder {machine.home}/Library/Logs/hygiene-agent",
        f"Would run: {shlex.join(['launchctl', 'bootstrap', 'gui/501', str(plist)])}",
        "Nothing was changed (--dry-run).",
    ]


WIN_PROGRAM = (
    "C:\\Users\\Ann & Bo\\AppData\\Local\\hygiene-agent\\venv\\Scripts\\pythonw.exe",
    "-m",
    "agent",
    "run",
)


@pytest.fixture
def windows(machine: Machine) -> Host:
    local = machine.home / "AppData" / "Local"
    return Host(
        platform="win32",
        home=machine.home,
        env={**machine.env(), "LOCALAPPDATA": str(local)},
        program=WIN_PROGRAM,
        state=machine.state / "hygiene-agent",
        user="ANN-LAPTOP\\ann",
    )


def test_windows_install_registers_a_logon_task_from_utf16_xml(
    machine: Machine, windows: Host
) -> None:
    schtasks = Recorder()
    schtasks.answer(["schtasks", "/Query"], recorded("schtasks-query-missing.stderr", 1))
    out = run_service("install", windows, schtasks)

    xml = machine.home / "AppData" / "Local" / "hygiene-agent" / "hygiene-agent.xml"
    assert schtasks.calls == [
        ("schtasks", "/Query", "/TN", "hygiene-agent", "/FO", "LIST", "/V"),
        ("schtasks", "/Create", "/TN", "hygiene-agent", "/XML", str(xml), "/F"),
        ("schtasks", "/Run", "/TN", "hygiene-agent"),
    ]
    data = xml.read_bytes()
    assert data.startswith(b"\xff\xfe")  # UTF-16 with its byte order mark
    task = ET.fromstring(data.decode("utf-16"))  # noqa: S314 (our own file)
    assert task.tag == f"{{{TASK_NS['t']}}}Task"

    def text(path: str) -> str | None:
        return task.findtext(path, namespaces=TASK_NS)

    assert text("t:Triggers/t:LogonTrigger/t:UserId") == "ANN-LAPTOP\\ann"
    assert text("t:Triggers/t:LogonTrigger/t:Enabled") == "true"
    assert text("t:Principals/t:Principal/t:UserId") == "ANN-LAPTOP\\ann"
    assert text("t:Principals/t:Principal/t:LogonType") == "InteractiveToken"
    assert text("t:Principals/t:Principal/t:RunLevel") == "LeastPrivilege"
    assert text("t:Settings/t:Hidden") == "true"
    assert text("t:Settings/t:ExecutionTimeLimit") == "PT0S"  # no time limit
    assert text("t:Settings/t:DisallowStartIfOnBatteries") == "false"
    assert text("t:Settings/t:RestartOnFailure/t:Interval") == "PT1M"
    assert text("t:Settings/t:RestartOnFailure/t:Count") == "10"
    assert text("t:Actions/t:Exec/t:Command") == WIN_PROGRAM[0]  # the & survived escaping
    assert text("t:Actions/t:Exec/t:Arguments") == "-m agent run"
    assert "Task Scheduler keeps no output" in out.splitlines()[-1]


def test_windows_status_reads_schtasks_query(machine: Machine, windows: Host) -> None:
    schtasks = Recorder()
    schtasks.answer(["schtasks", "/Query"], recorded("schtasks-query-missing.stderr", 1))
    lines = run_service("status", windows, schtasks).splitlines()
    assert lines[:3] == [
        "hygiene-agent as a Task Scheduler task",
        "  Installed: no (`hygiene service install` installs it)",
        "  Running:   no",
    ]
    assert lines[3].startswith(
        "  Logs:      Task Scheduler keeps no output; `hygiene notifications`"
    )

    run_service("install", windows, schtasks)
    xml = machine.home / "AppData" / "Local" / "hygiene-agent" / "hygiene-agent.xml"
    schtasks.answer(["schtasks", "/Query"], recorded("schtasks-query-running.txt"))
    assert run_service("status", windows, schtasks).splitlines()[1:3] == [
        f"  Installed: yes, {xml}",
        "  Running:   yes (Task Scheduler: Running, last result 267009)",
    ]
    schtasks.answer(["schtasks", "/Query"], recorded("schtasks-query-ready.txt"))
    assert run_service("status", windows, schtasks).splitlines()[2] == (
        "  Running:   no (Task Scheduler: Ready, last result 1)"
    )


def test_windows_uninstall_ends_and_deletes_the_task_then_its_file(
    machine: Machine, windows: Host
) -> None:
    before = files_under(machine.home)
    schtasks = Recorder()
    schtasks.answer(["schtasks", "/Query"], recorded("schtasks-query-missing.stderr", 1))
    run_service("install", windows, schtasks)
    schtasks.answer(["schtasks", "/Query"], recorded("schtasks-query-running.txt"))
    schtasks.calls.clear()

    run_service("uninstall", windows, schtasks)
    assert schtasks.calls == [
        ("schtasks", "/Query", "/TN", "hygiene-agent", "/FO", "LIST", "/V"),
        ("schtasks", "/End", "/TN", "hygiene-agent"),
        ("schtasks", "/Delete", "/TN", "hygiene-agent", "/F"),
    ]
    assert files_under(machine.home) == before


def test_windows_dry_run_shows_the_task_xml_as_text(machine: Machine, windows: Host) -> None:
    schtasks = Recorder()
    schtasks.answer(["schtasks", "/Query"], recorded("schtasks-query-missing.stderr", 1))
    out = run_service("install", windows, schtasks, dry_run=True)
    assert not (machine.home / "AppData").exists()
    assert "<Command>C:\\Users\\Ann &amp; Bo\\AppData\\Local" in out
    xml = machine.home / "AppData" / "Local" / "hygiene-agent" / "hygiene-agent.xml"
    assert out.splitlines()[-3:] == [
        f"Would run: schtasks /Create /TN hygiene-agent /XML {xml} /F",
        "Would run: schtasks /Run /TN hygiene-agent",
        "Nothing was changed (--dry-run).",
    ]


# A person's install: the wheel and install/install.sh.


def test_the_wheel_carries_the_templates_and_installs_from_anywhere(
    machine: Machine, tmp_path: Path, wheel: Path
) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for template in (
        "hygiene-agent.service",
        "hygiene-agent.plist",
        "hygiene-agent.xml",
        "hygiene-agent-url.desktop",
    ):
        assert f"agent/install/{template}" in names

    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    env = machine.env()
    env["PYTHONPATH"] = os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])
    done = subprocess.run(
        [sys.executable, "-m", "agent", "service", "install", "--dry-run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"Would write {unit_file(machine)} (mode 0644):" in done.stdout
    assert "Restart=on-failure" in done.stdout


def test_install_sh_makes_a_private_venv_and_installs_the_service(
    machine: Machine, tmp_path: Path
) -> None:
    sh = require_tool("sh")
    data = tmp_path / "data home"  # a space, so the unit's quoting is tried for real
    env = machine.env()
    env.update(XDG_DATA_HOME=str(data), PYTHON=sys.executable, PIP_NO_INPUT="1")
    done = subprocess.run(
        [sh, str(REPO / "install" / "install.sh"), str(REPO)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0 and any(t in done.stderr for t in NETWORK_TROUBLE):
        message = f"pip cannot reach the package index: {done.stderr.strip().splitlines()[-1]}"
        if os.environ.get("HYGIENE_REQUIRE_REAL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    assert done.returncode == 0, done.stdout + done.stderr

    venv = data / "hygiene-agent" / "venv"
    hygiene = venv / "bin" / "hygiene"
    assert hygiene.is_file()
    unit = unit_file(machine)
    assert f'ExecStart="{hygiene}" run\n' in unit.read_text()
    checked = verify_unit(unit)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    assert done.stdout.splitlines()[-3:] == [
        "    systemctl --user daemon-reload",
        f"    systemctl --user enable --now {UNIT}",
        f"The hygiene command is {hygiene} (try: {hygiene} status).",
    ]

    status = subprocess.run(
        [str(hygiene), "service", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.stdout.splitlines()[1] == f"  Installed: yes, {unit}"
    # The templates came from the installed package, not from this checkout.
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", WHERE_IS_THE_TEMPLATE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert installed.stdout.strip().startswith(str(venv))
