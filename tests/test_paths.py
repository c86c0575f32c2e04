"""On Linux the agent finds its folders by the XDG rule itself (platformdirs costs the light
commands a third of their start-up); here it must agree with platformdirs, the library
DESIGN.md names for these paths, in every environment a person's session can have."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from agent.paths import APP, Paths

VALUES = {
    "unset": None,
    "empty": "",
    "relative": "relative/dir",
    "tilde": "~/elsewhere",
    "absolute": "/srv/people/ann/xdg",
    "trailing slash": "/srv/people/ann/xdg/",
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG rule is Linux's")
@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_config_and_state_folders_are_where_platformdirs_puts_them(
    value: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for variable in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    paths = Paths.from_environment()
    assert paths.state == platformdirs.user_state_path(APP)
    assert paths.user_policies == platformdirs.user_config_path(APP) / "policies.d"
    if not value or not value.startswith("/"):
        assert paths.state == tmp_path / ".local" / "state" / APP
