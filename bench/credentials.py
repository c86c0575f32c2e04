"""The credentials check against detect-secrets, on the same planted credential files.

    .venv/bin/python bench/credentials.py [--runs N] [--other-files N]

(`pip install -e .` first: the whole-process comparison runs the installed `hygiene`.)

Generates a home in a temporary folder: 41 credential files across the formats the check
reads (40 without rclone, which obscures rclone.conf's passwords), holding weak and strong
passwords and tokens, and 10,000 other files (project sources, node_modules, documents,
caches). Then, in the same run, N times each (default 7), the medians of:
- our first scan: CredentialsCheck.run in this process with an empty scan cache (the
  store and install key made beforehand, untimed, as the agent has them before any check
  runs; the scanner child `python -m agent.credentials` reads every file); our re-scan: a second run
  on the same state folder with nothing changed (a stat call per file, no child); and, to
  show where the first scan's time goes, the child's start and imports alone;
- detect-secrets (from PyPI, in its own venv under ~/.cache/hygiene-bench, made on first
  use) on exactly the credential files: the CLI `detect-secrets scan FILE...` (process
  start, imports, its process pool), and in-process in its venv (SecretsCollection.
  scan_file on each file under default_settings(); imports and plugin set-up not timed);
- whole processes, as a person runs them: the installed `hygiene check --only credentials`
  (HOME and the XDG folders in the generated home, a user policy there giving the same
  project_roots and extra_files, a new state folder each run: the command keeps only its
  install key there, never a scan cache) against `detect-secrets scan FILE...`, interleaved;
- the peak memory (ru_maxrss) of our scanner child answering the check's first scan (the
  check run in a fresh process, whose only child is the scanner), of `detect-secrets scan
  FILE...` and of `hygiene check --only credentials`: each the largest process a fresh Python
  process waited for (resource.getrusage(RUSAGE_CHILDREN)), processes it starts included.
A planted weak password counts as found by us when a finding says "weak password" at its
file and line, and by detect-secrets when it reports any secret at that file and line.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from agent.checks.base import CheckContext  # noqa: E402
from agent.checks.credentials import CredentialsCheck, CredentialsParams  # noqa: E402
from agent.credentials.families import FAMILIES  # noqa: E402
from agent.credentials.scan import scan  # noqa: E402
from agent.fingerprint import Fingerprinter  # noqa: E402
from agent.models import Finding  # noqa: E402
from agent.paths import Paths  # noqa: E402
from agent.policy import validated  # noqa: E402
from agent.store import Store  # noqa: E402
from bench.shared import person_env  # noqa: E402

DS_VENV = Path.home() / ".cache" / "hygiene-bench" / "detect-secrets-venv"
DS_VERSION = "1.5.0"
# Common and default passwords and one season-and-year; none holds ':', '@', '&' or a space.
WEAK = [
    *("changeme", "password123", "hunter2", "Winter2020", "letmein1", "qwerty12", "admin123"),
    *("welcome1", "iloveyou", "dragon12", "monkey123", "football1", "Password1", "abc12345"),
    *("trustno1", "sunshine1", "passw0rd", "1q2w3e4r", "zaq12wsx", "asdf1234", "test1234"),
    *("secret123", "shadow12", "master123"),
]
PROJECTS = [
    *("shop", "blog", "api-server", "dashboard", "crm", "billing", "wiki", "chat"),
    *("mobile-app", "infra", "client/portal", "client/reports", "client/etl", "scratch"),
]
NM = "[connection]\nid={0}\ntype=wifi\n\n[wifi]\nssid={0}Net\n\n[wifi-security]\n"
# "=== path [format]": a file at its usual place, or (with a format) given as an extra file.
# Markers: %W% a weak password, %S% a strong one, %T% a GitHub token, %W64%/%S64% one in
# base64, %AUTH%/%SAUTH% "ann:<password>" in base64, %WOBS%/%SOBS% one rclone-obscured.
TEMPLATES = """\
=== .netrc
machine example.com login ann password %W%
machine api.example.org
  login bob
  password %S%
