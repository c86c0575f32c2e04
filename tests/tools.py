"""Every external program a test starts, and the Debian package that brings it.

`require_tool` refuses a name missing here, and tests/test_environment.py checks that each
package is in tests/packages.txt (what tests/run.sh installs) and, where the tool is on this
machine, that the package really is the one that installed it. A test that starts a new tool
adds it here first, so a fresh machine cannot be missing it without a test saying so.
"""

from __future__ import annotations

TOOLS: dict[str, str] = {
    "ssh-keygen": "openssh-client",
    "ssh": "openssh-client",
    "puttygen": "putty-tools",
    "sshd": "openssh-server",
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus-daemon",
    "dbus-monitor": "dbus-bin",
    "dunst": "dunst",
    "dunstctl": "dunst",
    "notify-send": "libnotify-bin",
    "systemd-analyze": "systemd",
    "xdotool": "xdotool",
    "import": "imagemagick-6.q16",
    "git": "git",
    "wpa_passphrase": "wpasupplicant",
    "rclone": "rclone",
    "nmcli": "network-manager",
    "ip": "iproute2",
    "gsettings": "libglib2.0-bin",
    "gio": "libglib2.0-bin",
    "xdg-mime": "xdg-utils",
    "xdg-open": "xdg-utils",
    "desktop-file-validate": "desktop-file-utils",
    "kwriteconfig5": "libkf5config-bin",
    "kreadconfig5": "libkf5config-bin",
    "xfconf-query": "xfconf",
    "xautolock": "xautolock",
    "xscreensaver": "xscreensaver",
    "xss-lock": "xss-lock",
    "fscrypt": "fscrypt",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.btrfs": "btrfs-progs",
    "losetup": "mount",
    "mount": "mount",
    "umount": "mount",
    "prometheus-node-exporter": "prometheus-node-exporter",
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "sqlite3": "sqlite3",
    "openssl": "openssl",
    "install": "coreutils",
    "sleep": "coreutils",
    "tail": "coreutils",
    "touch": "coreutils",
    "sh": "dash",
    "dpkg-query": "dpkg",
    "dpkg": "dpkg",
    "dpkg-deb": "dpkg",
    "setpriv": "util-linux",
    "setfacl": "acl",
    "chmod": "coreutils",
    "chgrp": "coreutils",
    "chown": "coreutils",
    "useradd": "passwd",
    "userdel": "passwd",
    "unshare": "util-linux",
    "java": "openjdk-17-jre-headless",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "certutil": "libnss3-tools",
    "firefox-esr": "firefox-esr",
    "gnome-keyring-daemon": "gnome-keyring",
    "nft": "nftables",
    "iptables-nft-restore": "iptables",
    "ufw": "ufw",
    "firewalld": "firewalld",
    "firewall-cmd": "firewalld",
    "apt-get": "apt",
    "apt-config": "apt",
    "apt-ftparchive": "apt-utils",
}

# Shared libraries the tests load with ctypes, and their packages.
LIBRARIES: dict[str, str] = {"utempter": "libutempter0"}

# Packages that depend on the named one and so bring it along: dbus brings dbus-daemon and
# dbus-bin, which Debian split out of it.
BROUGHT_BY: dict[str, str] = {
    "dbus-daemon": "dbus",
    "dbus-bin": "dbus",
    "openjdk-17-jre-headless": "openjdk-17-jdk-headless",
    "imagemagick-6.q16": "imagemagick",
}
