"""Remmina's passwords are encrypted with the key in remmina.pref, which sits in the same
home: the check decrypts them with it. The cases in data/credentials/remmina place one file;
these place the profile together with the preferences that hold the key."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.test_credential_formats import DATA, said, scan_case

SAMPLES = DATA / "remmina"
PROFILE = "group_rdp_office-desktop_rdp-example-com.remmina"
SECRETS = ("ann2024!", "x7Kq9#mZ2vLw8RtP4nBy6jHd")


def _home(tmp_path: Path, pref: Path) -> Path:
    home = tmp_path / "home"
    (home / ".config" / "remmina").mkdir(parents=True)
    shutil.copyfile(pref, home / ".config" / "remmina" / "remmina.pref")
    return home


def test_passwords_are_decrypted_with_the_key_beside_them(tmp_path: Path) -> None:
    home = _home(tmp_path, SAMPLES / "remmina.pref")
    answer = scan_case(home, "remmina", SAMPLES / PROFILE, f"~/.local/share/remmina/{PROFILE}")
    records = [r for r in answer["files"].values() if r["family"] == "remmina"]
    assert [r["note"] for r in records] == [None]
    facts = [
        {k: f[k] for k in ("line", "field", "kind", "level", "target", "encoding")}
        for f in records[0]["facts"]
    ]
    encoding = "Remmina's reversible encryption (key kept beside it)"
    assert facts == [
        {
            "line": 2,
            "field": "password",
            "kind": "password",
            "level": "weak",
            "target": "connection Office desktop (server rdp.example.com, user ann)",
            "encoding": encoding,
        },
        {
            "line": 15,
            "field": "ssh_tunnel_password",
            "kind": "password",
            "level": "strong",
            "target": "connection Office desktop (SSH tunnel jump.example.com, user ann)",
            "encoding": encoding,
        },
    ]
    for secret in SECRETS:
        assert secret not in said(answer), "a secret value left the scanner"


def test_a_pref_without_its_secret_decrypts_nothing(tmp_path: Path) -> None:
    pref = tmp_path / "remmina.pref"
    lines = (SAMPLES / "remmina.pref").read_text().splitlines(keepends=True)
    pref.write_text("".join(line for line in lines if not line.startswith("secret=")))
    home = _home(tmp_path, pref)
    answer = scan_case(home, "remmina", SAMPLES / PROFILE, f"~/.config/remmina/{PROFILE}")
    records = [r for r in answer["files"].values() if r["family"] == "remmina"]
    assert records
    assert [f for r in records for f in r["facts"]] == []
