"""Every config format the credentials check reads: the one explicit list, like ALL_CHECKS."""

from __future__ import annotations

from agent.credentials.families.apt_auth import AptAuth
from agent.credentials.families.aws import Aws
from agent.credentials.families.composer import Composer
from agent.credentials.families.docker import Docker
from agent.credentials.families.dotenv import Dotenv
from agent.credentials.families.fetchmail import Fetchmail
from agent.credentials.families.filezilla import FileZilla
from agent.credentials.families.gh import Gh
from agent.credentials.families.git_credentials import GitCredentials
from agent.credentials.families.guessed import Guessed
from agent.credentials.families.kube import Kube
from agent.credentials.families.maven import Maven
from agent.credentials.families.mutt import Mutt
from agent.credentials.families.my_cnf import MyCnf
from agent.credentials.families.netrc import Netrc
from agent.credentials.families.networkmanager import NetworkManager
from agent.credentials.families.npmrc import Npmrc
from agent.credentials.families.pgpass import Pgpass
from agent.credentials.families.pidgin import Pidgin
from agent.credentials.families.pypirc import Pypirc
from agent.credentials.families.rclone import Rclone
from agent.credentials.families.remmina import Remmina
from agent.credentials.families.s3cfg import S3cfg
from agent.credentials.families.unattend import Unattend
from agent.credentials.families.wpa_supplicant import WpaSupplicant
from agent.credentials.model import Family

FAMILIES: tuple[type[Family], ...] = (
    AptAuth,
    Aws,
    Composer,
    Docker,
    Dotenv,
    Fetchmail,
    FileZilla,
    Gh,
    GitCredentials,
    Kube,
    Maven,
    Mutt,
    MyCnf,
    Netrc,
    NetworkManager,
    Npmrc,
    Pgpass,
    Pidgin,
    Pypirc,
    Rclone,
    Remmina,
    S3cfg,
    Unattend,
    WpaSupplicant,
    # Last: a file is read by the first family whose names it matches, and this one's are
    # only extensions.
    Guessed,
)
