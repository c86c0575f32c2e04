"""Every kind of bad policy input: exit 2 and one sentence naming file, line and field."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Machine, Outcome

GOOD_HEAD = "schema: 1\nname: team\nchecks:\n  ssh_keys:\n"

# (id, file content, field path, line, words the sentence must contain)
CONTENT_CASES = [
    ("yaml-syntax", "schema: 1\nchecks: [ssh_keys\nname: x\n", None, 3, "is not valid YAML"),
    ("tab-indent", "schema: 1\nchecks:\n\tssh_keys: {}\n", None, 3, "is not valid YAML"),
    ("not-a-mapping", "- schema\n- 1\n", None, 1, "expected a mapping of settings"),
    ("plain-text", "just some words\n", None, 1, "got a line of text"),
    ("unknown-top-level-key", "schema: 1\ncolour: red\n", "colour", 2, "unknown key"),
    (
        "unknown-check",
        "schema: 1\nchecks:\n  no_such_check: {}\n",
        "checks.no_such_check",
        3,
        "unknown check; the checks are app_sessions, browser_passwords, credentials, "
        "disk_encryption, exposed_services, idle_sessions, privacy_settings, remote_sessions, "
        "screen_lock, "
        "ssh_authorized_keys, ssh_keys, updates, vpn",
    ),
    (
        "unknown-setting",
        GOOD_HEAD + "    colour: red\n",
        "checks.ssh_keys.colour",
        5,
        "unknown setting; ssh_keys takes enabled, severity",
    ),
    (
        "wrong-type-bool",
        GOOD_HEAD + "    enabled: maybe\n",
        "checks.ssh_keys.enabled",
        5,
        "expected true or false, got 'maybe'",
    ),
    (
        "wrong-type-int",
        GOOD_HEAD + "    min_rsa_bits: lots\n",
        "checks.ssh_keys.min_rsa_bits",
        5,
        "expected a whole number, got 'lots'",
    ),
    (
        "wrong-type-list",
        GOOD_HEAD + "    extra_paths: {a: 1}\n",
        "checks.ssh_keys.extra_paths",
        5,
        "expected a list, got {'a': 1}",
    ),
    (
        "below-minimum",
        GOOD_HEAD + "    min_rsa_bits: 512\n",
        "checks.ssh_keys.min_rsa_bits",
        5,
        "greater than or equal to 1024",
    ),
    (
        "bad-severity",
        GOOD_HEAD + "    severity: dire\n",
        "checks.ssh_keys.severity",
        5,
        "'info', 'low', 'medium', 'high' or 'critical'",
    ),
    (
        "bad-duration",
        GOOD_HEAD + "    every: fifteen minutes\n",
        "checks.ssh_keys.every",
        5,
        'expected a duration such as "30s"',
    ),
    (
        "duration-without-unit",
        GOOD_HEAD + "    every: 15\n",
        "checks.ssh_keys.every",
        5,
        'expected a duration such as "30s"',
    ),
    (
        "negative-duration",
        GOOD_HEAD + "    timeout: -5m\n",
        "checks.ssh_keys.timeout",
        5,
        "a duration cannot be negative",
    ),
    ("unknown-schema", "schema: 2\n", "schema", 1, "this version reads policy schema 1, not 2"),
    ("missing-schema", "name: team\n", "schema", 1, "every policy file starts with `schema: 1`"),
    (
        "settings-not-a-mapping",
        "schema: 1\nchecks:\n  ssh_keys: 5\n",
        "checks.ssh_keys",
        3,
        "expected a mapping of settings, got 5",
    ),
    ("name-not-text", "schema: 1\nname: [a]\n", "name", 2, "expected text, got ['a']"),
    ("negative-revision", "schema: 1\nrevision: -1\n", "revision", 2, "greater than or equal to 0"),
    ("duplicate-key", "schema: 1\nchecks: {}\nname: a\nchecks: {}\n", "checks", 4, "appears twice"),
    (
        "locked-unknown-check",
        "schema: 1\nlocked: [ssh_keys, vpn_thing]\n",
        "locked.1",
        2,
        "unknown check 'vpn_thing'",
    ),
    (
        "notify-unknown-setting",
        "schema: 1\nnotify:\n  grace: {urgent: 1h}\n",
        "notify.grace.urgent",
        3,
        "unknown setting",
    ),
    (
        "notify-bad-hours",
        "schema: 1\nnotify: {quiet_hours: late}\n",
        "notify.quiet_hours",
        2,
        'expected hours such as "22:00-08:00"',
    ),
    (
        "notify-bad-cap",
        "schema: 1\nnotify: {max_per_hour: 0}\n",
        "notify.max_per_hour",
        2,
        "greater than or equal to 1",
    ),
    (
        "notify-huge-cap",
        "schema: 1\nnotify: {max_per_hour: 99999999999999999999999}\n",
        "notify.max_per_hour",
        2,
        "less than or equal to 3600",
    ),
    ("alias", "schema: 1\nchecks: &a {ssh_keys: *a}\n", "checks.ssh_keys", 2, "uses a YAML alias"),
    ("self-reference", "schema: 1\nx: &a [*a]\n", "x.0", 2, "uses a YAML alias"),
    (
        "deep-nesting",
        "schema: 1\nx:\n" + "".join("  " * (d + 1) + "a:\n" for d in range(20)) + "  " * 21 + "1\n",
        None,
        18,
        "is nested more than 16 levels deep",
    ),
    # 5000 levels: PyYAML's scanner may refuse it first, in its own words; only the shape of
    # the error is ours to promise (one sentence naming the file and line, exit 2).
    ("deep-flow-nesting", "schema: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n", None, 2, ""),
    (
        "giant-number",
        "schema: 1\nrevision: " + "9" * 5000 + "\n",
        "revision",
        2,
        "is a number too long to read",
    ),
    (
        "revision-too-large",
        "schema: 1\nrevision: 99999999999\n",
        "revision",
        2,
        "less than or equal to 2147483647",
    ),
    (
        "huge-duration",
        GOOD_HEAD + "    timeout: 200000d\n",
        "checks.ssh_keys.timeout",
        5,
        "a duration can be at most 3650d",
    ),
    (
        "zero-timeout",
        GOOD_HEAD + "    timeout: 0s\n",
        "checks.ssh_keys.timeout",
        5,
        "a check needs at least 1s",
    ),
    (
        "too-often",
        GOOD_HEAD + "    every: 0s\n",
        "checks.ssh_keys.every",
        5,
        "a check runs at most every 1s",
    ),
    (
        "unicode-digit",
        GOOD_HEAD + "    every: \u0663h\n",
        "checks.ssh_keys.every",
        5,
        "expected a duration",
    ),
    ("schema-true", "schema: true\n", "schema", 1, "expected the whole number 1, got True"),
    ("schema-float", "schema: 1.0\n", "schema", 1, "expected the whole number 1, got 1.0"),
    (
        "revision-text",
        "schema: 1\nrevision: '7'\n",
        "revision",
        2,
        "expected a whole number, got '7'",
    ),
    (
        "enabled-text",
        GOOD_HEAD + "    enabled: 'yes'\n",
        "checks.ssh_keys.enabled",
        5,
        "expected true or false, got 'yes'",
    ),
    (
        "other-users-home",
        GOOD_HEAD + "    extra_paths: ['~bob/keys']\n",
        "checks.ssh_keys.extra_paths.0",
        5,
        "only ~/ is understood",
    ),
    (
        "control-characters-in-name",
        'schema: 1\nname: "a\\x1b[2Kb"\n',
        "name",
        2,
        "must not contain control characters",
    ),
    # A raw control character is named by its own code point, whichever it is.
    *(
        (f"raw-{name}", f"schema: 1\nname: a{char}b\n", None, 2, f"holds {point}, a control")
        for name, char, point in (
            ("escape", "\x1b", "U+001B"),
            ("bell", "\x07", "U+0007"),
            ("c1", "\x85x\x9b", "U+009B"),
        )
    ),
    (
        "too-many-sources",
        "schema: 1\nsources:\n  urls:\n" + "    - https://example.org/p.yaml\n" * 500,
        "sources.urls",
        3,
        "at most 20 addresses, got 500",
    ),
    ("empty", "", None, None, "is empty"),
    # Anything but plain text, numbers, true/false, null, lists and mappings (issue 15, 4).
    *(
        (
            f"tag-{name}",
            f"schema: 1\nsources:\n  urls:\n    - {value}\n",
            "sources.urls.0",
            4,
            "uses the YAML tag",
        )
        for name, value in (
            ("binary", "!!binary aHR0cHM6Ly9leGFtcGxlLm9yZy9wLnlhbWw="),
            ("timestamp", "!!timestamp 2024-01-01"),
            ("python", "!!python/name:os.system"),
            ("own", "!mine https://example.org/p.yaml"),
            ("str", "!!str https://example.org/p.yaml"),
            ("non-specific", "! https://example.org/p.yaml"),
        )
    ),
    ("tag-set", "schema: 1\nchecks: !!set {vpn}\n", "checks", 2, "uses the YAML tag"),
    ("tag-omap", "schema: 1\nchecks: !!omap [vpn: {}]\n", "checks", 2, "uses the YAML tag"),
    ("tag-name", "schema: 1\nname: !!binary aGVsbG8=\n", "name", 2, "uses the YAML tag"),
    ("tagged-root", "--- !!map\nschema: 1\n", None, 1, "uses the YAML tag"),
    ("key-not-text", "schema: 1\n? [a, b]\n: 1\n", None, 2, "a key is plain text"),
    ("two-documents", "schema: 1\n---\nschema: 1\n", None, 2, "more than one YAML document"),
    (
        "too-many-values",
        "schema: 1\nchecks:\n  ssh_keys:\n    extra_paths: [" + "a," * 15_000 + "a]\n",
        None,
        4,
        "holds more than 10,000 keys and values",
    ),
    ("only-comments", "# nothing here yet\n\n", None, None, "is empty"),
]


def write_case(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def assert_one_sentence(
    outcome: Outcome, path: Path, field: str | None, line: int | None, words: str
) -> None:
    assert outcome.code == 2
    assert "Traceback" not in outcome.err
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    sentence = lines[0]
    assert sentence.startswith(f"hygiene: {path}")
    if line is not None:
        assert f"{path}, line {line}: " in sentence
    else:
        assert ", line " not in sentence
    if field is not None:
        assert f": {field}: " in sentence
    assert words in sentence


@pytest.mark.parametrize(
    ("content", "field", "line", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in CONTENT_CASES],
)
def test_validate_explains_bad_content(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    content: str,
    field: str | None,
    line: int | None,
    words: str,
) -> None:
    path = write_case(machine.home / "bad.yaml", content)
    outcome = hygiene("policy", "validate", str(path))
    assert outcome.out == ""
    assert_one_sentence(outcome, path, field, line, words)


@pytest.mark.parametrize(
    ("content", "field", "line", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in CONTENT_CASES[::4]],
)
def test_check_stops_on_a_bad_user_file(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    content: str,
    field: str | None,
    line: int | None,
    words: str,
) -> None:
    path = write_case(machine.user_policies / "10-mine.yaml", content)
    outcome = hygiene("check")
    assert outcome.out == ""
    assert_one_sentence(outcome, path, field, line, words)


def test_check_stops_on_a_bad_admin_file_and_a_bad_policy_argument(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    admin = write_case(machine.admin_policies / "acme.yaml", "schema: 1\nlocked: [nothing]\n")
    assert_one_sentence(hygiene("check", "--json"), admin, "locked.0", 2, "unknown check")
    admin.unlink()
    extra = write_case(machine.home / "draft.yaml", GOOD_HEAD + "    every: soon\n")
    outcome = hygiene("check", "--policy", str(extra))
    assert_one_sentence(outcome, extra, "checks.ssh_keys.every", 5, "expected a duration")


# Files that cannot be read as a policy at all.


@contextmanager
def as_nobody() -> Iterator[None]:
    """Drop the effective uid so that the kernel, not the test, refuses to read (CI is root)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_unreadable_file(machine: Machine, hygiene: Callable[..., Outcome], tmp_path: Path) -> None:
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"hygiene-unreadable-{os.getpid()}"
    folder.mkdir(mode=0o755, exist_ok=True)
    path = write_case(folder / "secret-policy.yaml", "schema: 1\n")
    path.chmod(0o000)
    try:
        with as_nobody():
            outcome = hygiene("policy", "validate", str(path))
    finally:
        path.unlink()
        folder.rmdir()
    assert_one_sentence(outcome, path, None, None, "cannot be read: permission denied")


