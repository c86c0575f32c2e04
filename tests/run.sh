#!/bin/sh
# Installs everything the tests need on a fresh machine, then runs ruff, mypy and pytest.
# System packages come from apt (as root); Python packages go into .venv.
set -eu
cd "$(dirname "$0")/.."

# Real tools the tests start: ssh-keygen and puttygen make the keys the ssh_keys tests read;
# Xvfb, a private session bus and dunst receive the notifications; systemd brings
# systemd-analyze, which verifies the user unit `hygiene service install` writes; xdotool and
# libxss1 make and read X11 input; openssh-server and libutempter0 make real logins in utmp;
# git, wpasupplicant (wpa_passphrase), rclone and network-manager (nmcli --offline) write the
# credential files the credentials tests read; iproute2 (ip netns, ip tuntap) builds the
# network namespaces the network tests run in. gsettings (libglib2.0-bin) with GNOME's and
# Cinnamon's schemas, kwriteconfig5 (libkf5config-bin) and xfconf-query (xfconf; bookworm's
# package forgets its library, libxfconf-0-3) write the desktop settings the screen_lock and
# privacy_settings tests read; xautolock and xscreensaver are real idle lockers; fscrypt and
# e2fsprogs make an encrypted home folder, btrfs-progs a btrfs file system, for
# disk_encryption. prometheus-node-exporter and the sqlite3 shell read the fleet reports as
# node_exporter and osquery do; openssl makes the HTTPS certificates and checks signatures.
apt_packages="openssh-client putty-tools xvfb dbus dbus-x11 dunst libnotify-bin x11-utils systemd xdotool libxss1 openssh-server libutempter0 git wpasupplicant rclone network-manager iproute2 libglib2.0-bin gsettings-desktop-schemas cinnamon-desktop-data libkf5config-bin xfconf libxfconf-0-3 xautolock xscreensaver fscrypt e2fsprogs btrfs-progs prometheus-node-exporter sqlite3 openssl"
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
.venv/bin/python -m pip install --quiet --disable-pip-version-check ".[test]"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# In CI a missing real component fails its tests instead of skipping them.
if [ -n "${CI:-}" ]; then
    export HYGIENE_REQUIRE_REAL=1
fi
# pytest exits 5 when it collected no test; like any non-zero exit, that fails the run.
exec .venv/bin/pytest
