"""Every config format the credentials check reads: the one explicit list, like ALL_CHECKS.

Each entry says where the format's files are and names its parser, a Family subclass in the
module named like the entry's id. Finding files needs every entry; a parser is imported only
when a file of its format is read, so the scanning child starts in the same time whatever
the number of formats (bench/scanner_start.py).
"""

from __future__ import annotations

from agent.credentials import GUESSED, GUESSED_NAMES
from agent.credentials.model import Format

FAMILIES: tuple[Format, ...] = (
    Format("apt_auth", "AptAuth", paths=("/etc/apt/auth.conf", "/etc/apt/auth.conf.d/*")),
    Format("aws", "Aws", paths=("~/.aws/credentials", "~/.aws/config")),
    Format(
        "composer",
        "Composer",
        paths=(
            "$COMPOSER_HOME/auth.json",
            "$XDG_CONFIG_HOME/composer/auth.json",
            "~/.composer/auth.json",
        ),
    ),
    Format(
        "docker",
        "Docker",
        paths=(
            "$DOCKER_CONFIG/config.json",
            "~/.dockercfg",
            "$XDG_RUNTIME_DIR/containers/auth.json",
            "$XDG_CONFIG_HOME/containers/auth.json",
        ),
    ),
    Format("dotenv", "Dotenv", project_files=(".env", ".env.*", "*.env")),
    Format("fetchmail", "Fetchmail", paths=("~/.fetchmailrc",)),
    Format(
        "filezilla",
        "FileZilla",
        paths=(
            "$XDG_CONFIG_HOME/filezilla/sitemanager.xml",
            "$XDG_CONFIG_HOME/filezilla/recentservers.xml",
            "~/.filezilla/sitemanager.xml",
            "~/.filezilla/recentservers.xml",
        ),
    ),
    Format("gh", "Gh", paths=("$XDG_CONFIG_HOME/gh/hosts.yml", "$GH_CONFIG_DIR/hosts.yml")),
    Format(
        "git_credentials",
        "GitCredentials",
        paths=("~/.git-credentials", "$XDG_CONFIG_HOME/git/credentials"),
    ),
    Format("kube", "Kube", paths=("~/.kube/config",)),
    Format("maven", "Maven", paths=("~/.m2/settings.xml", "/etc/maven/settings.xml")),
    Format(
        "mutt",
        "Mutt",
        paths=(
            "~/.muttrc",
            "~/.mutt/muttrc",
            "$XDG_CONFIG_HOME/mutt/muttrc",
            "~/.neomuttrc",
            "~/.neomutt/neomuttrc",
            "$XDG_CONFIG_HOME/neomutt/neomuttrc",
        ),
    ),
    Format("my_cnf", "MyCnf", paths=("~/.my.cnf",)),
    Format("netrc", "Netrc", paths=("~/.netrc", "~/_netrc")),
    Format(
        "networkmanager",
        "NetworkManager",
        paths=(
            "/etc/NetworkManager/system-connections/*",
            "/run/NetworkManager/system-connections/*.nmconnection",
        ),
    ),
    Format(
        "npmrc",
        "Npmrc",
        paths=("~/.npmrc", "/etc/npmrc", "/usr/local/etc/npmrc"),
        project_files=(".npmrc",),
    ),
    Format("pgpass", "Pgpass", paths=("~/.pgpass",)),
    Format("pidgin", "Pidgin", paths=("~/.purple/accounts.xml",)),
    Format("pypirc", "Pypirc", paths=("~/.pypirc",)),
    Format("rclone", "Rclone", paths=("$XDG_CONFIG_HOME/rclone/rclone.conf", "~/.rclone.conf")),
    Format(
        "remmina",
        "Remmina",
        paths=(
            "$XDG_DATA_HOME/remmina/*.remmina",
            "$XDG_CONFIG_HOME/remmina/*.remmina",
            "~/.remmina/*.remmina",
        ),
    ),
    Format("s3cfg", "S3cfg", paths=("~/.s3cfg",)),
    # Where Windows Setup looks for an answer file and where it caches the one it used.
    Format(
        "unattend",
        "Unattend",
        paths=(
            "C:/Windows/Panther/unattend.xml",
            "C:/Windows/Panther/Unattend/unattend.xml",
            "C:/Windows/Panther/Unattend.xml",
            "C:/Windows/System32/sysprep/unattend.xml",
            "C:/Windows/System32/Sysprep/Panther/unattend.xml",
            "C:/unattend.xml",
        ),
    ),
    Format(
        "wpa_supplicant",
        "WpaSupplicant",
        paths=("/etc/wpa_supplicant/*.conf", "/etc/wpa_supplicant.conf"),
    ),
    # Last: a file is read by the first format whose names it matches, and this one's are
    # only extensions and common names.
    Format(GUESSED, "Guessed", project_files=GUESSED_NAMES),
)
