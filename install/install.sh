#!/bin/sh
# Installs hygiene-agent for one person, with no root: a private Python environment in
# their data folder, the package in it, then the agent as a service of their own.
#
#   install/install.sh [SOURCE]
#
# SOURCE is what pip installs: a checkout, an sdist or a wheel (default: the checkout this
# script is in). PYTHON names the interpreter (default: python3, 3.11 or newer); pip's
# own PIP_* variables pass through, e.g. PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR offline.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
source=${1:-$(dirname "$here")}
python=${PYTHON:-python3}

# The XDG base directory spec ignores a relative XDG_DATA_HOME.
case ${XDG_DATA_HOME:-} in
/*) data=$XDG_DATA_HOME ;;
*)
    if [ "$(uname -s)" = Darwin ]; then
        data="$HOME/Library/Application Support"
    else
        data="$HOME/.local/share"
    fi
    ;;
esac
venv="$data/hygiene-agent/venv"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "install.sh: $python is not installed; hygiene-agent needs Python 3.11 or newer" >&2
    exit 2
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install.sh: hygiene-agent needs Python 3.11 or newer;" \
        "name one with PYTHON=/path/to/python3.11" >&2
    exit 2
fi

echo "Installing hygiene-agent from $source into $venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$source"
"$venv/bin/hygiene" service install
echo "The hygiene command is $venv/bin/hygiene (try: $venv/bin/hygiene status)."
