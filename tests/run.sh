#!/bin/sh
# Installs everything the tests need on a fresh machine, then runs ruff, mypy and pytest.
# System packages come from apt (as root); Python packages go into .venv.
set -eu
cd "$(dirname "$0")/.."

# Real tools the tests start, one Debian package a line with what it is for: tests/packages.txt
# (tests/tools.py says which package brings each tool; tests/test_environment.py keeps the two
# in step).
apt_packages=$(sed 's/#.*//' tests/packages.txt | tr -s ' \n' '  ')
python3 -c "import ensurepip" 2>/dev/null || apt_packages="$apt_packages python3-venv"
missing=""
for package in $apt_packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $package"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    else
        echo "tests/run.sh: not installed:$missing; tests that need it will be skipped" >&2
    fi
fi

python3 -m venv .venv
# Python packages at the versions pinned in tests/constraints.txt, so a run today and a run next
# month test the same thing; HYGIENE_NEWEST=1 takes the newest releases pyproject.toml allows
# instead (tests/refresh-constraints.sh pins those).
if [ -n "${HYGIENE_NEWEST:-}" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager ".[test]"
else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        --constraint tests/constraints.txt ".[test]"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# In CI a missing real component fails its tests instead of skipping them.
if [ -n "${CI:-}" ]; then
    export HYGIENE_REQUIRE_REAL=1
fi
# pytest exits 5 when it collected no test; like any non-zero exit, that fails the run.
# --durations: every run says where its time went (the README quotes the slowest ten).
exec .venv/bin/pytest --durations=10
