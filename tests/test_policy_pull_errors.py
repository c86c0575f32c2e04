"""Only the sources the policy in force names are said to have failed (issue 15 review).

Real `hygiene` processes: an admin file names a source nothing listens on; once the file is
removed, its pull error leaves `hygiene status` and `hygiene policy show`, restarts or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.conftest import Machine, Outcome

DEAD = "https://127.0.0.1:1/x.yaml"


def test_a_removed_source_is_no_longer_said_to_have_failed(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    machine.keep_only("ssh_keys")
    machine.admin_policies.mkdir(parents=True, exist_ok=True)
    admin = machine.admin_policies / "pull.yaml"
    admin.write_text(f'schema: 1\nsources: {{urls: ["{DEAD}"]}}\n')
    hygiene_process("run", "--once")
    said = json.loads(hygiene_process("status", "--json").out)["policy_rejected"]
    assert len(said) == 1
    assert "could not be fetched" in said[0]
    assert "pull failed" in hygiene_process("policy", "show").out

    admin.unlink()
    hygiene_process("run", "--once")
    for _again in range(2):  # and so it stays, run after run
        assert json.loads(hygiene_process("status", "--json").out)["policy_rejected"] == []
        assert "POLICY" not in hygiene_process("status").out
        assert "pull failed" not in hygiene_process("policy", "show").out
        shown = json.loads(hygiene_process("policy", "show", "--json").out)
        assert shown["admin"]["pull_failed"] == []
        hygiene_process("run", "--once")