default login ann password %W%
=== .git-credentials
https://ann:%W%@git.example.com
https://bob:%T%@github.com
https://carol:%S%@gitlab.example.com
=== .pgpass
# hostname:port:database:username:password
db.example.com:5432:shop:ann:%W%
localhost:*:*:postgres:%W%
backup.example.org:5432:*:replicator:%S%
=== .my.cnf
[client]
user = ann
password = "%W%"
host = db.example.com
[mysqldump]
user = backup
password = '%S%'
=== .docker/config.json
{
  "auths": {
    "https://index.docker.io/v1/": {"auth": "%AUTH%"},
    "registry.example.com": {"auth": "%SAUTH%"}
  }
}
=== .pypirc
[distutils]
index-servers = pypi private
[pypi]
username = __token__
password = pypi-AgEIcHlwaS5vcmcCJGExYjJjM2Q0LWU1ZjYtNzg5MC1hYmNkLWVmMDEy
[private]
repository = https://pypi.example.com/legacy/
username = ann
password = %W%
=== .npmrc
//registry.npmjs.org/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8
//npm.example.com/:username=ann
//npm.example.com/:_password="%W64%"
; the local verdaccio
//localhost:4873/:_auth=%AUTH%
=== .config/rclone/rclone.conf
[nas]
type = sftp
host = nas.example.lan
user = ann
pass = %WOBS%
[vault]
type = crypt
remote = nas:vault
password = %SOBS%
=== .s3cfg
[default]
access_key = AKIAIOSFODNN7EXAMPLE
gpg_command = /usr/bin/gpg
gpg_passphrase = %W%
host_base = s3.amazonaws.com
secret_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
=== .fetchmailrc
set daemon 300
poll imap.example.com with proto IMAP
    user "ann@example.com" there with password "%W%" is ann here
    options ssl fetchall
poll pop.example.org proto pop3
    user 'bob@example.org' there with password '%S%' is bob here
=== .muttrc
set realname = "Ann Example"
set imap_user = "ann@example.com"
set imap_pass = "%W%"
set folder = "imaps://imap.example.com:993/"
set smtp_url = "smtps://ann@smtp.example.com:465/"
set smtp_pass = "%S%"
=== .config/filezilla/sitemanager.xml
<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>
<FileZilla3 version="3.66.4" platform="*nix">
  <Servers>
    <Server><Host>ftp.example.com</Host><Protocol>0</Protocol><User>ann</User>
      <Pass encoding="base64">%W64%</Pass><Logontype>1</Logontype><Name>FTP</Name></Server>
    <Server><Host>sftp.example.org</Host><Protocol>1</Protocol><User>deploy</User>
      <Pass encoding="base64">%S64%</Pass><Logontype>1</Logontype><Name>Deploy</Name></Server>
  </Servers>
</FileZilla3>
=== .purple/accounts.xml
<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
  <account><protocol>prpl-jabber</protocol><name>ann@jabber.example.org/Home</name>
    <password>%W%</password></account>
  <account><protocol>prpl-irc</protocol><name>annb@irc.libera.chat</name>
    <password>%S%</password></account>
</account>
=== .m2/settings.xml
<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.2.0">
  <servers><server><id>nexus-releases</id><username>deployment</username>
    <password>%W%</password></server></servers>
  <proxies><proxy><id>corporate</id><host>proxy.example.com</host><username>ann</username>
    <password>%S%</password></proxy></proxies>
</settings>
=== .config/composer/auth.json
{
    "http-basic": {
        "repo.example.org": {"username": "ann", "password": "%W%"}
    },
    "github-oauth": {"github.com": "%T%"}
}
=== .kube/config
apiVersion: v1
kind: Config
users:
- name: ci
  user:
    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJl
- name: legacy
  user:
    username: admin
    password: %W%
