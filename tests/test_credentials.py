"""The credentials check as a person meets it: `hygiene check`, `hygiene run --once`, status
and the notifications, on homes holding passwords and tokens. The scanner runs as the real
child process (python -m agent.credentials) in every test here."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pwd
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.checks.base import CheckContext
from agent.checks.credentials import CredentialsCheck, CredentialsParams
from agent.cli import main
from agent.credentials.families import FAMILIES
from agent.credentials.model import Family, Format, Secret, Source
from agent.credentials.scan import describe, scan
from agent.fingerprint import Fingerprinter
from agent.models import Finding, Severity
from agent.paths import Paths
from agent.store import Store
from tests.conftest import Machine, Outcome
from tests.desktop import Desktop
from tests.test_policy_errors import as_nobody
from tests.test_privacy import kept_on_disk, store_rows

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WEAK = "hunter2"
STRONG = "x7Kq9#mZ2vLw8RtP4nBy6jHd"  # 24 random characters
TOKEN = "ghp_Canary0123456789abcdefghijklmnopqrst"


def policy(machine: Machine, **settings: object) -> None:
    """Only the credentials check, on the test's home alone (not this machine's /etc)."""
    machine.keep_only("credentials")
    body = {"include_system": False, **settings}
    (machine.user_policies / "10-credentials.yaml").write_text(
        "schema: 1\nchecks:\n  credentials: " + json.dumps(body) + "\n"
    )


def private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def audit(hygiene: Callable[..., Outcome]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    outcome = hygiene("check", "--json", "--only", "credentials")
    assert outcome.code in (0, 1), outcome.err
    (result,) = json.loads(outcome.out)["results"]
    return result, result["findings"]


def test_weak_plaintext_and_token_each_have_their_severity(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    private(
        machine.home / ".netrc",
        f"machine mail.example.com login ann password {WEAK}\n"
        f"machine ftp.example.org login ann password {STRONG}\n",
    )
    private(machine.home / ".git-credentials", f"https://ann:{TOKEN}@github.com\n")
    result, findings = audit(hygiene)
    assert result["status"] == "fail"
    assert result["severity"] == "high"  # the worst of its findings
    by_reason = {f["evidence"]["reason"]: f for f in findings}
    assert set(by_reason) == {"weak password", "plaintext password", "plaintext token"}
    weak = by_reason["weak password"]
    assert weak["severity"] == "high"
    assert weak["subject"] == "~/.netrc"
    assert weak["message"] == (
        "~/.netrc, line 1: the password for mail.example.com (login ann) is weak: "
        "it is shorter than 8 characters and it is on the list of common and default passwords."
    )
    assert weak["advice"].startswith("Change this password to a long random one")
    assert "chmod 600 ~/.netrc" in weak["advice"]
    strong = by_reason["plaintext password"]
    assert strong["severity"] == "medium"
    assert strong["message"] == (
        "~/.netrc, line 2: the password for ftp.example.org (login ann) is stored in plain text."
    )
    token = by_reason["plaintext token"]
    assert token["severity"] == "low"
    assert "credential.helper libsecret" in token["advice"]
    out = json.dumps(findings)
    for value in (WEAK, STRONG, TOKEN, TOKEN[:8], STRONG[:6]):
        assert value not in out


@pytest.fixture
def reachable(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    """The machine with its home where other users can reach it (pytest's own folders are
    0700, so nothing in them is readable by others whatever its mode)."""
    home = Path(tempfile.mkdtemp(prefix="hygiene-home-", dir="/tmp"))
    home.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    yield dataclasses.replace(machine, home=home)
    shutil.rmtree(home, ignore_errors=True)


def shared_group() -> int:
    """A group that is not the test user's own: "users" on Debian."""
    import grp

    return grp.getgrnam("users").gr_gid


