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


def test_the_sources_of_every_admin_file_add_up_to_at_most_twenty(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    machine.admin_policies.mkdir(parents=True, exist_ok=True)

    def write(name: str, numbers: range) -> None:
        lines = "".join(f"    - https://127.0.0.1:1/{name}-{n}.yaml\n" for n in numbers)
        (machine.admin_policies / f"{name}.yaml").write_text(
            f"schema: 1\nsources:\n  urls:\n{lines}"
        )

    write("a", range(6))
    write("b", range(6))
    write("c", range(6))
    (machine.admin_policies / "d.yaml").write_text(
        "schema: 1\nsources: {urls: ['https://127.0.0.1:1/a-0.yaml']}\n"  # said twice: once
    )
    shown = hygiene_process("policy", "show", "--json")
    urls = json.loads(shown.out)["admin"]["pulled_sources"]["urls"]
    expected = [f"https://127.0.0.1:1/{f}-{n}.yaml" for f in "abc" for n in range(6)]
    assert urls == expected
    assert "left out" not in shown.err

    write("c", range(10))  # 22 addresses in all
    shown = hygiene_process("policy", "show", "--json")
    assert json.loads(shown.out)["admin"]["pulled_sources"]["urls"] == expected[:12] + [
        f"https://127.0.0.1:1/c-{n}.yaml" for n in range(8)
    ]
    assert (
        "hygiene: warning: the admin policy files name 22 policy sources; only the first 20 "
        "are pulled, 2 are left out"
    ) in shown.err
    # The agent pulls them all: one error per source, each said in `hygiene status`.
    hygiene_process("run", "--once")
    said = json.loads(hygiene_process("status", "--json").out)["policy_rejected"]
    assert len([s for s in said if "could not be fetched" in s]) == 20