=== .aws/credentials
[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
=== .config/gh/hosts.yml
github.com:
    user: ann
    oauth_token: %T%
    git_protocol: https
=== backup/etc/NetworkManager/system-connections/Cafe.nmconnection networkmanager
{NM_Cafe}key-mgmt=wpa-psk
psk=%W%
=== backup/etc/NetworkManager/system-connections/Home.nmconnection networkmanager
{NM_Home}key-mgmt=wpa-psk
psk=%W%
=== backup/etc/NetworkManager/system-connections/Work.nmconnection networkmanager
{NM_Work}key-mgmt=wpa-psk
psk=%S%
=== backup/etc/wpa_supplicant/wpa_supplicant.conf wpa_supplicant
ctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev
network={
    ssid="Home"
    psk="%W%"
}
network={
    ssid="Office"
    psk="%S%"
}
=== backup/etc/apt/auth.conf.d/corp.conf apt_auth
machine apt.example.com login ann password %W%
=== work/.netrc netrc
machine ci.example.com login deploy password %W%
machine cache.example.com login deploy password %S%
"""
DOTENV = """\
# settings for {name}
DEBUG=true
DATABASE_URL=postgres://app:{0}@db.example.com:5432/app
SECRET_KEY=%S%
REDIS_URL=redis://localhost:6379/0
API_TOKEN=%T%
ADMIN_PASSWORD={1}
"""


def credential_files() -> list[tuple[str, str | None, str]]:
    """(home-relative path, format or None, template) of every credential file."""
    files: list[tuple[str, str | None, str]] = []
    for block in TEMPLATES.split("=== ")[1:]:
        head, _, text = block.partition("\n")
        rel, _, fmt = head.partition(" ")
        for name in ("Cafe", "Home", "Work"):
            text = text.replace(f"{{NM_{name}}}", NM.format(name))
        files.append((rel, fmt or None, text))
    for i, name in enumerate(PROJECTS):
        passwords = ("%W%", "%S%") if i % 2 else ("%S%", "%W%")
        env = ".env.local" if i % 5 == 4 else ".env"
        files.append((f"projects/{name}/{env}", None, DOTENV.format(*passwords, name=name)))
        if i % 5 == 0:
            files.append((f"projects/{name}/.npmrc", None, "//npm.example.com/:_auth=%AUTH%\n"))
    return files


class Planted:
    """The credential files written, and the (file, line) of every weak password in them."""

    def __init__(self, home: Path, rng: random.Random, rclone: str | None) -> None:
        self.files: list[str] = []
        self.extra: list[dict[str, str]] = []
        self.weak: set[tuple[str, int]] = set()
        self.rng, self.rclone, self.cycle = rng, rclone, itertools.cycle(WEAK)
        for rel, fmt, template in credential_files():
            if "OBS%" in template and rclone is None:
                continue
            lines = template.splitlines(keepends=True)
            path = home / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(self.fill(rel, n, line) for n, line in enumerate(lines, 1)))
            path.chmod(0o600)
            self.files.append(rel)
            if fmt:
                self.extra.append({"path": f"~/{rel}", "format": fmt})

    def fill(self, rel: str, number: int, line: str) -> str:
        weak, strong = "", self.text(string.ascii_letters + string.digits + "+-_", 22)
        if "%W" in line or "%AUTH%" in line:
            self.weak.add((rel, number))
            weak = next(self.cycle)
        for marker, value in (
            ("%W%", weak), ("%S%", strong), ("%T%", "ghp_" + self.text(string.digits, 36)),
            ("%W64%", _b64(weak)), ("%S64%", _b64(strong)),
            ("%AUTH%", _b64(f"ann:{weak}")), ("%SAUTH%", _b64(f"ann:{strong}")),
        ):  # fmt: skip
            line = line.replace(marker, value)
        if "OBS%" in line and self.rclone:
            value = weak or strong
            argv = [self.rclone, "obscure", value]
            obscured = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            line = line.replace("%WOBS%", obscured.strip()).replace("%SOBS%", obscured.strip())
        return line

    def text(self, alphabet: str, length: int) -> str:
        return "".join(self.rng.choices(alphabet, k=length))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def other_files(home: Path, rng: random.Random, count: int) -> None:
    """Files no credential format reads: sources in the projects (some in node_modules, which
    the check skips), documents, caches and downloads."""
    words = "the of and config data value report user system file build test note".split()  # noqa: SIM905
    places = [
        *(f"projects/{p}/src/pkg{{b}}/sub{{c}}/mod{{i}}.py" for p in PROJECTS),
        *(f"projects/{p}/node_modules/lib{{b}}/dist/f{{i}}.js" for p in PROJECTS[:4]),
        "Documents/{b}/month{c}/note{i}.txt",
        ".cache/app{b}/{c}/entry{i}",
        "Downloads/file{i}.txt",
        ".local/share/app{b}/data{i}.json",
    ]
    for i in range(count):
        path = home / rng.choice(places).format(b=i % 7, c=i % 3, i=i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(" ".join(rng.choices(words, k=rng.randint(10, 120))) + "\n")


def scanner_env(home: Path) -> dict[str, str]:
    """HOME and every folder a format is looked for in, inside the generated home."""
    config = home / ".config"
    return {
        "HOME": str(home), "XDG_CONFIG_HOME": str(config),
        "XDG_DATA_HOME": str(home / ".local/share"), "XDG_RUNTIME_DIR": str(home / ".run"),
        "DOCKER_CONFIG": str(home / ".docker"), "COMPOSER_HOME": str(config / "composer"),
        "GH_CONFIG_DIR": str(config / "gh"),
    }  # fmt: skip


def warm_scans(home: Path, planted: Planted, runs: int) -> list[float]:
    """Our scan's own work with its imports done, as detect-secrets' in-process figure is."""
    settings = {
        "include_system": False,
        "project_roots": ["~/projects"],
        "extra_files": [[e["path"], e["format"]] for e in planted.extra],
        "guess_formats": True,  # as the check's default asks
    }
    request = {"home": str(home), "settings": settings}
    scan(request, FAMILIES, scanner_env(home))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        scan(request, FAMILIES, scanner_env(home))
        times.append(time.perf_counter() - start)
    return times


def our_scan(home: Path, state: Path, params: CredentialsParams) -> tuple[float, list[Finding]]:
    paths = Paths(home=home, user_policies=state, admin_policies=state, state=state)
    env = scanner_env(home)
    with Store.open(state) as store:  # as the agent holds it: open before, shared
        ctx = CheckContext(paths, Fingerprinter.for_state_dir(state), env=env, store=store)
        check = CredentialsCheck(params)
        start = time.perf_counter()
        findings = check.run(ctx)
        took = time.perf_counter() - start
    if check.notes:
        print("notes:", *check.notes, sep="\n  ", file=sys.stderr)
    return took, findings


def reported(findings: list[Finding], weak: bool) -> set[tuple[str, object]]:
    """The (file, line) of each finding, or of each that says "weak password"."""
    return {
        (f.subject.removeprefix("~/"), f.evidence["line"])
        for f in findings
        if not weak or f.evidence["reason"] == "weak password"
    }


def detect_secrets_venv() -> Path:
    """The venv's python; made (python3 -m venv, pip install) when it is not there yet."""
    python = DS_VENV / "bin" / "python"
    if not (DS_VENV / "bin" / "detect-secrets").exists():
        print(f"making {DS_VENV} with detect-secrets {DS_VERSION} ...", file=sys.stderr)
        subprocess.run(
            [shutil.which("python3") or "python3", "-m", "venv", str(DS_VENV)], check=True
        )
        pip = [str(python), "-m", "pip", "install", "-q", f"detect-secrets=={DS_VERSION}"]
        subprocess.run(pip, check=True)
    return python


def ds_cli(python: Path, home: Path, files: list[str]) -> tuple[float, set[tuple[str, int]]]:
    start = time.perf_counter()
    argv = [str(python.with_name("detect-secrets")), "scan", *files]
    done = subprocess.run(argv, cwd=home, capture_output=True, text=True, check=True)
    took = time.perf_counter() - start
    results: dict[str, list[dict[str, int]]] = json.loads(done.stdout)["results"]
    return took, {(name, s["line_number"]) for name, found in results.items() for s in found}


def check_settings(planted: Planted) -> dict[str, object]:
    """The credentials check's settings the bench uses everywhere: this home's files only."""
    return {
        "include_system": False,
        "project_roots": ["~/projects"],
        "extra_files": planted.extra,
    }


def hygiene_env(tmp: Path, home: Path, planted: Planted) -> dict[str, str]:
    """The environment of `hygiene` run by the person whose home was generated, with a user
    policy in it that gives the check the bench's settings; XDG_STATE_HOME is set per run."""
    env = {**person_env(tmp, state=False), **scanner_env(home)}
    folder = Path(env["XDG_CONFIG_HOME"]) / "hygiene-agent" / "policies.d"
    folder.mkdir(parents=True, exist_ok=True)
    policy = {"schema": 1, "name": "bench", "checks": {"credentials": check_settings(planted)}}
    (folder / "bench.yaml").write_text(json.dumps(policy, indent=2) + "\n")  # JSON is YAML
    return env


def hygiene_check(hygiene: Path, env: dict[str, str], state: Path, *more: str) -> tuple[float, str]:
    """`hygiene check --only credentials` as a person runs it, with a state folder of its own
    (the command keeps its install key there): the wall time and what it printed."""
    argv = [str(hygiene), "check", "--only", "credentials", *more]
    start = time.perf_counter()
    state_env = {**env, "XDG_STATE_HOME": str(state)}
    done = subprocess.run(argv, env=state_env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: something fails, as it should here
        raise SystemExit(f"hygiene check failed ({done.returncode}): {done.stderr.strip()}")
    return took, done.stdout


def weak_in_check_json(out: str) -> set[tuple[str, object]]:
    """The (file, line) of each weak password `hygiene check --json` reports."""
    findings = [f for r in json.loads(out)["results"] for f in r["findings"]]
    return {
        (f["subject"].removeprefix("~/"), f["evidence"]["line"])
        for f in findings
        if f["evidence"]["reason"] == "weak password"
    }


# The largest process a fresh Python waited for (ru_maxrss of its children: the command and
# any process it started), in KiB.
PEAK = """import resource, subprocess, sys
out = subprocess.DEVNULL
subprocess.run(sys.argv[1:], stdin=out, stdout=out, stderr=out)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
# The check's first scan in a fresh process: the only process it starts is its scanner child,
# so the largest child it waited for is that child, with the request the check really sends.
SCANNER_PEAK = """import json, resource, sys
from pathlib import Path
from agent.checks.base import CheckContext
from agent.checks.credentials import CredentialsCheck, CredentialsParams
from agent.fingerprint import Fingerprinter
from agent.paths import Paths
home, state = Path(sys.argv[1]), Path(sys.argv[2])
paths = Paths(home=home, user_policies=state, admin_policies=state, state=state)
ctx = CheckContext(paths, Fingerprinter.for_state_dir(state), env=json.loads(sys.argv[4]))
CredentialsCheck(validated(CredentialsParams, json.loads(sys.argv[3]))).run(ctx)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_mib(argv: list[str], *, env: dict[str, str], cwd: Path) -> float:
    runner = [sys.executable, "-I", "-c", PEAK, *argv]
    done = subprocess.run(runner, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return int(done.stdout) / 1024


def peaks(
    tmp: Path, planted: Planted, *, python: Path, hygiene: Path, env: dict[str, str]
) -> dict[str, float]:
    """Peak memory (MiB) of our scanner child answering a first scan's request, of
    `detect-secrets scan FILE...`, and of `hygiene check --only credentials`."""
    home = tmp / "home"
    detect = [str(python.with_name("detect-secrets")), "scan", *planted.files]
    check = [str(hygiene), "check", "--only", "credentials"]
    settings = json.dumps(check_settings(planted))
    found: dict[str, list[float]] = {"scanner": [], "detect-secrets": [], "hygiene": []}
    for n in range(3):
        first = [sys.executable, "-I", "-c", SCANNER_PEAK, str(home), str(tmp / f"scan{n}")]
        first += [settings, json.dumps(scanner_env(home))]
        done = subprocess.run(first, capture_output=True, text=True, check=True)
        found["scanner"].append(int(done.stdout) / 1024)
        found["detect-secrets"].append(peak_mib(detect, env=dict(os.environ), cwd=home))
        fresh = {"XDG_STATE_HOME": str(tmp / f"peak-state{n}")}
        found["hygiene"].append(peak_mib(check, env={**env, **fresh}, cwd=home))
    return {name: statistics.median(values) for name, values in found.items()}


# What any first scan pays before it reads a file: the scanner child's start, its imports
# and the word lists (zxcvbn's and the common-password list, built by the first grade).
FLOOR = "import agent.credentials.families, agent.credentials.scan as s; s.grade('hunter2')"
IN_PROCESS = """import json, sys, time
from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings
times = []
with default_settings():
    for _ in range(int(sys.argv[1])):
        start = time.perf_counter()
        found = SecretsCollection()
        for name in sys.argv[2:]:
            found.scan_file(name)
        times.append(time.perf_counter() - start)
print(json.dumps({"times": times, "found": [[n, s.line_number] for n, s in found]}))
"""


def one_round(
    state: Path, planted: Planted, params: CredentialsParams, times: dict[str, list[float]]
) -> tuple[list[Finding], set[tuple[str, int]]]:
    """One of the interleaved rounds: our first scan and re-scan, the child's floor, and
    detect-secrets' CLI; each time added to `times`. Our findings and theirs."""
    home, python = state.parent / "home", detect_secrets_venv()
    # The agent's store and install key exist before any check runs: made untimed.
    Store.open(state).close()
    Fingerprinter.for_state_dir(state)
    took, found = our_scan(home, state, params)
    times["first"].append(took)
    took, again = our_scan(home, state, params)
    times["again"].append(took)
    if reported(again, weak=False) != reported(found, weak=False):
        print("the re-scan's findings differ from the first scan's", file=sys.stderr)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-c", FLOOR], check=True)
    times["floor"].append(time.perf_counter() - start)
    took, theirs = ds_cli(python, home, planted.files)
    times["cli"].append(took)
    return found, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--other-files", type=int, default=10_000)
    args = parser.parse_args()
    hygiene = Path(sys.executable).with_name("hygiene")
    if not hygiene.exists():
        print("bench/credentials.py: install the package first: pip install -e .", file=sys.stderr)
        return 2
    python = detect_secrets_venv()
    rng = random.Random(80063)  # noqa: S311 - the same home every run, not secrets
    times: dict[str, list[float]] = {
        "first": [], "again": [], "floor": [], "cli": [], "warm": [], "whole": []
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        planted = Planted(home, rng, shutil.which("rclone"))
        other_files(home, rng, args.other_files)
        params = validated(CredentialsParams, check_settings(planted))
        env = hygiene_env(Path(tmp), home, planted)
        # Once, untimed: the command reads what the bench planted (the policy applies).
        _, out = hygiene_check(hygiene, env, Path(tmp) / "state-json", "--json")
        weak_by_command = planted.weak & weak_in_check_json(out)
        for run in range(args.runs):  # interleaved: all see the same machine load
            found, theirs = one_round(Path(tmp) / f"round{run}", planted, params, times)
            took, _ = hygiene_check(hygiene, env, Path(tmp) / f"check-state{run}")
            times["whole"].append(took)
        argv = [str(python), "-c", IN_PROCESS, str(args.runs), *planted.files]
        done = subprocess.run(argv, cwd=home, capture_output=True, text=True, check=True)
        inproc = json.loads(done.stdout)
        times["warm"] = warm_scans(home, planted, args.runs)
        memory = peaks(Path(tmp), planted, python=python, hygiene=hygiene, env=env)
    a, b, floor, cli, whole = (
        statistics.median(times[k]) for k in ("first", "again", "floor", "cli", "whole")
    )
    c = statistics.median(inproc["times"])
    warm = statistics.median(times["warm"])
    found_enough = report(args, planted, found, theirs, {(n, ln) for n, ln in inproc["found"]})
    ms = "median {:7.1f} ms".format
    print(f"our first scan (empty cache)      {ms(a * 1000)}")
    print(f"  scanner child start and imports {ms(floor * 1000)}   (part of the first scan)")
    print(f"our re-scan (nothing changed)     {ms(b * 1000)}")
    print(f"detect-secrets in-process         {ms(c * 1000)}   (scan_file calls only)")
    print(f"detect-secrets CLI                {ms(cli * 1000)}   (detect-secrets scan FILE...)")
    print(f"our scan, in-process, warm        {ms(warm * 1000)}   (imports done, as theirs)")
    print(f"detect-secrets in-process / our in-process scan: {c / warm:5.2f}x")
    print(f"detect-secrets in-process / our first scan: {c / a:5.2f}x")
    print(f"detect-secrets CLI / our first scan:        {cli / a:5.2f}x")
    print(f"our first scan / our re-scan:               {a / b:5.1f}x")
    print(f"[{_ok(found_enough)}] we find >= 95% of the planted weak passwords")
    print(f"[{_ok(cli / a >= 5)}] first scan >= 5x faster than detect-secrets, each a new process")
    print(f"[{_ok(c / warm >= 5)}] scan >= 5x faster than detect-secrets, both in-process, warm")
    print(f"[{_ok(a / b >= 10)}] re-scan >= 10x faster than our first scan")
    whole_processes(cli, whole, memory, len(weak_by_command), len(planted.weak))
    return 0


def whole_processes(
    cli: float, whole: float, memory: dict[str, float], weak_found: int, weak_planted: int
) -> None:
    """The whole-process comparison and the peaks of memory, with the target's line."""
    print(f"hygiene check --only credentials  median {whole * 1000:7.1f} ms   (new state each run)")
    print(f"  graded weak by it               {weak_found} of {weak_planted}   (its --json, once)")
    print(f"detect-secrets CLI / hygiene check:         {cli / whole:5.2f}x   (whole processes)")
    mib = "peak {:6.1f} MiB".format
    print(f"our scanner child                 {mib(memory['scanner'])}   (first scan's request)")
    print(f"detect-secrets scan FILE...       {mib(memory['detect-secrets'])}")
    print(f"hygiene check --only credentials  {mib(memory['hygiene'])}   (its largest process)")
    print(
        f"[{_ok(cli / whole >= 1.5)}] hygiene check --only credentials >= 1.5x faster than "
        "detect-secrets scan FILE..., whole processes"
    )


def report(
    args: argparse.Namespace,
    planted: Planted,
    ours: list[Finding],
    theirs: set[tuple[str, int]],
    theirs_in_process: set[tuple[str, int]],
) -> bool:
    """Prints what each found; whether we found 95% of the planted weak passwords."""
    n, weak = len(planted.weak), planted.weak & reported(ours, weak=True)
    ds = len(planted.weak & theirs)
    print(f"runs: {args.runs} each, Python {sys.version.split()[0]}, detect-secrets {DS_VERSION}")
    print(f"home: {len(planted.files)} credential files, {args.other_files} other files")
    print(f"planted weak passwords            {n}")
    print(f"  graded weak by us               {len(weak)} ({100 * len(weak) / n:.1f}%)"
          f"   (reported at all: {len(planted.weak & reported(ours, weak=False))})")  # fmt: skip
    print(f"  reported by detect-secrets      {ds} ({100 * ds / n:.1f}%)"
          f"   (in-process: {len(planted.weak & theirs_in_process)})")  # fmt: skip
    missed = ", ".join(f"~/{rel}:{line}" for rel, line in sorted(planted.weak - weak))
    print(f"  not graded weak by us           {missed or 'none'}")
    return len(weak) >= 0.95 * n


def _ok(passed: bool) -> str:
    return "PASS" if passed else "MISS"


if __name__ == "__main__":
    sys.exit(main())
