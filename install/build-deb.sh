#!/bin/sh
# Builds a Debian package that installs hygiene-agent for every person on a machine:
#
#   install/build-deb.sh [OUTDIR]      -> OUTDIR/hygiene-agent_<version>_<arch>.deb
#
# The package carries the agent and every dependency as wheels (fetched now, at the
# versions tests/constraints.txt pins); its postinst makes /opt/hygiene-agent/venv from
# them with no network. A venv is only sound at the path it was made at (its scripts'
# first lines and pyvenv.cfg name it), and making one at /opt here would change this
# machine, so the venv is made where it is used. The wheels hold compiled code for this
# Python, so the package depends on the same Python minor version.
#
# PYTHON names the interpreter whose version the target runs (default: python3, 3.11 or
# newer); pip's own PIP_* variables pass through. Needs dpkg-deb.
set -eu
umask 022

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
python=${PYTHON:-python3}
prefix=/opt/hygiene-agent

for tool in "$python" dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build-deb.sh: $tool is not installed" >&2
        exit 2
    fi
done
minor=$("$python" -c 'import sys; print(sys.version_info[1])')
if [ "$("$python" -c 'import sys; print(sys.version_info[0])')" != 3 ] || [ "$minor" -lt 11 ]; then
    echo "build-deb.sh: hygiene-agent needs Python 3.11 or newer;" \
        "name one with PYTHON=/path/to/python3.11" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
wheels="$root$prefix/wheels"

# The wheels, from the registry pip is set up to use, then installed once here with no
# index at all: a wheel missing from the set fails the build, not someone's install.
"$python" -m venv "$work/build"
pip="$work/build/bin/python -m pip --quiet --disable-pip-version-check"
$pip wheel --constraint "$repo/tests/constraints.txt" --wheel-dir "$wheels" "$repo"
$pip install --no-index --find-links "$wheels" hygiene-agent
version=$("$work/build/bin/python" -c 'from importlib.metadata import version
print(version("hygiene-agent"))')
arch=$(dpkg --print-architecture)

# The user unit, rendered by the same code as `hygiene service install`, with a header
# of its own instead of the template's (which speaks of the per-person copy).
mkdir -p "$root/usr/lib/systemd/user"
{
    echo "# hygiene-agent for every person on this machine, from the hygiene-agent package."
    echo "# Enabled for all with \`systemctl --global enable\`; a person's own"
    echo "# ~/.config/systemd/user/hygiene-agent.service (\`hygiene service install\`)"
    echo "# takes its place for them. Removing the package removes this file."
    "$work/build/bin/python" -c 'import sys
from pathlib import Path
from agent.service import Host, render_systemd_unit
nowhere = Path("/nonexistent")
host = Host(platform="linux", home=nowhere, env={}, program=(sys.argv[1], "run"), state=nowhere)
sys.stdout.write(render_systemd_unit(host))' "$prefix/venv/bin/hygiene" | sed '1,/^\[Unit\]$/{/^#/d;}'
} >"$root/usr/lib/systemd/user/hygiene-agent.service"

mkdir -p "$root/usr/bin" "$root/etc/hygiene-agent/policies.d" "$root/etc/hygiene-agent/keys"
ln -s "$prefix/venv/bin/hygiene" "$root/usr/bin/hygiene"

# The Prometheus alert rules and fleet docs, for the admin's monitoring server to copy.
mkdir -p "$root/usr/share/doc/hygiene-agent/prometheus"
cp "$repo/install/prometheus/hygiene.rules.yml" "$repo/install/prometheus/hygiene.rules.test.yml" \
    "$root/usr/share/doc/hygiene-agent/prometheus/"
cp "$repo/docs/fleet.md" "$root/usr/share/doc/hygiene-agent/"

mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: hygiene-agent
Version: $version
Architecture: $arch
Maintainer: hygiene-agent maintainers <root@localhost>
Depends: python3 (>= 3.$minor), python3 (<< 3.$((minor + 1))), python3-venv
Section: admin
Priority: optional
Installed-Size: $(du -sk "$root" | cut -f1)
Description: audits each person's computer for the lapses that let strangers in
 hygiene-agent runs in every person's session (a systemd user service enabled for
 all users) and says in plain words what to fix: sessions left signed in, weak or
 plain-text passwords in config files, no VPN on untrusted networks, no screen lock,
 secrets others can read. Admin policies go in /etc/hygiene-agent/policies.d and
 their signing keys in /etc/hygiene-agent/keys.
EOF

cat >"$root/DEBIAN/postinst" <<EOF
#!/bin/sh
set -eu
# The venv is read by every person's agent, whatever root's umask.
umask 022
if [ "\$1" = configure ]; then
    # Made afresh from the shipped wheels, with no index and no pip configuration.
    rm -rf $prefix/venv
    /usr/bin/python3 -m venv $prefix/venv
    PIP_CONFIG_FILE=/dev/null $prefix/venv/bin/python -m pip install --quiet \\
        --disable-pip-version-check --no-cache-dir --no-index \\
        --find-links $prefix/wheels hygiene-agent==$version
    if command -v systemctl >/dev/null 2>&1; then
        # Only makes the symlink in /etc/systemd/user: no manager needs to run.
        systemctl --global enable hygiene-agent.service
    else
        echo "hygiene-agent: systemctl is not installed, so the agent is not enabled for" \\
            "every person; each can run \\\`hygiene service install\\\` or start \\\`hygiene run\\\`" >&2
    fi
fi
EOF

cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -eu
if [ "$1" = remove ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --global disable hygiene-agent.service || true
fi
EOF

# Only what postinst made: each person's ~/.local/state/hygiene-agent stays theirs.
cat >"$root/DEBIAN/postrm" <<EOF
#!/bin/sh
set -eu
case "\$1" in
remove | purge) rm -rf $prefix ;;
esac
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

deb="$out/hygiene-agent_${version}_$arch.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
