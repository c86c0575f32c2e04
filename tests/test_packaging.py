"""A non-editable install carries the built-in policy: users do not run from a checkout."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.conftest import Machine


def test_wheel_carries_the_policies_and_runs_from_anywhere(
    machine: Machine, tmp_path: Path, wheel: Path
) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "agent/policies/default.yaml" in names
    assert "agent/policies/schema.json" in names

    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    site = next((venv / "lib").glob("python3*/site-packages"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    # Dependencies come from the test environment, after the new install on sys.path.
    (site / "zz-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import agent, sys; from agent.cli import main; print(agent.__file__, file=sys.stderr);"
            " sys.exit(main(['check', '--json', '--only', 'ssh_keys']))",
        ],
        env=machine.env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().startswith(str(site))
    report = json.loads(done.stdout)
    assert report["policy"]["sources"] == ["built-in default"]
    (ssh,) = [r for r in report["results"] if r["check"] == "ssh_keys"]
    assert ssh["advice"].startswith("Use a strong passphrase on every SSH key")
