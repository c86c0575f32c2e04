"""home_folders on folders made and opened by real tools: useradd, chmod, chgrp, setfacl."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Machine, require_root, require_tool, run_hygiene


def tool(*argv: str) -> None:
    done = subprocess.run(
        [require_tool(argv[0]), *argv[1:]], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def audit(machine: Machine, *policy: str) -> dict[str, Any]:
    """`hygiene check --only home_folders --json`, as the person runs it."""
    if policy:
        (machine.user_policies / "50-home.yaml").write_text(
            "schema: 1\nchecks:\n  home_folders:\n" + "".join(f"    {p}\n" for p in policy)
        )
    outcome = run_hygiene(["check", "--only", "home_folders", "--json"], machine.env())
    assert outcome.code in (0, 1), outcome.err
    assert "Traceback" not in outcome.err
    result: dict[str, Any] = json.loads(outcome.out)["results"][0]
    assert result["check"] == "home_folders"
    return result


def found(result: dict[str, Any]) -> dict[str, str]:
    return {f["subject"]: f["evidence"]["reason"] for f in result["findings"]}


def folders(machine: Machine, home: int, **below: int) -> None:
    """The home folder and the folders below it (".config": 0o755) with these modes."""
    for name, mode in below.items():
        folder = machine.home / name.replace("__", "/")
        folder.mkdir(parents=True, exist_ok=True)
        tool("chmod", f"{mode:o}", str(folder))
    tool("chmod", f"{home:o}", str(machine.home))


@pytest.fixture
def account() -> Iterator[tuple[str, Path]]:
    """A real account with the home folder Debian's `useradd -m` makes."""
    require_root("useradd makes a real account")
    name = f"hyg-home-{os.urandom(3).hex()}"
    parent = Path(tempfile.mkdtemp(prefix="hygiene-homes-"))
    parent.chmod(0o755)
    home = parent / name
    made = subprocess.run(
        [require_tool("useradd"), "--home-dir", str(home), "--create-home",
         "--shell", "/usr/sbin/nologin", "--user-group", name],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        yield name, home
    finally:
        userdel = [require_tool("userdel"), "--remove", name]
        subprocess.run(userdel, capture_output=True, check=False)
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def neighbour() -> Iterator[str]:
    """Another real account on this computer, in a group of its own that the tests use."""
    require_root("useradd makes a real account")
    name = f"hyg-nb-{os.urandom(3).hex()}"
    made = subprocess.run(
        [require_tool("useradd"), "--no-create-home", "--shell", "/usr/sbin/nologin",
         "--user-group", name],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        yield name
    finally:
        subprocess.run([require_tool("userdel"), name], capture_output=True, check=False)


def test_the_home_useradd_makes_is_reported_until_its_owner_closes_it(
    account: tuple[str, Path], tmp_path: Path
) -> None:
    name, home = account
    assert home.stat().st_mode & 0o777 == 0o755  # what the issue is about
    machine = Machine(home, tmp_path / "config", tmp_path / "state", tmp_path / "admin")
    outcome = run_hygiene(["check", "--only", "home_folders"], machine.env())
    assert outcome.code == 1, outcome.err
    assert "Your home folder (~) can be listed by every account on this computer" in outcome.out
    assert "chmod 700 ~" in outcome.out
    result = audit(machine)
    assert found(result) == {"~": "listed by others"}
    assert result["findings"][0]["evidence"]["mode"] == "0755"

    # The person follows the advice, as themselves.
    uid = pwd.getpwnam(name).pw_uid
    chmod = subprocess.run(
        [require_tool("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--init-groups", "--",
         require_tool("chmod"), "700", str(home)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert chmod.returncode == 0, chmod.stderr
    after = audit(machine)
    assert after["status"] == "pass", after
    # Its own group, which no one else is in, may list it.
    tool("chmod", "750", str(home))
    assert audit(machine)["status"] == "pass"


def test_a_folder_inside_is_open_only_when_others_can_get_to_it(machine: Machine) -> None:
    folders(machine, 0o700, **{".config": 0o755, ".local": 0o755, ".local__share": 0o755})
    assert audit(machine)["status"] == "pass"

    # 711: others may pass through the home folder (allowed by default), and then list these.
    tool("chmod", "711", str(machine.home))
    assert found(audit(machine)) == {
        "~/.config": "listed by others",
        "~/.local/share": "listed by others",
    }
    tool("chmod", "700", str(machine.home / ".local"))
    assert found(audit(machine)) == {"~/.config": "listed by others"}

    # Passing through is refused when the policy says so.
    tool("chmod", "700", str(machine.home / ".config"))
    result = audit(machine, "allow_pass: false")
    assert found(result) == {"~": "passed by others"}
    assert "chmod 711" not in result["findings"][0]["advice"]


def test_a_folder_others_can_change_is_the_worst(machine: Machine) -> None:
    folders(machine, 0o711, **{".gnupg": 0o777})
    result = audit(machine)
    assert found(result) == {"~/.gnupg": "changed by others"}
    (finding,) = result["findings"]
    assert finding["severity"] == "high"
    assert finding["advice"] == "Run: chmod 700 ~/.gnupg"


def test_a_shared_group_counts_and_the_owners_own_group_does_not(
    machine: Machine, neighbour: str
) -> None:
    folders(machine, 0o750)
    assert audit(machine)["status"] == "pass"  # root's own group: no other account is in it
    tool("chgrp", neighbour, str(machine.home))
    result = audit(machine)
    assert found(result) == {"~": "listed by others"}
    assert f"by the account {neighbour} " in result["findings"][0]["message"]


def test_access_given_one_way_through_and_another_inside_is_followed(
    machine: Machine, neighbour: str
) -> None:
    """The usual way to let a web server into ~/public_html: pass through ~ by an access
    list entry, then the folder's mode for everyone."""
    folders(machine, 0o700, **{".config": 0o755})
    assert audit(machine)["status"] == "pass"
    tool("setfacl", "-m", f"u:{neighbour}:x", str(machine.home))
    result = audit(machine)
    assert found(result) == {"~/.config": "listed by others"}
    assert f"the account {neighbour} " in result["findings"][0]["message"]
    # In through the group instead, with the home folder closed to everyone else.
    tool("setfacl", "-b", str(machine.home))
    tool("chgrp", neighbour, str(machine.home))
    tool("chmod", "710", str(machine.home))
    assert found(audit(machine)) == {"~/.config": "listed by others"}


def test_a_folder_another_account_owns_is_reported(machine: Machine, neighbour: str) -> None:
    folders(machine, 0o700, **{".gnupg": 0o700})
    tool("chown", neighbour, str(machine.home / ".gnupg"))
    result = audit(machine)
    assert found(result) == {"~/.gnupg": "owned by another account"}
    (finding,) = result["findings"]
    assert finding["severity"] == "high"
    assert neighbour in finding["message"]
    assert 'sudo chown -R "$USER:" ~/.gnupg' in finding["advice"]


def test_folders_named_by_the_policy_are_where_they_say(machine: Machine, tmp_path: Path) -> None:
    folders(machine, 0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    tool("chmod", "777", str(shared))
    result = audit(machine, f"folders: ['{shared}', '~/../home/missing']")
    assert found(result) == {str(shared): "changed by others"}
    assert "~/missing was not found" in " ".join(result.get("notes", []))


def test_an_access_list_that_lets_someone_in_is_reported(machine: Machine) -> None:
    folders(machine, 0o700, **{".config": 0o700})
    tool("setfacl", "-m", "u:nobody:rx", str(machine.home))
    result = audit(machine)
    assert found(result) == {"~": "listed by others"}
    (finding,) = result["findings"]
    assert "by the account nobody " in finding["message"]
    assert "setfacl -b ~" in finding["advice"]
    # Through the home folder, the named account reaches only what lets it in too.
    tool("setfacl", "-m", f"g:{grp.getgrgid(100).gr_name}:rx", str(machine.home / ".config"))
    assert set(found(audit(machine))) == {"~"}
    tool("setfacl", "-m", "u:nobody:rx", str(machine.home / ".config"))
    assert set(found(audit(machine))) == {"~", "~/.config"}
    # An access list whose mask lets no one in is as good as none.
    tool("setfacl", "-m", "m::---", str(machine.home))
    assert set(found(audit(machine))) == set()


def test_what_cannot_be_looked_at_is_said_and_the_rest_is_judged(machine: Machine) -> None:
    folders(machine, 0o711, **{".config": 0o755})
    (machine.home / ".gnupg").write_text("not a folder")
    loop = machine.home / ".local"
    loop.mkdir()
    (loop / "share").symlink_to(loop / "share")
    result = audit(machine)
    assert found(result) == {"~/.config": "listed by others"}
    notes = " ".join(result.get("notes", []))
    assert "~/.gnupg is not a folder" in notes
    assert "~/.local/share could not be checked" in notes
