"""A pydantic plugin installed beside hygiene-agent is not loaded into it.

pydantic imports every distribution that registers a `pydantic` entry point the first time
it builds a validator; a monitoring SDK in the same environment would then ride along in the
resident agent and in every command. hygiene-agent turns that off with pydantic's documented
switch (agent/__init__.py), unless the person set the switch themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Machine, Outcome

PLUGIN = """\
import os
from pathlib import Path

Path(os.environ["PLUGIN_MARKER"]).write_text("loaded")


class Plugin:
    def new_schema_validator(self, *args, **kwargs):
        return None, None, None


plugin = Plugin()
"""


def installed_plugin(site: Path) -> None:
    """A distribution as pip leaves it: a module and a dist-info with a pydantic entry point."""
    site.mkdir()
    (site / "spy_plugin.py").write_text(PLUGIN)
    info = site / "spy_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")


def run_check(
    machine: Machine,
    hygiene_process: Callable[..., Outcome],
    tmp_path: Path,
    switch: str | None,
) -> tuple[Outcome, Path]:
    installed_plugin(tmp_path / "site")
    marker = tmp_path / "plugin-was-loaded"
    env = {k: v for k, v in machine.env().items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env.update(PYTHONPATH=str(tmp_path / "site"), PLUGIN_MARKER=str(marker))
    if switch is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = switch
    outcome = hygiene_process("check", "--only", "ssh_keys", env=env)
    return outcome, marker


def test_a_pydantic_plugin_in_the_environment_is_not_loaded(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    outcome, marker = run_check(machine, hygiene_process, tmp_path, switch=None)
    assert outcome.code == 0, outcome.err
    assert not marker.exists()


def test_the_persons_own_plugin_setting_is_kept(
    machine: Machine, hygiene_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    # Disabling only some other plugin leaves this one on: pydantic loads it, as asked.
    outcome, marker = run_check(machine, hygiene_process, tmp_path, switch="some_other_plugin")
    assert outcome.code == 0, outcome.err
    assert marker.read_text() == "loaded"