def test_a_file_others_can_read_raises_the_severity_one_step(
    reachable: Machine, hygiene: Callable[..., Outcome]
) -> None:
    machine = reachable
    policy(machine)
    netrc = private(machine.home / ".netrc", f"machine a.example login ann password {WEAK}\n")
    shared = private(machine.home / ".git-credentials", f"https://ann:{TOKEN}@github.com\n", 0o640)
    os.chown(shared, -1, shared_group())
    netrc.chmod(0o644)
    _, findings = audit(hygiene)
    severities = {f["evidence"]["reason"]: f["severity"] for f in findings}
    assert severities == {"weak password": "critical", "plaintext token": "medium"}
    (weak,) = [f for f in findings if f["subject"] == "~/.netrc"]
    assert weak["message"].endswith("Other users of this computer can read the file (mode 0644).")
    netrc.chmod(0o600)
    _, findings = audit(hygiene)
    assert {f["severity"] for f in findings if f["subject"] == "~/.netrc"} == {"high"}


def test_a_readable_file_in_a_closed_folder_is_not_readable_by_others(
    reachable: Machine, hygiene: Callable[..., Outcome]
) -> None:
    machine = reachable
    policy(machine)
    aws = machine.home / ".git-credentials"
    private(aws, f"https://ann:{WEAK}@git.example.com\n", 0o644)
    _, (finding,) = audit(hygiene)
    assert finding["severity"] == "critical"
    machine.home.chmod(0o700)  # the folder above keeps everyone else out
    _, (finding,) = audit(hygiene)
    assert finding["severity"] == "high"
    assert "Other users" not in finding["message"]
    machine.home.chmod(0o755)
    os.chown(aws, -1, os.getgid())
    aws.chmod(0o640)  # readable by the owner's own group, which has no one else in it
    _, (finding,) = audit(hygiene)
    if os.getgid() == pwd.getpwuid(os.getuid()).pw_gid:
        assert finding["severity"] == "high"


@pytest.mark.parametrize(
    ("password", "reason", "level"),
    [
        ("changeme", "weak password", "weak"),
        ("password123", "weak password", "weak"),
        ("Summer2023!", "plaintext password", "fair"),
        (STRONG, "plaintext password", "strong"),
    ],
)
def test_grades_follow_the_rules(
    machine: Machine, hygiene: Callable[..., Outcome], password: str, reason: str, level: str
) -> None:
    policy(machine)
    private(machine.home / ".netrc", f"machine db.example.com login ann password {password}\n")
    _, (finding,) = audit(hygiene)
    assert (finding["evidence"]["reason"], finding["evidence"]["level"]) == (reason, level)
    if level == "fair":
        assert "It is also only fair: it is shorter than 15 characters" in finding["message"]
    assert password not in json.dumps(finding)


@pytest.mark.parametrize(
    "value", ["${NETRC_PASSWORD}", "$MAIL_PASS", "{{vault_mail}}", "<password>", "%PASS%", "****"]
)
def test_references_and_placeholders_raise_nothing(
    machine: Machine, hygiene: Callable[..., Outcome], value: str
) -> None:
    policy(machine)
    private(machine.home / ".netrc", f"machine db.example.com login ann password {value}\n")
    result, findings = audit(hygiene)
    assert (result["status"], findings) == ("pass", [])


def test_a_home_full_of_traps_finishes_with_notes(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine, project_roots=["~/projects"])
    home = machine.home
    os.mkfifo(home / ".netrc")
    (home / ".git-credentials").symlink_to(home / ".loop-b")
    (home / ".loop-b").symlink_to(home / ".git-credentials")
    big = home / "projects" / "app" / ".env"
    big.parent.mkdir(parents=True)
    with big.open("wb") as file:
        file.truncate(50 << 20)
    (home / ".pypirc").symlink_to("/etc/passwd")
    private(home / ".config" / "git" / "credentials", f"https://ann:{WEAK}@git.example.com\n")
    (home / "projects" / "deep").mkdir()
    (home / "projects" / "deep" / "deeper").symlink_to(home / "projects")  # a folder loop
    outcome = hygiene("check", "--json", "--only", "credentials")
    assert outcome.code == 1, outcome.err
    (result,) = json.loads(outcome.out)["results"]
    assert result["status"] == "fail", result["error"]  # the readable file is still audited
    assert [f["subject"] for f in result["findings"]] == ["~/.config/git/credentials"]
    notes = "\n".join(result["notes"])
    assert "~/.netrc is not a regular file (a pipe, socket or device); it was not read" in notes
    assert "~/.git-credentials is a loop of symbolic links; it was not read" in notes
    assert "~/projects/app/.env is larger than 1 MiB" in notes
    assert "~/.pypirc links outside the folders this check reads (to /etc/passwd)" in notes
    assert WEAK not in outcome.out + outcome.err


