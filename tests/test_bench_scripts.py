"""Every bench script starts as the README writes it (`.venv/bin/python bench/NAME.py`), from
any folder: the figures the README quotes must stay reproducible by copying its command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.stem not in ("__init__", "shared"))


def test_there_are_bench_scripts() -> None:
    assert "soak.py" in SCRIPTS and "fuzz_policy.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bench_script_starts_from_any_folder(script: str, tmp_path: Path) -> None:
    # -I: nothing from the working folder or PYTHONPATH, as from a fresh shell elsewhere.
    done = subprocess.run(
        [sys.executable, "-I", str(BENCH / script), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
