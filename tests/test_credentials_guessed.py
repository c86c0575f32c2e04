"""Other programs' config files, their format guessed from the name (families/guessed.py):
the issue's home through the real check, what the pass reads and what it leaves alone,
files written by real serialisers, and hostile input. The hand-written samples of every
extension are cases in tests/data/credentials/guessed/cases.yaml."""

from __future__ import annotations

import configparser
import itertools
import json
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.credentials import locate
from agent.credentials.families import FAMILIES
from agent.credentials.families import _structured as read
from agent.credentials.families.guessed import Guessed
from agent.credentials.model import Source
from agent.credentials.scan import OutOfTime, scan, time_limit
from tests.conftest import Machine, Outcome, require_tool
from tests.desktop import Desktop
from tests.test_credentials import audit, policy, private
from tests.test_privacy import kept_on_disk

DATA = Path(__file__).parent / "data" / "credentials" / "guessed"
GUESSED = "(format guessed from the file name)"


def scanned(home: Path, **settings: object) -> dict[str, Any]:
    """The scanning child's answer for `home`, run in this process, the pass turned on."""
    request = {
        "home": str(home),
        "settings": {
            "include_system": False,
            "project_roots": ["~/src"],
            "guess_formats": True,
            **settings,
        },
    }
    return scan(request, FAMILIES, {"XDG_CONFIG_HOME": str(home / ".config")})