def test_an_unreadable_file_is_a_note(tmp_path: Path) -> None:
    # In a folder every user can reach, read as nobody: the kernel refuses, not the test
    # (CI runs as root). The scanner runs in this process: nobody may not start this Python.
    "".encode("utf-8-sig")  # load the codec now: nobody cannot import it from root's Python
    for entry in FAMILIES:  # and the parsers, which the scanner imports when it needs them
        entry.load()
    home = Path(tempfile.mkdtemp(prefix="hygiene-unreadable-", dir="/tmp"))
    try:
        home.chmod(0o755)
        private(home / ".pgpass", f"db.example.com:5432:*:ann:{WEAK}\n", 0o000)
        private(home / ".netrc", f"machine a.example login ann password {WEAK}\n", 0o644)
        with as_nobody():
            answer = scan({"home": str(home)}, FAMILIES, {})
    finally:
        shutil.rmtree(home)
    records = {r["shown"]: r for r in answer["files"].values()}
    assert records["~/.pgpass"]["note"] == "could not be read: permission denied"
    assert [f["level"] for f in records["~/.netrc"]["facts"]] == ["weak"]
    assert WEAK not in json.dumps(answer)


def test_hygiene_check_remembers_nothing(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    policy(machine)
    private(machine.home / ".netrc", f"machine a.example login ann password {WEAK}\n")
    audit(hygiene)
    assert not (machine.state / "hygiene-agent" / "store.db").exists()


def test_a_failing_scanner_is_the_checks_error_in_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy(machine)
    private(machine.home / ".netrc", f"machine a.example login ann password {WEAK}\n")
    monkeypatch.setattr(sys, "executable", "/bin/false")
    outcome = hygiene("check", "--json", "--only", "credentials")
    (result,) = json.loads(outcome.out)["results"]
    assert result["status"] == "error"
    assert result["error"] == "the file scanner failed (exit status 1)"


def format_of(parser: type[Family], id: str, *paths: str) -> Format:
    """An entry of the list of formats for a parser a test defines."""

    class InTest(Format):
        def load(self) -> type[Family]:
            return parser

    return InTest(id, parser.__name__, paths=paths)


class _Exploding(Family):
    title = "a test format"
    advice = "none"

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        raise ValueError(f"cannot parse {text!r}")  # quotes the value, as int() would


def test_a_parser_crash_is_a_note_that_quotes_nothing(tmp_path: Path) -> None:
    private(tmp_path / ".exploding", f"password={WEAK}\n")
    answer = scan(
        {"home": str(tmp_path)},
        [format_of(_Exploding, "exploding", "~/.exploding")],
        {},
    )
    (record,) = answer["files"].values()
    assert record["note"].startswith("could not be read as a test format (internal error")
    assert WEAK not in json.dumps(answer)


# The scan cache: what the background agent does every few minutes.


def run_check(machine: Machine, **settings: Any) -> tuple[list[Finding], list[str]]:
    paths = Paths.from_environment()
    check = CredentialsCheck(CredentialsParams(include_system=False, **settings))
    with Store.open(paths.state) as store:
        ctx = CheckContext(
            paths=paths, fingerprint=Fingerprinter.for_state_dir(paths.state), env={}, store=store
        )
        return check.run(ctx), check.notes


def test_an_unchanged_home_is_not_read_again(
    reachable: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = reachable
    netrc = private(machine.home / ".netrc", f"machine a.example login ann password {WEAK}\n")
    (first,), _ = run_check(machine)
    assert first.severity is Severity.high
    # Nothing changed: the cache answers, and no scanner is started (none could be).
    with monkeypatch.context() as scannerless:
        scannerless.setattr(sys, "executable", "/bin/false")
        (again,), _ = run_check(machine)
    assert again == first
    # A chmod makes it more serious.
    netrc.chmod(0o644)
    (wider,), _ = run_check(machine)
    assert (wider.id, wider.severity) == (first.id, Severity.critical)
    # An edit is read again, even with its modification time put back by hand.
    before = netrc.stat()
    private(netrc, f"machine a.example login ann password {STRONG}\n", 0o644)
    os.utime(netrc, ns=(before.st_atime_ns, before.st_mtime_ns))
    (edited,), _ = run_check(machine)
    assert edited.id != first.id and edited.evidence["reason"] == "plaintext password"


def test_a_file_that_appears_is_found_on_the_next_run(machine: Machine) -> None:
    assert run_check(machine) == ([], [])
    private(machine.home / ".git-credentials", f"https://ann:{WEAK}@git.example.com\n")
    (found,), _ = run_check(machine)
    assert found.subject == "~/.git-credentials"
    (machine.home / ".git-credentials").unlink()
    assert run_check(machine) == ([], [])


def test_the_cache_holds_no_secret(machine: Machine) -> None:
    private(machine.home / ".netrc", f"machine a.example login ann password {WEAK}\n")
    private(machine.home / ".git-credentials", f"https://ann:{TOKEN}@github.com\n")
    run_check(machine)
    run_check(machine)
    kept = "\n".join(kept_on_disk(machine.state))
    assert "~/.netrc" in kept  # the cache is there
    for value in (WEAK, TOKEN, WEAK.encode().hex(), TOKEN.encode().hex()):
        assert value not in kept


def encoded(value: str) -> list[str]:
    """A value and the ways it could be written down by mistake: hex, base64 (unpadded, as
    it sits inside a longer text) and UTF-16 (as bytes read as Latin-1)."""
    raw = value.encode()
    return [
        value,
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        value.encode("utf-16-le").decode("latin-1"),
        value.encode("utf-16-be").decode("latin-1"),
    ]


def test_canary_never_reaches_output_logs_store_or_notifications(
    machine: Machine,
    desktop: Desktop,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    short, pattern, listed = "kanarie", "Tweety#1", "trustno1"  # weak, each its own way
    npm = "npm_Canary0123456789abcdefghijklmnopqrs"
    policy(machine, project_roots=["~/projects"])
    private(machine.home / ".netrc", f"machine mail.example.com login ann password {short}\n")
    private(machine.home / ".git-credentials", f"https://ann:{TOKEN}@github.com\n", 0o644)
    private(
        machine.home / "projects" / "app" / ".env",
        f"DB_PASSWORD={pattern}\nJWT_SECRET={listed}\nAPI_TOKEN={TOKEN}\nNPM_TOKEN={npm}\n",
    )
    for key, value in desktop.env.items():
        monkeypatch.setenv(key, value)
    caplog.set_level("DEBUG")
    outputs = []
    for step, argv in enumerate(
        (
            ("run", "--once"),
            ("-v", "run", "--once"),
            ("status",),
            ("status", "--json"),
            ("notifications",),
            ("notifications", "--json"),
            ("check",),
            ("check", "--json"),
        )
    ):
        capsys.readouterr()
        at = T0 + timedelta(hours=5 * step)

        def clock(at: datetime = at) -> datetime:
            return at

        main(list(argv), clock=clock)
        captured = capsys.readouterr()
        outputs += [captured.out, captured.err]
    shown = desktop.received(at_least=1)
    outputs += [f"{n.summary}\n{n.body}\n{n.text}" for n in shown]
    outputs.append(caplog.text)
    outputs.append(repr(store_rows(machine.state)))  # every row, the scan cache's too
    outputs += kept_on_disk(machine.state)  # every byte of the state folder
    everything = "\n".join(outputs)
    # Told about at once, the weak ones (the others wait out their grace), as weak.
    assert [n.summary for n in shown] == ["3 weak passwords are stored in files"]
    assert "~/.netrc" in everything
    assert everything.count("is weak") >= 3  # the three weak ones were graded
    for value in (short, pattern, listed, TOKEN, npm, TOKEN[4:20]):
        for form in encoded(value):
            assert form not in everything, f"a form of {value[:2]}... leaked"


def test_an_extra_file_that_is_not_there_is_a_note(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine, extra_files=[{"path": "~/typo-netrc", "format": "netrc"}])
    outcome = hygiene("check", "--json", "--only", "credentials")
    (result,) = json.loads(outcome.out)["results"]
    assert result["notes"] == ["~/typo-netrc (from extra_files) does not exist"]


def test_a_weak_secret_in_a_token_field_is_weak(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine, project_roots=["~/app"])
    private(machine.home / "app" / ".env", "JWT_SECRET=changeme\nSTRIPE_KEY=sk_live_abc\n")
    _, findings = audit(hygiene)
    by_field = {f["evidence"]["field"]: f for f in findings}
    assert by_field["JWT_SECRET"]["evidence"]["reason"] == "weak password"
    assert by_field["JWT_SECRET"]["message"].startswith(
        "~/app/.env, line 1: the secret (JWT_SECRET) is weak: it is on the list of common and "
        "default passwords"
    )


def test_only_the_account_shown_decides_anonymous_or_token() -> None:
    site = Secret(
        line=5,
        field="Pass",
        value=WEAK,
        target="ftp.example.com (user ann)",
        user_inputs=("ann", "ftp.example.com", "FTP"),
    )
    fact = describe(site)
    assert fact is not None and fact.level == "weak"  # a site named "FTP" is not anonymous
    anonymous = Secret(
        line=1,
        field="password",
        value="ann@example.com",
        target="ftp.example.org (login anonymous)",
        user_inputs=("anonymous",),
    )
    assert describe(anonymous) is None


WEAK_AUTH = base64.b64encode(f"ann:{WEAK}".encode()).decode()
# A password written in an address that serves as a name or key: the registry Docker keys its
# credentials by, an .npmrc scope, a fetchmail server, a JSON member of a guessed format.
IN_ADDRESSES = {
    ".docker/config.json": json.dumps(
        {"auths": {"https://ann:Addr1Leak@reg.example.com/v2/": {"auth": WEAK_AUTH}}}
    ),
    ".npmrc": "//bob:Addr2Leak@registry.example.com/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2\n",
    ".fetchmailrc": f'poll "carol:Addr3Leak@mail.example.com" user "carol" password "{WEAK}"\n',
    ".config/someapp/settings.json": json.dumps(
        {"registries": {"https://dan:Addr4Leak@r.example.com": {"token": WEAK}}}
    ),
}


def test_a_password_in_an_address_that_names_a_secret_is_never_repeated(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine)
    for name, text in IN_ADDRESSES.items():
        private(machine.home / name, text)
    outcome = hygiene("check", "--json", "--only", "credentials")
    said = outcome.out + outcome.err
    (result,) = json.loads(outcome.out)["results"]
    shown = {Path(f["subject"]).name for f in result["findings"]}
    assert {Path(name).name for name in IN_ADDRESSES} <= shown, said  # each one is reported
    assert "reg.example.com" in said and "r.example.com" in said  # where, without who
    assert hygiene("run", "--once").code in (0, 1)
    kept = "\n".join(kept_on_disk(machine.state))
    for leak in ("Addr1Leak", "Addr2Leak", "Addr3Leak", "Addr4Leak"):
        assert leak not in said, leak
        assert leak not in kept, leak


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("https://ann:Pw1@reg.example.com/v2 (user ann)", "https://reg.example.com/v2 (user ann)"),
        ("https://ann:Pw/1@host.example.com", "https://host.example.com"),
        ("https://ann:P@w1@host.example.com/x (user ann)", "https://host.example.com/x (user ann)"),
        ("ann:Pw1@mail.example.com", "mail.example.com"),
        ("imap.example.com (user ann@example.com)", "imap.example.com (user ann@example.com)"),
    ],
)
def test_an_address_is_described_without_its_user_and_password(target: str, shown: str) -> None:
    secret = Secret(line=1, field=f"servers.{target}", value=WEAK, target=target)
    fact = describe(secret)
    assert fact is not None
    assert (fact.target, fact.field) == (shown, f"servers.{shown}")