def test_unreadable_policies_folder(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    folder = machine.user_policies
    (folder / "a.yaml").write_text("schema: 1\n")
    # Root reads any folder, so a folder that is really a file stands in for "cannot list".
    folder.rename(folder.with_name("moved"))
    folder.write_text("not a folder\n")
    outcome = hygiene("check")
    assert outcome.code == 2
    assert outcome.err.count("\n") == 1
    assert str(folder) in outcome.err
    assert "cannot be read: not a directory" in outcome.err


def test_a_folder(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    path = machine.home / "policies.yaml"
    path.mkdir()
    assert_one_sentence(
        hygiene("policy", "validate", str(path)), path, None, None, "is a folder, not a policy file"
    )


def test_a_missing_file(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    path = machine.home / "nowhere.yaml"
    assert_one_sentence(
        hygiene("policy", "validate", str(path)), path, None, None, "does not exist"
    )


def test_a_binary_file(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    path = write_case(machine.home / "policy.yaml", b"schema: 1\n\x00\x01\x02\xff" * 10)
    assert_one_sentence(
        hygiene("policy", "validate", str(path)), path, None, None, "is a binary file"
    )


def test_not_utf8(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    path = write_case(machine.home / "policy.yaml", "schema: 1\nname: café\n".encode("latin-1"))
    assert_one_sentence(
        hygiene("policy", "validate", str(path)), path, None, None, "is not UTF-8 text"
    )


def test_larger_than_one_mebibyte(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    path = write_case(machine.home / "policy.yaml", "schema: 1\n" + "# padding\n" * 110_000)
    assert_one_sentence(
        hygiene("policy", "validate", str(path)), path, None, None, "is larger than 1 MiB"
    )


def test_symlink_loop(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    path = machine.user_policies / "loop.yaml"
    path.symlink_to(path)
    assert_one_sentence(hygiene("check"), path, None, None, "is a symbolic link loop")


def test_device_is_not_a_policy(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    path = Path("/dev/zero")
    assert_one_sentence(
        hygiene("policy", "validate", str(path)), path, None, None, "is not a regular file"
    )


def test_validate_reports_each_file_and_goes_on(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    good = write_case(machine.home / "good.yaml", GOOD_HEAD + "    every: 2h\n")
    bad = write_case(machine.home / "bad.yaml", "schema: 7\n")
    also_good = write_case(machine.home / "also.yaml", "schema: 1\nlocked: [ssh_keys]\n")
    outcome = hygiene("policy", "validate", str(good), str(bad), str(also_good))
    assert outcome.code == 2
    assert outcome.out.splitlines() == [f"{good}: valid", f"{also_good}: valid"]
    assert outcome.err.count("\n") == 1
    assert str(bad) in outcome.err


def test_console_script_shows_no_traceback(
    machine: Machine, hygiene_process: Callable[..., Outcome]
) -> None:
    path = write_case(machine.user_policies / "bad.yaml", GOOD_HEAD + "    every: -1h\n")
    outcome = hygiene_process("check")
    assert outcome.code == 2
    assert outcome.err == (
        f"hygiene: {path}, line 5: checks.ssh_keys.every: a duration cannot be negative, "
        "got '-1h'\n"
    )


def test_billion_laughs_is_refused_at_once(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    lines = ["schema: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    path = write_case(machine.user_policies / "bomb.yaml", "\n".join(lines) + "\n")
    started = time.monotonic()
    outcome = hygiene("check")
    assert time.monotonic() - started < 5
    assert_one_sentence(outcome, path, "a1.0", 3, "uses a YAML alias")


def test_unreadable_admin_file_says_whom_to_ask(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"hygiene-admin-{os.getpid()}"
    (folder / "policies.d").mkdir(mode=0o755, parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = write_case(folder / "policies.d" / "acme.yaml", "schema: 1\n")
    path.chmod(0o600)
    os.environ["HYGIENE_ADMIN_DIR"] = str(folder)
    os.environ["XDG_CONFIG_HOME"] = str(folder / "no-user-config")
    # Once as root first: nobody could not import what the command loads as it goes (the
    # interpreter's own modules are under /root), and this test is about the policy file.
    (folder / "policies.d" / "acme.yaml").chmod(0o644)
    hygiene("check")
    path.chmod(0o600)
    try:
        with as_nobody():
            outcome = hygiene("check")
    finally:
        path.unlink()
        (folder / "policies.d").rmdir()
        folder.rmdir()
    assert_one_sentence(
        outcome,
        path,
        None,
        None,
        "an admin file must be readable by every user (ask your administrator)",
    )


@pytest.mark.parametrize(
    "command", [("check", "--json"), ("policy", "show", "--json"), ("run", "--once")]
)
def test_a_tagged_value_in_an_admin_file_stops_every_command_with_one_sentence(
    machine: Machine, hygiene: Callable[..., Outcome], command: tuple[str, ...]
) -> None:
    """`name: !!binary` and `urls: [!!binary]` once passed validation, then crashed the
    commands that print the policy; now they are refused where any policy is read."""
    admin = write_case(machine.admin_policies / "acme.yaml", "schema: 1\nname: !!binary aGk=\n")
    assert_one_sentence(hygiene("policy", "validate", str(admin)), admin, "name", 2, "YAML tag")
    outcome = hygiene(*command)
    if command[0] != "check":
        # The agent keeps auditing without the file (it never was good) and says why;
        # `policy show` shows the policy in force, and exits 1 as something was refused.
        assert outcome.code == (0 if command[0] == "run" else 1)
        assert "Traceback" not in outcome.err
        assert f"{admin}, line 2: name: uses the YAML tag" in outcome.err
    else:
        assert_one_sentence(outcome, admin, "name", 2, "uses the YAML tag")


def test_an_unquoted_date_is_read_as_the_text_written(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    write_case(machine.user_policies / "dated.yaml", "schema: 1\nname: 2024-01-01\n")
    outcome = hygiene("policy", "show", "--json")
    assert outcome.code == 0, outcome.err
    assert '"name": "2024-01-01"' in outcome.out