def read_files(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {record["shown"]: record for record in answer["files"].values()}


# --- the issue's home, through `hygiene check` --------------------------------------------

ISSUE_HOME = {
    "src/app/settings.py": 'DATABASES = {\n    "default": {\n        "PASSWORD": "hunter2",\n'
    "    },\n}\n",
    "src/app/config.yaml": "database:\n  user: app\n  password: changeme\n",
    "src/app/.env": "DB_PASSWORD=letmein1\n",
    ".config/someapp/config.ini": "[account]\nuser = ann\npassword = qwerty12\n",
}


def test_the_issues_four_files_are_found_four_of_four(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    policy(machine, project_roots=["~/src"])
    for rel, text in ISSUE_HOME.items():
        private(machine.home / rel, text)
    result, findings = audit(hygiene)
    weak = {
        (f["subject"], f["evidence"]["line"]): f
        for f in findings
        if f["evidence"]["reason"] == "weak password"
    }
    assert sorted(weak) == [
        ("~/.config/someapp/config.ini", 3),
        ("~/src/app/.env", 1),
        ("~/src/app/config.yaml", 3),
        ("~/src/app/settings.py", 3),
    ]
    assert result["status"] == "fail"
    guessed = weak["~/src/app/config.yaml", 3]
    assert guessed["message"].startswith(
        f"~/src/app/config.yaml, line 3 {GUESSED}: the password (database.password) is weak: "
    )
    assert guessed["evidence"]["format"] == "guessed"
    assert "chmod 600 ~/src/app/config.yaml" in guessed["advice"]
    assert weak["~/src/app/settings.py", 3]["evidence"]["field"] == "DATABASES.default.PASSWORD"
    # A known format says nothing of guessing.
    assert GUESSED not in weak["~/src/app/.env", 1]["message"]
    assert weak["~/src/app/.env", 1]["evidence"]["format"] == "dotenv"


def test_the_pass_can_be_turned_off(machine: Machine, hygiene: Callable[..., Outcome]) -> None:
    policy(machine, project_roots=["~/src"], guess_formats=False)
    for rel, text in ISSUE_HOME.items():
        private(machine.home / rel, text)
    _, findings = audit(hygiene)
    assert [f["subject"] for f in findings] == ["~/src/app/.env"]


def test_a_guessed_files_values_appear_nowhere(
    machine: Machine,
    hygiene: Callable[..., Outcome],
    desktop: Desktop,
    caplog: pytest.LogCaptureFixture,
) -> None:
    weak, strong = "Canary123", "Qm7#vX2pL9wK4zR8tY3nB6"
    token = "ghp_CanaryGuessed0123456789abcdefghijkl"
    policy(machine, project_roots=["~/src"])
    private(machine.home / ".config/app/config.ini", f"[db]\npassword = {weak}\n", 0o644)
    private(machine.home / "src/app/config.yaml", f"smtp:\n  password: '{strong}'\n")
    private(machine.home / "src/app/settings.json", json.dumps({"api": {"token": token}}))
    private(machine.home / "src/app/config.toml", f'[x]\nurl = "https://a:{weak}@h.example"\n')
    caplog.set_level("DEBUG")
    outputs = []
    with pytest.MonkeyPatch.context() as env:
        for key, value in desktop.env.items():
            env.setenv(key, value)
        for argv in (["-v", "run", "--once"], ["status", "--json"], ["notifications"]):
            said = hygiene(*argv)
            outputs += [said.out, said.err]
        said = hygiene("check", "--json")
        outputs += [said.out, said.err]
    outputs += [f"{n.summary}\n{n.body}\n{n.text}" for n in desktop.received(at_least=1)]
    outputs += [caplog.text, *kept_on_disk(machine.state)]
    everything = "\n".join(outputs)
    assert "~/src/app/settings.json" in everything and GUESSED in everything  # told about
    for value in (weak, strong, token, token[4:20], weak.encode().hex(), strong.encode().hex()):
        assert value not in everything


# --- what the pass reads, and what it leaves alone ----------------------------------------


def test_files_it_cannot_read_leave_no_note_and_the_check_passes(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    # Unlike a file of a known format, which a tool reads and may hold a password the check
    # could not see: then the check does not pass (test_credentials.py).
    policy(machine, project_roots=["~/src"])
    home = machine.home
    private(home / ".config/app/state.json", "\0\x01binary, not JSON" * 10)  # not text
    with (home / ".config/app/huge.yaml").open("wb") as big:  # larger than 1 MiB
        big.truncate(2 << 20)
    private(home / ".config/app/deep.json", "[" * 50_000 + "]" * 50_000)
    private(home / "src/app/config.yaml", "{{ not: [yaml\n\t- : : :\n")
    private(home / "src/app/settings.py", "def (:\n  password = \n")
    private(home / "src/app/config.toml", "password = 'unclosed\n[[[\n")
    result, findings = audit(hygiene)
    assert (result["status"], result["error"], findings) == ("pass", None, [])
    assert result["notes"] == []


def test_known_formats_are_read_once_by_their_own_family(tmp_path: Path) -> None:
    home = tmp_path
    private(
        home / ".config/gh/hosts.yml", "github.com:\n    oauth_token: gho_abcdefghij0123456789\n"
    )
    private(home / ".config/composer/auth.json", '{"http-basic": {"r.example": '
            '{"username": "ann", "password": "hunter2"}}}')  # fmt: skip
    private(home / ".config/rclone/rclone.conf", "[nas]\ntype = sftp\npass = xyz\n")
    private(home / "src/app/.env.json", '{"password": "hunter2"}')  # .env.* is dotenv's
    records = read_files(scanned(home))
    assert {shown: r["family"] for shown, r in records.items()} == {
        "~/.config/gh/hosts.yml": "gh",
        "~/.config/composer/auth.json": "composer",
        "~/.config/rclone/rclone.conf": "rclone",
        "~/src/app/.env.json": "dotenv",
    }


def test_program_data_folders_and_deep_files_are_not_read(tmp_path: Path) -> None:
    home = tmp_path
    config = home / ".config"
    weak = '{"password": "hunter2"}'
    # Browser profiles and an Electron app's caches: data a program writes, not settings.
    for rel in (
        "chromium/Default/Preferences.json",
        "google-chrome/Local State.json",
        "BraveSoftware/Brave-Browser/Default/prefs.json",
        "Code/CachedData/x.json",
        "Code/User/workspaceStorage/ab12/workspace.json",
        "Slack/Local Storage/leveldb.json",
        "app/one/two/too-deep.json",  # three folders below ~/.config
    ):
        private(config / rel, weak)
    private(
        config / "Code/User/settings.json", '{"sqltools.connections": [{"password": "hunter2"}]}'
    )
    private(home / "src/app/node_modules/lib/config.json", weak)  # the project walk's own bounds
    private(home / "src/app/package-lock.json", weak)  # data by its name
    private(home / "src/app/locales/pt_BR.json", weak)
    answer = scanned(home)
    records = read_files(answer)
    found = {shown for shown, r in records.items() if r["facts"]}
    assert found == {"~/.config/Code/User/settings.json"}
    assert not any("chromium" in path or "Cache" in path for path in answer["watch"])


def test_hundreds_of_config_files_without_secrets_raise_nothing(tmp_path: Path) -> None:
    """A ~/.config as desktops fill it: only settings without secrets, no finding, no note."""
    config = tmp_path / ".config"
    for i in range(150):
        private(
            config / f"app{i}/settings.ini", f"[ui]\ntheme = dark\npassive = true\nsize = {i}\n"
        )
        private(config / f"app{i}/state.json", json.dumps({"tokenizer": "bert", "max_tokens": i}))
        private(config / f"app{i}/conf/options.yaml", f"bypass_cache: true\npass_through: {i}\n")
    answer = scanned(tmp_path)
    assert len(answer["files"]) == 450
    assert [r for r in answer["files"].values() if r["facts"] or r["note"]] == []
    assert answer["notes"] == []


def test_a_config_folder_past_the_bound_is_a_note_not_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locate, "GUESS_MAX_ENTRIES", 50)  # 20,000 files take a while to make
    for i in range(60):
        private(tmp_path / f".config/app{i:02d}/settings.ini", "[ui]\ntheme = dark\n")
    answer = scanned(tmp_path)
    assert answer["notes"] == [
        "~/.config holds more than 50 entries 2 folders deep; the rest were not searched "
        "for other programs' config files"
    ]
    assert answer["unsearched"] == {}


# --- files written by real serialisers ----------------------------------------------------

WEAK, STRONG = "Winter2020", "vJ4#pQ9zL2mX7wR5tK8nB3y"
REFERENCE = "${DB_PASSWORD}"


def _ini(path: Path) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser["database"] = {"user": "shop", "password": WEAK, "passive": "yes"}
    parser["mail"] = {"smtp_password": REFERENCE, "password_file": "/run/secrets/smtp"}
    parser["cache"] = {"bypass_cache": "secret-ish", "api_key": STRONG}
    with path.open("w") as file:
        parser.write(file)


def _json(path: Path) -> None:
    document = {
        "database": {"user": "shop", "password": WEAK, "passive": True},
        "mail": {"smtp_password": REFERENCE, "password_file": "/run/secrets/smtp"},
        "cache": {"bypass_cache": "secret-ish", "api_key": STRONG},
    }
    path.write_text(json.dumps(document, indent=2))


def _yaml(path: Path) -> None:
    document = {
        "database": {"user": "shop", "password": WEAK, "passive": True},
        "mail": {"smtp_password": REFERENCE, "password_file": "/run/secrets/smtp"},
        "cache": {"bypass_cache": "secret-ish", "api_key": STRONG},
    }
    path.write_text(yaml.safe_dump(document, default_flow_style=False))


def _python(path: Path) -> None:
    # pprint's layout of a dict literal, as settings files are often generated.
    document = {
        "database": {"user": "shop", "password": WEAK, "passive": True},
        "mail": {"smtp_password": REFERENCE, "password_file": "/run/secrets/smtp"},
        "cache": {"bypass_cache": "secret-ish", "api_key": STRONG},
    }
    import pprint

    path.write_text("SETTINGS = " + pprint.pformat(document, width=40) + "\n")


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("config.ini", _ini),
        ("config.json", _json),
        ("config.yaml", _yaml),
        ("settings.py", _python),
    ],
)
def test_files_written_by_real_serialisers(
    tmp_path: Path, name: str, write: Callable[[Path], None]
) -> None:
    path = tmp_path / "src" / "app" / name
    path.parent.mkdir(parents=True)
    write(path)
    (record,) = scanned(tmp_path)["files"].values()
    got = sorted((f["field"].rsplit(".", 1)[-1], f["kind"], f["level"]) for f in record["facts"])
    assert got == [("api_key", "token", None), ("password", "password", "weak")]


