"""A planted canary key and passphrase never appear in any output, log or stored file."""

from __future__ import annotations

import base64
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Machine, Outcome, require_tool

PASSPHRASE = "canary-passphrase-Qx7-do-not-leak"


def kept_on_disk(state: Path) -> list[str]:
    """Every file under the state folder, read every way a value could be written in it."""
    views = []
    for stored in (p for p in state.rglob("*") if p.is_file()):
        data = stored.read_bytes()
        views += [data.decode("latin-1"), data.decode("utf-16-le", "replace"), data.hex()]
    return views


def everything_shown(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
    commands: Sequence[Sequence[str]],
) -> str:
    """All the person and the admin could see after `commands`: each one's output and
    errors, the agent's log, every byte of the state folder, and the store as sqlite3 dumps
    it (a value kept in a page or a free list of the database file shows in the bytes)."""
    caplog.set_level("DEBUG")
    outputs: list[str] = []
    for argv in commands:
        outcome = hygiene(*argv)
        assert "Traceback" not in outcome.err
        outputs += [outcome.out, outcome.err]
    outputs.append(caplog.text)
    outputs += kept_on_disk(machine.state)
    store = machine.state / "hygiene-agent" / "store.db"
    if store.exists():
        dump = subprocess.run(
            [require_tool("sqlite3"), f"file:{store}?mode=ro", ".dump"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        outputs.append(dump.stdout)
    return "\n".join(outputs)


def store_rows(state: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the store in the agent's state folder `state`, in order."""
    db = state / "hygiene-agent" / "store.db"
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        query = "SELECT * FROM {} ORDER BY 1, 2"  # names from sqlite_master, not input
        return {t: conn.execute(query.format(t)).fetchall() for t in tables}
    finally:
        conn.close()


def secret_fragments(key: Path) -> list[str]:
    """Pieces of the key file's content: a leak of any of them is a leak of the key."""
    body = "".join(
        line for line in key.read_text().splitlines() if line and not line.startswith("-----")
    )
    pieces = [body[i : i + 24] for i in range(0, len(body) - 24, 24)]
    raw = base64.b64decode(body + "=" * (-len(body) % 4))
    pieces += [raw[i : i + 16].hex() for i in range(0, len(raw) - 16, 16)]
    return pieces


def test_canary_key_and_passphrase_never_leave_the_process(
    machine: Machine,
    make_key: Callable[..., Path],
    hygiene: Callable[..., Outcome],
    hygiene_process: Callable[..., Outcome],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    protected = make_key(machine.ssh / "id_canary", "rsa", bits=1024, passphrase=PASSPHRASE)
    plain = make_key(machine.ssh / "id_plain_canary", "ed25519")
    pem = make_key(machine.ssh / "id_pem_canary", "rsa", bits=2048, fmt="PEM")
    plain.chmod(0o644)
    (machine.user_policies / "p.yaml").write_text(
        "schema: 1\nchecks:\n  ssh_keys: {extra_paths: [~/.ssh]}\n"
    )

    outputs: list[str] = []
    for argv in (
        ("check",),
        ("check", "--json"),
        ("-v", "check", "--json"),
        ("checks", "--json"),
        ("policy", "show"),
    ):
        outcome = hygiene(*argv)
        outputs += [outcome.out, outcome.err]
    child = hygiene_process("-v", "check")
    outputs += [child.out, child.err]
    outputs.append(caplog.text)
    stored = [p for p in machine.state.rglob("*") if p.is_file()]
    outputs += [p.read_bytes().hex() for p in stored]
    outputs += [p.read_bytes().decode("latin-1") for p in stored]

    everything = "\n".join(outputs)
    assert "id_canary" in everything and "id_plain_canary" in everything  # they were audited
    assert PASSPHRASE not in everything
    for key in (protected, plain, pem):
        for fragment in secret_fragments(key):
            assert fragment not in everything, f"a piece of {key.name} leaked"
    public_blob = (plain.parent / (plain.name + ".pub")).read_text().split()[1]
    assert public_blob[20:60] not in everything
