"""Config files of programs no other family knows: ~/.config/someapp/config.ini, a project's
settings.py, config.yaml or appsettings.json. The format is guessed from the file's name (its
extension), and the file is read with a light reader of that syntax (_structured.py).

A key named like a password or a secret (password, passwd, pwd, pass, passphrase, secret,
token, api_key, credentials, client_secret, ... as a whole word of the name: not "passive",
"bypass_cache" or "tokenizer") with a literal value is reported and graded like any other;
so is the password in any URL value. Not values: a reference (${VAR}, %(name)s, {{ var }},
os.environ[...], process.env.X, a YAML tag or alias: none of these is a literal), an empty
value, a placeholder ("your_password_here", "xxx", "<password>"), a path, a boolean, a
number under a token's name, a label ("Password", "Enter your password") or the name of
one ("skl_tokens", "db-password").

A file that does not read as its name says is simply not such a file: no note, nothing left
unchecked (agent/credentials/scan.py). Lock files, translations, templates
(config.example.yaml) and files in examples/, samples/ or fixtures/ folders are not a
person's settings and are passed over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.credentials.families import _structured as read
from agent.credentials.families.dotenv import _url_password as url_password
from agent.credentials.families.dotenv import kind_of
from agent.credentials.model import Family, Kind, Secret, Source

# Larger than this, a .json or .yaml file is data (a lock file, a fixture), not settings.
MAX_CHARS = 256 * 1024

_READERS: dict[str, read.Reader] = {
    "yaml": read.yaml, "yml": read.yaml, "toml": read.toml, "json": read.json,
    "properties": read.properties, "py": read.code, "js": read.code, "cjs": read.code,
    "mjs": read.code, "ts": read.code, "conf": read.conf, "cnf": read.conf,
}  # fmt: skip
# Files of these names hold data, not settings a person wrote.
_NOT_SETTINGS = re.compile(
    r"""(?x) package-lock\.json | npm-shrinkwrap\.json | .*\.lock\.json | .*\.schema\.json
    | .*\.min\.js | [a-z]{2}[_-][A-Z]{2}\.(?:json|ya?ml|properties)  # pt_BR.yml, en-US.json
    | messages(?:_[a-z_]+)?\.properties | .*translations?.* | nsswitch\.conf
    | .*\.(?:example|sample|template|dist|tmpl|defaults)\.[a-z]+"""
)
# Files in folders of these names are samples, test data or translations, not a person's
# settings.
_NOT_SETTINGS_FOLDERS = frozenset(
    {
        "example", "examples", "sample", "samples", "fixtures", "testdata", "test_data",
        "locale", "locales", "i18n", "l10n", "lang", "langs", "translations",
    }
)  # fmt: skip
# A last word of the key that says the value describes a secret instead of holding it,
# beside those dotenv.kind_of knows: password_command, token_prompt, secret_label.
_DESCRIBES = frozenset(
    {
        "command", "cmd", "eval", "program", "helper", "script", "prompt", "label", "text",
        "message", "msg", "hint", "title", "placeholder", "env", "var", "variable",
        "description", "desc", "help", "format", "pattern", "regex", "validator",
        "validators", "hasher", "hashers", "backend", "backends", "class", "reset", "store",
        "manager", "storage", "source", "location", "rotation", "strength", "policy",
    }
)  # fmt: skip
# A value that stands in for the secret in a sample or template.
_PLACEHOLDER = re.compile(
    r"""(?ix) [x*.?#_\-]+ | (?:your|my|enter|insert|put|some)[\s_\-].* | .*[\s_\-]here
    | replace[\s_\-]?me | todo | tbd | fixme | redacted | removed | hidden | placeholder
    | dummy | n/?a | unset | string | str | text | int | integer | number | bool | boolean
    | object | required | optional | secret[\s_\-]?value | token[\s_\-]?value"""
)
_NOT_SECRETS = frozenset(
    {"true", "false", "yes", "no", "on", "off", "null", "none", "nil", "undefined", "~"}
)
# Still a reference inside a longer value: "${DB_PASS}", "%(password)s", "#{secret}", or
# a call that fetches it.
_REFERS = re.compile(r"\$\{|\{\{|%\([^)]*\)[sdr]|#\{|\$\(|\bos\.environ|\bprocess\.env\b")
_NUMBER = re.compile(r"[+-]?\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?")
_PATH = re.compile(r"(?:~|\.{1,2})?/[\w.@/\-]*|[A-Za-z]:\\[^\s]*")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CONTEXT = frozenset({"user", "username", "login", "host", "hostname", "db", "database", "name"})
_WORDS = re.compile(r"[A-Za-z]+")
_PASSWORD_WORD = re.compile(r"(?i)passw(?:or)?d|pwd|passphrase")


class Guessed(Family):
    title = "a config file (format guessed from the file name)"
    advice = (
        "Take the secret out of {file}: most programs can read it from an environment "
        "variable or a file only you can read, filled from your keyring or a secrets "
        "manager when the program starts. Meanwhile keep {file} readable by you only "
        "(chmod 600 {file}) and out of version control."
    )

    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        name = source.path.name
        if len(text) > MAX_CHARS or _NOT_SETTINGS.fullmatch(name):
            return
        if source.path.parent.name.lower() in _NOT_SETTINGS_FOLDERS:
            return
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        reader = _READERS.get(extension, read.ini)
        try:
            entries = list(reader(text))
        except (ValueError, RecursionError):
            return  # not the format the name says: not ours to judge
        context = tuple(
            entry.value
            for entry in entries
            if entry.keys
            and (_parts(entry.keys[-1]) or [""])[-1] in _CONTEXT
            and 0 < len(entry.value) <= 64
            and "://" not in entry.value
        )[:16]
        for entry in entries:
            field = _field(entry.keys)
            url = url_password(entry.value) if "://" in entry.value else None
            if url is not None:
                password, user, host = url
                yield Secret(
                    line=entry.line,
                    field=field,
                    value=password,
                    user_inputs=(user, host, *context),
                )
                continue
            kind = _kind(entry.keys)
            if kind is not None and _literal(entry, kind):
                yield Secret(
                    line=entry.line,
                    field=field,
                    value=entry.value,
                    kind=kind,
                    user_inputs=context,
                )


def _parts(key: str) -> list[str]:
    return [p.lower() for p in re.split(r"[_.\-\s]+", _CAMEL.sub("_", key)) if p]


def _kind(keys: tuple[str, ...]) -> Kind | None:
    """Whether the innermost named key says it holds a password or a token."""
    key = next((k for k in reversed(keys) if not k.startswith("[")), "")
    if not key or any(c.isspace() for c in key.strip()):
        return None  # a sentence used as a key (a translation), not a setting
    parts = _parts(key)
    if not parts or parts[-1] in _DESCRIBES:
        return None
    if parts == ["pwd"]:
        return "password"
    kind = kind_of("_".join(parts))
    if kind == "password" and "pass" in parts[:-1] and not _PASSWORD_WORD.search(key):
        return None  # pass_through, pass_env: "pass" the verb, not the noun
    return kind


def _literal(entry: read.Entry, kind: Kind) -> bool:
    """Whether the value is the secret itself, written in the file."""
    value = entry.value.strip()
    lowered = value.lower()
    if not value or lowered in _NOT_SECRETS or _REFERS.search(value):
        return False
    if _PLACEHOLDER.fullmatch(value) or _PATH.fullmatch(value):
        return False
    if kind == "token" and (_NUMBER.fullmatch(value) or any(c.isspace() for c in value)):
        return False
    key = next((k for k in reversed(entry.keys) if not k.startswith("[")), "")
    words = set(_parts(key))
    # "Password", "Enter your password": the label of a field, not its value; "skl_tokens",
    # "db-password": the name of one.
    if " " in value:
        return not words & {w.lower() for w in _WORDS.findall(value)}
    named = len(parts := re.split(r"[_.\-]", lowered)) > 1 and words & set(parts)
    return not (named or (value.istitle() and value.isalpha() and lowered in words))


def _field(keys: tuple[str, ...]) -> str:
    """The keys leading to the value, the last three at most: "database.password"."""
    shown = ""
    for key in keys[-3:]:
        shown += key if key.startswith("[") or not shown else "." + key
    return shown[:120]
