#!/bin/sh
# Pins tests/constraints.txt to the newest releases pyproject.toml allows, as a fresh machine
# would get them today. Run it, then `sh tests/run.sh`; commit the new pins when that passes.
set -eu
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check ".[test]"
{
    echo "# The versions tests/run.sh installs; made by tests/refresh-constraints.sh on $(date -u +%Y-%m-%d)."
    "$scratch/venv/bin/python" -m pip freeze --exclude hygiene-agent --exclude pip
} > tests/constraints.txt
echo "tests/constraints.txt: $(grep -vc '^#' tests/constraints.txt) pins"
