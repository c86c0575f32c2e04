"""Files written by the real tools, read by the credentials check through `hygiene check`:
wpa_passphrase, git's credential helpers, rclone, nmcli --offline and ssh-keygen."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Machine, Outcome, require_tool
from tests.test_credentials import policy


def audit(hygiene: Callable[..., Outcome]) -> list[dict[str, Any]]:
    outcome = hygiene("check", "--json", "--only", "credentials")
    assert outcome.code in (0, 1), outcome.err
    (result,) = json.loads(outcome.out)["results"]
    assert result["status"] in ("pass", "fail"), result["error"]
    assert not result["notes"], result["notes"]
    findings: list[dict[str, Any]] = result["findings"]
    return findings


def tool(machine: Machine, *argv: str, stdin: str = "") -> str:
    done = subprocess.run(
        [require_tool(argv[0]), *argv[1:]],
        input=stdin,
        env=machine.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_wpa_passphrase_output_holds_the_passphrase_and_the_key(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    conf = machine.home / "wifi.conf"
    conf.write_text(tool(machine, "wpa_passphrase", "Harbour", "Harbour2024"))
    conf.chmod(0o600)
    policy(machine, extra_files=[{"path": "~/wifi.conf", "format": "wpa_supplicant"}])
    findings = audit(hygiene)
    assert [(f["evidence"]["field"], f["evidence"]["reason"]) for f in findings] == [
        ("#psk", "weak password"),  # the commented passphrase is the plain one
        ("psk", "plaintext token"),  # the derived key joins the network as well
    ]
    assert "network name" in findings[0]["message"]
    out = json.dumps(findings)
    assert "Harbour" not in out  # neither the passphrase nor the network's name


def test_git_credential_store_is_flagged_and_a_memory_cache_is_not(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    request = "protocol=https\nhost=git.example.com\nusername=ann\npassword=changeme\n\n"
    cache = f"cache --timeout=60 --socket={machine.home}/git-cache.sock"
    tool(machine, "git", "-c", f"credential.helper={cache}", "credential", "approve", stdin=request)
    try:
        assert not (machine.home / ".git-credentials").exists()
        assert audit(hygiene) == []
    finally:
        tool(machine, "git", "credential-cache", f"--socket={machine.home}/git-cache.sock", "exit")
    tool(machine, "git", "-c", "credential.helper=store", "credential", "approve", stdin=request)
    (finding,) = audit(hygiene)
    assert finding["subject"] == "~/.git-credentials"
    assert finding["message"].startswith(
        "~/.git-credentials, line 1: the password for git.example.com (user ann) is weak: "
    )
    assert "it is on the list of common and default passwords" in finding["message"]


def test_rclone_obscured_password_is_revealed_only_to_grade_it(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    conf = machine.config / "rclone" / "rclone.conf"
    tool(
        machine,
        "rclone",
        "config",
        "create",
        "files",
        "sftp",
        "host=files.example.com",
        "user=ann",
        "pass=Summer2023!",
        "--config",
        str(conf),
    )
    assert "Summer2023!" not in conf.read_text()  # rclone obscured it
    (finding,) = audit(hygiene)
    assert finding["evidence"]["reason"] == "plaintext password"
    assert finding["evidence"]["level"] == "fair"
    assert "rclone obscure" in finding["message"]
    assert "Summer2023!" not in json.dumps(finding)


def nm_keyfile(machine: Machine, *settings: str) -> str:
    return tool(machine, "nmcli", "--offline", "connection", "add", "type", "wifi", *settings)


def test_networkmanager_keyfiles_from_nmcli_and_the_keyring_flag(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    folder = machine.home / "system-connections"
    folder.mkdir()
    wifi = ("ssid", "Cafe", "wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk", "Cafe2024")
    (folder / "plain.nmconnection").write_text(nm_keyfile(machine, "con-name", "Plain", *wifi))
    (folder / "agent.nmconnection").write_text(
        nm_keyfile(machine, "con-name", "Agent", *wifi, "wifi-sec.psk-flags", "1")
    )
    for keyfile in folder.iterdir():
        keyfile.chmod(0o600)
    extra = {"path": "~/system-connections/*.nmconnection", "format": "networkmanager"}
    policy(machine, extra_files=[extra])
    (finding,) = audit(hygiene)
    assert finding["subject"] == "~/system-connections/plain.nmconnection"
    assert finding["evidence"]["reason"] == "weak password"
    assert "connection Plain" in finding["message"]
    assert "Cafe" not in json.dumps(finding).replace("Cafe2024", "")  # no network name
    assert "Cafe2024" not in json.dumps(finding)


def test_a_key_made_by_ssh_keygen_inside_a_kube_config_is_a_token(
    machine: Machine, hygiene: Callable[..., Outcome], make_key: Callable[..., Path]
) -> None:
    policy(machine)
    key = make_key(machine.home / "client-key", "rsa", bits=2048, fmt="PEM")
    data = base64.b64encode(key.read_bytes()).decode()
    config = machine.home / ".kube" / "config"
    config.parent.mkdir()
    config.write_text(
        "apiVersion: v1\nkind: Config\nusers:\n- name: ann\n  user:\n"
        f"    client-certificate-data: Y2VydA==\n    client-key-data: {data}\n"
        "- name: bob\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
        "      command: kubelogin\n"
    )
    config.chmod(0o600)
    (finding,) = audit(hygiene)
    assert finding["evidence"]["reason"] == "plaintext token"
    assert finding["severity"] == "low"
    assert "user ann" in finding["message"]
    assert data[:40] not in json.dumps(finding)