JAVA_WRITER = """
import java.io.FileOutputStream;
import java.util.Properties;

public class Write {
    public static void main(String[] args) throws Exception {
        Properties properties = new Properties();
        for (int i = 1; i + 1 < args.length; i += 2) properties.setProperty(args[i], args[i + 1]);
        try (FileOutputStream out = new FileOutputStream(args[0])) {
            properties.store(out, "written by java.util.Properties");
        }
    }
}
"""


def test_a_properties_file_written_by_java(tmp_path: Path) -> None:
    """Properties.store escapes "=", ":", "#", "!" and writes what is not Latin-1 as \\uXXXX:
    the pass reads back the very values Java was given."""
    java = require_tool("java")
    (tmp_path / "Write.java").write_text(JAVA_WRITER)
    secret = "Zk8#v:Q2=mR!7tY\u00e94wB9nC3xF6hJ1pL5sD0g\u03a9"
    path = tmp_path / "application.properties"
    values = {
        "spring.datasource.username": "shop",
        "spring.datasource.password": WEAK,
        "spring.mail.password": REFERENCE,
        "app.secret": secret,
        "app.passive": "true",
    }
    argv = [java, str(tmp_path / "Write.java"), str(path)]
    subprocess.run([*argv, *itertools.chain(*values.items())], check=True, timeout=120)
    text = path.read_text(encoding="latin-1")
    assert "\\u03A9" in text  # Java's escape, not the character
    found = {s.field: s.value for s in Guessed().parse(text, Source(path, tmp_path))}
    assert found == {"spring.datasource.password": WEAK, "app.secret": secret}


