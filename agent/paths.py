"""Where the agent reads policies and keeps its state (DESIGN.md, "Paths")."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from agent.text import shown_path

APP = "hygiene-agent"


class Paths(NamedTuple):
    home: Path
    user_policies: Path
    admin_policies: Path
    state: Path
    # The admin folder HYGIENE_ADMIN_DIR replaced (tests), so that what it hides is told.
    admin_replaced: Path | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Paths:
        admin = env.get("HYGIENE_ADMIN_DIR")
        home = Path.home()
        if sys.platform.startswith("linux"):
            config = _xdg(env, home, "XDG_CONFIG_HOME", ".config")
            state = _xdg(env, home, "XDG_STATE_HOME", ".local/state")
            system_dir = Path("/etc") / APP
        else:
            # platformdirs costs 7 ms of start-up (tempfile, shutil, random), a third of
            # what `hygiene status` may take, so it is imported only where its rules are many.
            import platformdirs  # noqa: PLC0415

            config = platformdirs.user_config_path(APP)
            state = platformdirs.user_state_path(APP)
            system_dir = (
                platformdirs.site_config_path(APP, appauthor=False)
                if sys.platform == "win32"
                else Path("/etc") / APP
            )
        admin_dir = Path(admin) if admin else system_dir
        return cls(
            home=home,
            user_policies=config / "policies.d",
            admin_policies=admin_dir / "policies.d",
            state=state,
            admin_replaced=system_dir if admin_dir != system_dir else None,
        )

    def display(self, path: Path) -> str:
        """A path as a person reads it: ~/.ssh/id_rsa rather than /home/ann/.ssh/id_rsa."""
        return shown_path(path, self.home)


def _xdg(env: Mapping[str, str], home: Path, variable: str, default: str) -> Path:
    """The XDG base directory rule, as platformdirs reads it on Linux (tests/test_paths.py
    holds the two together): the variable when it is an absolute path, else the default."""
    value = env.get(variable, "")
    return (Path(value) if value.startswith("/") else home / default) / APP


def shipped(folder: str, name: str) -> Path:
    """A file shipped with the agent: policies/ or install/ in the package (a wheel), or
    beside it (a checkout or an editable install)."""
    package = Path(__file__).resolve().parent
    packaged = package / folder / name
    return packaged if packaged.is_file() else package.parent / folder / name


def builtin_policy_path() -> Path:
    """The built-in default policy, the lowest layer of every policy in force."""
    return shipped("policies", "default.yaml")
