"""Passwords in config files of no known format (the guessed pass) against detect-secrets.

    .venv/bin/python bench/credentials_guessed.py [--tree DIR ...] [--list]

(a) Recall. Generates a home in a temporary folder with 40 config files, one weak password
planted in each: the issue's four (src/app/settings.py,
src/app/config.yaml, src/app/.env, ~/.config/someapp/config.ini) and more of every kind the
pass reads (.ini, .cfg, .conf, .cnf, .toml, .yaml/.yml, .json, .properties, settings.py
and other Python settings, *.config.js, config.js/ts, knexfile.js), under ~/src and
~/.config, beside references, placeholders and keys that are no secret. A planted password
counts as found by us when `CredentialsCheck.run` (the real scanner child, policy
defaults but project_roots ~/src and no system files) gives a "weak password" finding at
its file and line, and by detect-secrets 1.5.0 (`detect-secrets scan FILE...`, from the
venv bench/credentials.py makes under ~/.cache/hygiene-bench) when it reports any secret at
that file and line.

(b) False findings. Copies the config files (the extensions above, settings.py, config.py,
up to 256 KiB each: the pass's own bound, so both read the same files) of the packages
installed here into ~/src/real/<n>/<the folder it was in>/ of a second home: the bench's
venv, detect-secrets' venv, and, unless --tree is given, Debian's /usr/share (real
open-source config files; none holds a real password). Counts our "weak password"
findings there (each listed) and detect-secrets' reports on the same files: every one is
false. (The pass takes files in an examples/ folder for templates: wpa_supplicant's
documented examples in /usr/share/doc are such, with six sample passwords.)
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from agent.checks.credentials import CredentialsParams  # noqa: E402
from agent.credentials import GUESSED_NAMES as NAMES  # noqa: E402
from agent.credentials.families.guessed import MAX_CHARS  # noqa: E402
from agent.fingerprint import Fingerprinter  # noqa: E402
from agent.models import Finding  # noqa: E402
from agent.policy import validated  # noqa: E402
from agent.store import Store  # noqa: E402
from bench.credentials import (  # noqa: E402
    DS_VENV,
    DS_VERSION,
    WEAK,
    detect_secrets_venv,
    ds_cli,
    our_scan,
)

# "=== home-relative path", then the file; %W% marks the planted weak password.
PLANTED = """\
=== src/app/settings.py
import os
DEBUG = False
SECRET_KEY = os.environ["SECRET_KEY"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "USER": "app",
        "PASSWORD": "%W%",
        "HOST": "localhost",
    }
}
=== src/app/config.yaml
server:
  port: 8080
database:
  user: app
  password: %W%
  password_file: /run/secrets/db
=== src/app/.env
DEBUG=true
DB_PASSWORD=%W%
API_TOKEN=${CI_TOKEN}
=== .config/someapp/config.ini
[account]
user = ann
password = %W%
token_url = https://example.com/token
=== src/shop/local_settings.py
EMAIL_HOST = "smtp.example.com"
EMAIL_HOST_USER = "shop"
EMAIL_HOST_PASSWORD = '%W%'
=== src/shop/config.py
class Config:
    SQLALCHEMY_ECHO = False
    MAIL_USERNAME = "shop"
    MAIL_PASSWORD = "%W%"
    SECRET_KEY = os.getenv("SECRET_KEY")
