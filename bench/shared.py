"""What the benchmark scripts share: a person's environment in a temporary folder, the
installed `hygiene` and the real tools a script needs, and one way to be interrupted."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from tests.desktop import Desktop


def person_env(root: Path, *, state: bool = True) -> dict[str, str]:
    """This process's environment without its session (bus, display, XDG, HYGIENE_*), for a
    person whose home, config, admin folder and (unless `state` is False: the caller gives
    each run its own) state are under `root`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "HYGIENE_", "DBUS_")) and k != "DISPLAY"
    }
    env.update(
        HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "config"),
        HYGIENE_ADMIN_DIR=str(root / "admin"),
        LANG="C.UTF-8",
    )
    if state:
        env["XDG_STATE_HOME"] = str(root / "state")
    return env


def installed(script: str, tools: Sequence[str]) -> tuple[Path, dict[str, str]] | None:
    """The `hygiene` beside this Python and the paths of `tools`; None, said why, if missing."""
    hygiene = Path(sys.executable).with_name("hygiene")
    if not hygiene.exists():
        print(f"{script}: install the package first: pip install -e .", file=sys.stderr)
        return None
    found = {name: shutil.which(name) for name in tools}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        print(f"{script}: not installed: {', '.join(missing)}", file=sys.stderr)
        return None
    return hygiene, {name: path for name, path in found.items() if path}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interruptible() -> None:
    """Ctrl-C and kill both end in the same clean-up, even where SIGINT came in ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def desktop_and_agent(
    stack: contextlib.ExitStack[bool | None],
    root: Path,
    hygiene: Path,
    env: Mapping[str, str],
    tools: Mapping[str, str],
) -> tuple[Desktop, subprocess.Popen[bytes], Path]:
    """A private desktop (closed with `stack`) and `hygiene run` on it, logging to a file.

    The caller decides how the agent is ended and registers that with `stack` at once."""
    (root / "desktop").mkdir()
    desktop = Desktop(root / "desktop", dict(tools))
    stack.callback(desktop.close)
    desktop.start()
    log = root / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [str(hygiene), "run"],
            env={**env, **desktop.env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    return desktop, agent, log
