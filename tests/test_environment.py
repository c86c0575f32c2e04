"""The test environment a fresh machine gets from tests/run.sh is the one the tests need.

A test that starts a tool tests/run.sh does not install passes on a developer's machine and
fails (or silently skips) on a fresh one; these tests catch that before CI does.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import missing_component
from tests.tools import BROUGHT_BY, LIBRARIES, TOOLS

TESTS = Path(__file__).parent
ROOT = TESTS.parent
SUBPROCESS_CALLS = {"run", "Popen", "check_output", "check_call", "call"}


def installed_packages() -> set[str]:
    """The packages tests/run.sh installs: tests/packages.txt without its comments."""
    lines = (TESTS / "packages.txt").read_text(encoding="utf-8").splitlines()
    return {line.split("#", 1)[0].strip() for line in lines} - {""}


def tools_named_in_tests() -> dict[str, set[str]]:
    """Each program name a test file looks up or starts literally, and the files that do."""
    found: dict[str, set[str]] = {}
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("require_tool", "which"):
                candidates = [first]
            elif name in SUBPROCESS_CALLS and isinstance(first, ast.List | ast.Tuple):
                candidates = first.elts[:1]
            else:
                continue
            for candidate in candidates:
                if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                    found.setdefault(candidate.value, set()).add(path.name)
    return found


def test_run_sh_installs_the_listed_packages() -> None:
    script = (TESTS / "run.sh").read_text(encoding="utf-8")
    assert "tests/packages.txt" in script


def test_every_tool_a_test_names_is_registered_with_its_package() -> None:
    named = tools_named_in_tests()
    assert named, "the scan found no tool at all: it is broken"
    unregistered = {tool: sorted(files) for tool, files in named.items() if tool not in TOOLS}
    assert not unregistered, f"add these to tests/tools.py with their package: {unregistered}"


def test_every_registered_tool_is_installed_by_run_sh() -> None:
    packages = installed_packages()
    missing = {
        tool: package
        for tool, package in {**TOOLS, **LIBRARIES}.items()
        if package not in packages and BROUGHT_BY.get(package) not in packages
    }
    assert not missing, f"tests/packages.txt lacks the packages of {missing}"


def _owner(tool: str) -> str | None:
    """The package dpkg says installed `tool`, or None when dpkg does not know the file."""
    found = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if found is None:
        return None
    # With a merged /usr, dpkg knows /bin/ls while PATH finds /usr/bin/ls.
    real = Path(found).resolve()
    candidates = [Path(found), real]
    candidates += [Path(str(p).removeprefix("/usr")) for p in list(candidates)]
    for candidate in dict.fromkeys(candidates):
        done = subprocess.run(
            ["dpkg-query", "-S", str(candidate)], capture_output=True, text=True, check=False
        )
        for line in done.stdout.splitlines():
            match = re.match(r"^([a-z0-9][a-z0-9+.-]*)(:[a-z0-9]+)?: ", line)
            if match and not line.startswith("diversion "):
                return match.group(1)
    return None


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_the_registered_package_is_the_one_that_brings_the_tool(tool: str) -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system: dpkg-query is missing")
    owner = _owner(tool)
    if owner is None:
        missing_component(f"{tool} is not installed here (tests/run.sh installs {TOOLS[tool]})")
    assert owner == TOOLS[tool], f"{tool} comes from {owner}, not {TOOLS[tool]}"


def test_pip_installs_from_the_constraints_file() -> None:
    script = (TESTS / "run.sh").read_text(encoding="utf-8")
    constraints = TESTS / "constraints.txt"
    assert "tests/constraints.txt" in script
    pins = [
        line
        for line in constraints.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert all("==" in pin for pin in pins), "every line of tests/constraints.txt pins a version"
    named = {pin.split("==")[0].lower().replace("_", "-") for pin in pins}
    assert {"pydantic", "pyyaml", "psutil", "pytest", "hypothesis"} <= named