@pytest.mark.parametrize("name", ["config.toml", "config.yaml"])
def test_the_light_readers_agree_with_the_real_parsers(name: str) -> None:
    """Each value the guessed pass reads from the samples is the one tomllib or PyYAML reads
    at that key (PyYAML told to leave the !vault tag alone)."""
    text = (DATA / name).read_text()
    if name.endswith(".toml"):
        document: Any = tomllib.loads(text)
    else:

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_constructor("!vault", lambda loader, node: None)
        document = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    entries = [e for e in read.yaml(text)] if name.endswith(".yaml") else list(read.toml(text))
    checked = 0
    for entry in entries:
        value: Any = document
        for key in entry.keys:
            value = value[int(key[1:-1])] if key.startswith("[") else value[key]
        real = value if isinstance(value, str) else str(value).lower()
        assert real == entry.value, entry.keys
        checked += 1
    assert checked >= 8


# --- hostile input ------------------------------------------------------------------------

READERS = {
    "x.ini": read.ini, "x.conf": read.conf, "x.properties": read.properties,
    "x.toml": read.toml, "x.yaml": read.yaml, "x.json": read.json, "settings.py": read.code,
}  # fmt: skip
_SOUP = st.lists(
    st.sampled_from(
        ["\n", " ", "  ", "\t", "=", ":", '"', "'", "`", "\\", "#", ";", "[", "]", "{", "}",
         "(", ")", ",", "- ", "&a ", "*a", "!!str ", "!vault ", "|", "${X}", "%(x)s", "/*",
         "*/", "//", '"""', "password", "token", "pass", "x", "hunter2", "\\u00e9", "\r\n"]
    ),
    max_size=200,
).map("".join)  # fmt: skip


@pytest.mark.parametrize("name", sorted(READERS))
def test_any_text_is_read_or_passed_over_never_a_crash(name: str, tmp_path: Path) -> None:
    source = Source(tmp_path / name, tmp_path)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=_SOUP)
    def run(text: str) -> None:
        for secret in Guessed().parse(text, source):
            assert secret.line >= 1

    run()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("x.json", "/*" * 100_000),  # an unclosed comment, many times over
        ("x.json", '"\\' * 100_000),  # a string never closed
        ("x.json", '{"a":' * 100_000),
        ("settings.py", 'password = "\\' * 20_000),
        ("settings.py", ("x = {\n" * 60_000)),
        ("x.yaml", "- " * 100_000 + "a: b"),
        ("x.yaml", "a:\n " * 60_000),
        ("x.toml", 'a = """\n' * 40_000),
        ("x.properties", "a=\\\n" * 60_000),
    ],
)
def test_hostile_input_is_read_in_bounded_time(name: str, text: str, tmp_path: Path) -> None:
    try:
        with time_limit(30):  # a hang detector, not a timing: each takes well under a second
            list(Guessed().parse(text[: 256 * 1024], Source(tmp_path / name, tmp_path)))
    except OutOfTime:
        pytest.fail(f"{name}: still being read after 30 s")


def test_no_yaml_tag_is_run_and_no_alias_is_followed(tmp_path: Path) -> None:
    text = (
        "a: &x hunter2\n"
        "b:\n  password: *x\n"
        "c:\n  password: !!python/object/apply:os.system ['touch PWNED']\n"
        "d:\n  password: !!str Winter2020\n"
    )
    secrets = list(Guessed().parse(text, Source(tmp_path / "x.yaml", tmp_path)))
    assert [(s.field, s.line) for s in secrets] == [("d.password", 7)]
    assert not (tmp_path / "PWNED").exists()
    assert list(tmp_path.iterdir()) == []
