"""Where the output cannot go, the commands say so in one sentence (exit 2) or, when no one
reads it, stay quiet; never a traceback, never output silently cut short. Real console
scripts, writing to a file that stops growing, to /dev/full, and with a closed stream."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Machine

SCRIPT = Path(sys.executable).with_name("hygiene")


def run(
    machine: Machine, *argv: str, stdout: object, stderr: object = subprocess.PIPE, **extra: object
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(SCRIPT), *argv],
        env=machine.env(),
        stdout=stdout,
        stderr=stderr,
        timeout=60,
        check=False,
        **extra,
    )


def small_files() -> None:
    # The file stops growing at 8 KiB: the kernel writes what fits, then refuses the rest.
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_output_cut_short_by_a_full_file_is_said(machine: Machine, tmp_path: Path) -> None:
    out = tmp_path / "checks.txt"
    with out.open("wb") as sink:
        done = run(machine, "checks", stdout=sink, preexec_fn=small_files)
    said = done.stderr.decode()
    assert done.returncode == 2, said
    assert said == "hygiene: cannot write the output: file too large\n"
    whole = run(machine, "checks", stdout=subprocess.PIPE).stdout
    assert len(whole) > 8192 and out.stat().st_size == 8192


def test_help_version_and_status_to_a_full_disk_say_so(
    machine: Machine, make_key: Callable[..., Path]
) -> None:
    make_key(machine.ssh / "id_ed25519")
    machine.keep_only("ssh_keys")
    assert run(machine, "run", "--once", stdout=subprocess.DEVNULL).returncode == 0
    for argv in (["--help"], ["--version"], ["status", "--help"], ["status"], ["checks"]):
        with Path("/dev/full").open("wb") as full:
            done = run(machine, *argv, stdout=full)
        said = done.stderr.decode()
        assert done.returncode == 2, (argv, said)
        assert said == "hygiene: cannot write the output: no space left on device\n", argv


def closed_stdout() -> None:
    os.close(1)


def test_a_closed_stdout_is_no_one_reading(machine: Machine, make_key: Callable[..., Path]) -> None:
    make_key(machine.ssh / "id_ed25519")
    machine.keep_only("ssh_keys")
    assert run(machine, "run", "--once", stdout=subprocess.DEVNULL).returncode == 0
    done = run(machine, "status", stdout=None, preexec_fn=closed_stdout)
    assert done.returncode == 1, done.stderr  # failing findings, as always
    assert done.stderr == b""
    done = run(machine, "snooze", "ssh_keys", "1h", stdout=None, preexec_fn=closed_stdout)
    assert (done.returncode, done.stderr) == (0, b"")
    status = json.loads(run(machine, "status", "--json", stdout=subprocess.PIPE).stdout)
    assert [f["snoozed_until"] is not None for f in status["failing"]] == [True]


def test_a_warning_with_stderr_closed_goes_nowhere_and_the_snooze_is_kept(
    machine: Machine,
) -> None:
    state = machine.state / "hygiene-agent"
    state.mkdir(parents=True, mode=0o700)
    (state / "store.db").write_bytes(b"not a database, just bytes" * 100)
    done = run(
        machine,
        "snooze",
        "vpn",
        "1h",
        stdout=subprocess.PIPE,
        stderr=None,
        preexec_fn=lambda: os.close(2),
    )
    assert done.returncode == 0
    assert done.stdout.decode().startswith("vpn is snoozed until")
    assert list(state.glob("store.db.corrupt-*"))


def test_an_error_with_stderr_full_still_exits_2(machine: Machine, tmp_path: Path) -> None:
    with Path("/dev/full").open("wb") as full:
        done = run(
            machine,
            "policy",
            "validate",
            str(tmp_path / "none.yaml"),
            stdout=subprocess.PIPE,
            stderr=full,
        )
    assert done.returncode == 2
