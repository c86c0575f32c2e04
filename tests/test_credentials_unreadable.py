"""A credentials file that cannot be read as its format: a password may sit in it all the
same (the tool fails on it, the file stays on disk), so the check says which file and why,
quoting nothing from it, and is never a clean pass. The scanner runs as the real child."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.credentials.families import FAMILIES
from agent.credentials.scan import scan
from tests.conftest import Machine, Outcome
from tests.test_credentials import WEAK, audit, policy, private

# base64 of "admin:hunter2", the WEAK password
AUTH = "YWRtaW46aHVudGVyMg=="

BROKEN = [
    (
        ".docker/config.json",
        '{"auths": {"r.io": {"auth": "' + AUTH + '"}},}',
        "could not be read as a Docker or Podman registry login file: it is not valid JSON "
        "(line 1); it was not checked",
    ),
    (
        ".composer/auth.json",
        '{"http-basic": {"repo.example": {"username": "ann", "password": "' + WEAK + '"}}',
        "could not be read as Composer's auth.json: it is not valid JSON (line 1); "
        "it was not checked",
    ),
    (
        ".kube/config",
        f"users:\n- name: ann\n  user:\n    password: {WEAK}\nclusters: [unclosed\n",
        "could not be read as a kubeconfig file: it is not valid YAML (line 6); it was not checked",
    ),
    (
        ".config/gh/hosts.yml",
        f"github.com:\n  oauth_token: {WEAK}\n  user: *nowhere\n",
        "could not be read as GitHub CLI's hosts.yml: it is not valid YAML (line 3); "
        "it was not checked",
    ),
    (
        ".m2/settings.xml",
        f"<settings><servers><server><password>{WEAK}",
        "could not be read as Maven's settings.xml: it is not well-formed XML (line 1); "
        "only what comes before that line was checked",
    ),
    (
        ".purple/accounts.xml",
        f"not xml at all: password {WEAK}\n",
        "could not be read as Pidgin's accounts: it is not well-formed XML (line 1); "
        "it was not checked",
    ),
    (
        ".git-credentials",
        f"https://ann:{WEAK}@[git.example.com\n",
        "could not be read as git's credential store: line 1 is not a URL and was not "
        "checked; the other lines were",
    ),
]


@pytest.mark.parametrize(("path", "text", "note"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_file_that_does_not_parse_is_an_error_naming_it(
    machine: Machine, hygiene: Callable[..., Outcome], path: str, text: str, note: str
) -> None:
    policy(machine)
    private(machine.home / path, text)
    outcome = hygiene("check", "--json", "--only", "credentials")
    (result,) = json.loads(outcome.out)["results"]
    assert result["status"] == "error"
    assert result["error"] == f"~/{path} {note}"
    assert WEAK not in outcome.out + outcome.err
    assert "Passwords are strong" not in hygiene("check", "--only", "credentials").out


def test_with_findings_elsewhere_it_is_a_fail_with_the_note(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    path, text, note = BROKEN[0]
    private(machine.home / path, text)
    private(machine.home / ".netrc", f"machine a.example login ann password {WEAK}\n")
    result, findings = audit(hygiene)
    assert result["status"] == "fail"
    assert [f["subject"] for f in findings] == ["~/.netrc"]
    assert f"~/{path} {note}" in result["notes"]


def test_a_second_yaml_document_is_read_too(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    private(
        machine.home / ".kube" / "config",
        "apiVersion: v1\nkind: Config\n---\n"
        f"users:\n- name: ann\n  user:\n    username: ann\n    password: {WEAK}\n",
    )
    result, findings = audit(hygiene)
    assert result["status"] == "fail"
    assert [(f["subject"], f["evidence"]["line"]) for f in findings] == [("~/.kube/config", 8)]


def test_an_alias_bomb_is_read_without_expanding_it(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    levels = ["a0: &a0 [" + ", ".join(["x"] * 9) + "]"]
    levels += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    token = "ghp_Canary0123456789abcdefghijklmnopqrst"
    for path in (".config/gh/hosts.yml", ".kube/config"):
        body = (
            f"github.com:\n  user: ann\n  oauth_token: {token}\n"
            if "gh" in path
            else f"users:\n- name: ann\n  user:\n    token: {token}\n"
        )
        private(machine.home / path, "\n".join(levels) + "\n" + body)
    result, findings = audit(hygiene)
    assert result["status"] == "fail", result["error"]
    assert sorted(f["subject"] for f in findings) == ["~/.config/gh/hosts.yml", "~/.kube/config"]
    assert token not in json.dumps(result)


def test_a_broken_xml_file_keeps_what_came_before_the_break(tmp_path: Path) -> None:
    private(
        tmp_path / ".m2" / "settings.xml",
        f"<settings><servers>\n<server><id>a</id><password>{WEAK}</password></server>\n<oops",
    )
    answer = scan({"home": str(tmp_path)}, FAMILIES, {"HOME": str(tmp_path)})
    record = answer["files"][str(tmp_path / ".m2" / "settings.xml")]
    assert [f["level"] for f in record["facts"]] == ["weak"]
    assert record["note"] == (
        "could not be read as Maven's settings.xml: it is not well-formed XML (line 3); "
        "only what comes before that line was checked"
    )
    assert WEAK not in json.dumps(answer)


def test_an_empty_file_is_no_note(tmp_path: Path) -> None:
    for path, _, _ in BROKEN:
        private(tmp_path / path, "\n")
    answer = scan({"home": str(tmp_path)}, FAMILIES, {"HOME": str(tmp_path)})
    notes = {r["shown"]: r["note"] for r in answer["files"].values() if r.get("note")}
    assert notes == {}


def test_a_kubeconfig_user_given_by_an_alias_is_read(tmp_path: Path) -> None:
    private(
        tmp_path / ".kube" / "config",
        "defaults: &ann\n  name: ann\n  user:\n    username: ann\n"
        f"    password: {WEAK}\nusers:\n- *ann\n",
    )
    answer = scan({"home": str(tmp_path)}, FAMILIES, {"HOME": str(tmp_path)})
    record = answer["files"][str(tmp_path / ".kube" / "config")]
    assert [(f["line"], f["level"]) for f in record["facts"]] == [(5, "weak")]