=== src/shop/prod_config.py
REDIS_HOST = "cache.internal"
REDIS_PASSWORD = "%W%"
=== src/shop/secrets.py
API_USER = "svc"
API_PASSWORD = "%W%"
=== src/app/settings_prod.py
DATABASES = {
    'default': {
        'USER': 'prod',
        'PASSWORD': '%W%',
    },
}
=== src/api/config.js
module.exports = {
  port: 3000,
  db: {
    user: 'api',
    password: '%W%',
  },
  jwtSecret: process.env.JWT_SECRET,
};
=== src/api/knexfile.js
module.exports = {
  client: 'pg',
  connection: { host: 'db', user: 'api', password: '%W%' },
};
=== src/web/next.config.js
module.exports = {
  env: {
    ADMIN_PASSWORD: "%W%",
  },
};
=== src/web/config.ts
export const config = {
  apiUrl: "https://api.example.com",
  adminPassword: "%W%",
};
=== src/api/config.toml
[server]
port = 8080
[database]
user = "api"
password = "%W%"
=== src/bot/settings.toml
[irc]
nick = "bot"
password = '%W%'
=== .config/app4/config.toml
title = "app4"
[auth]
username = "ann"
password = "%W%"
=== .config/mpdlike/app.conf
bind_to_address "localhost"
port "6600"
password %W%
=== .config/daemon/daemon.conf
db_host = localhost
db_password = %W%
=== src/db/flyway.conf
flyway.url=jdbc:postgresql://db:5432/app
flyway.user=app
flyway.password=%W%
=== src/app/setup.cfg
[metadata]
name = app
[db]
password = %W%
=== .config/app6/app.cfg
user: ann
password: %W%
=== .config/app7/client.cnf
[client]
user=ann
password=%W%
=== .config/app5/app.ini
[server]
admin_user = admin
admin_pass = %W%
=== src/svc/config/application.properties
spring.datasource.url=jdbc:postgresql://db:5432/svc
spring.datasource.username=svc
spring.datasource.password=%W%
=== src/svc/application-dev.properties
app.mail.user=svc
app.mail.password = %W%
=== src/ci/config.properties
db.user=ci
db.password: %W%
=== src/api/appsettings.json
{
  "Logging": {"LogLevel": {"Default": "Warning"}},
  "Database": {
    "Host": "db",
    "Password": "%W%"
  }
}
=== src/app/appsettings.Development.json
{
  "Smtp": {"Host": "localhost", "Password": "%W%"}
}
=== .config/tool/config.json
{"auth": {"user": "ann", "password": "%W%"}}
=== .config/app8/settings.json
{
  "proxy": {
    "host": "proxy.example.com",
    "password": "%W%"
  }
}
=== src/app/config.json
{"db": {"url": "postgres://app:%W%@db.example.com/app"}}
=== src/app/docker-compose.yml
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: %W%
=== src/ops/inventory.yml
all:
  vars:
    ansible_user: deploy
    ansible_become_password: %W%
=== .config/app2/settings.yml
smtp:
  host: mail.example.com
  pass: %W%
=== .config/app3/users.yaml
users:
  - name: ann
    password: "%W%"
=== src/app/config/database.yml
production:
  adapter: postgresql
  username: app
  password: %W%
=== src/worker/config.yml
broker_url: amqp://guest:%W%@mq.example.com//
=== .config/app9/app.yaml
credentials:
  username: ann
  password: '%W%'
=== src/admin/settings.js
const settings = {
  title: "Admin",
  smtpPassword: "%W%",
};
=== .config/app10/config.yml
remote:
  url: https://backup.example.com
  user: ann
  passphrase: %W%
"""
REAL_NAMES = (*NAMES, "config.py")
REAL_EXTENSIONS = (".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml", ".json", ".properties")


def plant(home: Path) -> set[tuple[str, int]]:
    """Write the planted files; the (home-relative path, line) of each weak password."""
    weak = itertools.cycle(WEAK)
    planted = set()
    for block in PLANTED.split("=== ")[1:]:
        rel, _, text = block.partition("\n")
        lines = text.splitlines(keepends=True)
        for number, line in enumerate(lines, 1):
            if "%W%" in line:
                planted.add((rel, number))
                lines[number - 1] = line.replace("%W%", next(weak))
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
        path.chmod(0o600)
    return planted


def real_tree(home: Path, roots: list[Path]) -> list[str]:
    """Copy the config files under `roots` into ~/src/real/<n>/<folder>/, keeping their
    names and their folders' names."""
    copied: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            name = path.name
            if not (name.endswith(REAL_EXTENSIONS) or name in ("settings.py", "config.py")):
                continue
            if not any(fnmatch.fnmatchcase(name, p) for p in REAL_NAMES):
                continue
            try:
                if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_CHARS:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            # In a folder named as the original's (an examples folder stays one).
            target = home / "src" / "real" / str(len(copied)) / path.parent.name / name
            target.parent.mkdir(parents=True)
            target.write_bytes(data)
            copied.append(target.relative_to(home).as_posix())
    return copied


def ours(home: Path, state: Path) -> tuple[float, list[Finding]]:
    Store.open(state).close()
    Fingerprinter.for_state_dir(state)
    params = validated(CredentialsParams, {"include_system": False, "project_roots": ["~/src"]})
    return our_scan(home, state, params)


def weak_at(findings: list[Finding]) -> dict[tuple[str, int], Finding]:
    return {
        (f.subject.removeprefix("~/"), int(str(f.evidence["line"]))): f
        for f in findings
        if f.evidence["reason"] == "weak password"
    }


def recall(work: Path, python: Path) -> tuple[int, int, int]:
    home = work / "planted"
    planted = plant(home)
    took, findings = ours(home, work / "state-planted")
    found = weak_at(findings)
    files = sorted({rel for rel, _ in planted})
    ds_took, theirs = ds_cli(python, home, files)
    by_us, by_them = planted & set(found), planted & theirs
    print(f"(a) {len(planted)} weak passwords planted in {len(files)} config files (one .env)")
    print(f"    found by us (weak password at file+line)       {len(by_us):3} / {len(planted)}")
    print(f"    found by detect-secrets (any secret there)     {len(by_them):3} / {len(planted)}")
    print(f"    other weak findings of ours in these files     {len(set(found) - planted):3}")
    print(f"    missed by us: {_places(planted - by_us)}")
    print(f"    missed by detect-secrets: {_places(planted - by_them)}")
    print(
        f"    one run each (under load): our check {took * 1000:.0f} ms (a new scanner), "
        f"detect-secrets CLI {ds_took * 1000:.0f} ms (these {len(files)} files)"
    )
    return len(planted), len(by_us), len(by_them)


def false_findings(work: Path, python: Path, roots: list[Path]) -> tuple[int, int]:
    home = work / "real"
    files = real_tree(home, roots)
    _, findings = ours(home, work / "state-real")
    weak = weak_at(findings)
    _, theirs = ds_cli(python, home, files) if files else (0.0, set())
    shown = ", ".join(str(r) for r in roots)
    print(f"(b) {len(files)} real config files (up to {MAX_CHARS // 1024} KiB) from {shown}")
    print(f"    our 'weak password' findings                   {len(weak):3}")
    print(f"    our findings of any kind                       {len(findings):3}")
    print(f"    detect-secrets' reports                        {len(theirs):3}")
    for (rel, line), finding in sorted(weak.items()):
        print(f"      ours: ~/{rel}:{line} ({finding.evidence['field']})")
    return len(weak), len(theirs)


def _places(places: set[tuple[str, int]]) -> str:
    return ", ".join(f"~/{rel}:{line}" for rel, line in sorted(places)) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        help="a folder whose config files make tree (b), beside the two venvs; default /usr/share",
    )
    args = parser.parse_args()
    python = detect_secrets_venv()
    venvs = [Path(sysconfig.get_paths()["purelib"])]
    venvs += sorted(DS_VENV.glob("lib/python3*/site-packages"))
    roots = [*venvs, *(args.tree or [Path("/usr/share")])]
    print(f"Python {sys.version.split()[0]}, detect-secrets {DS_VERSION}")
    with tempfile.TemporaryDirectory(prefix="hygiene-guessed-") as tmp:
        start = time.perf_counter()
        _, by_us, by_them = recall(Path(tmp), python)
        ours_false, theirs_false = false_findings(Path(tmp), python, roots)
        took = time.perf_counter() - start
    print(f"[{_ok(by_us >= by_them)}] recall at least detect-secrets' ({by_us} >= {by_them})")
    print(
        f"[{_ok(ours_false <= theirs_false)}] no more false 'weak' findings than detect-secrets' "
        f"reports on real config files ({ours_false} <= {theirs_false})"
    )
    print(f"(the bench took {took:.0f} s)")
    return 0


def _ok(passed: bool) -> str:
    return "PASS" if passed else "MISS"


if __name__ == "__main__":
    sys.exit(main())
