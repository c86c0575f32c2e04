from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from agent.checks.base import Check, CheckContext, CheckParams, Every, Timeout
from agent.checks.ssh_keys import shell_quote
from agent.children import start
from agent.credentials import FORMATS, GUESSED, PARENT_ENV, SCANNER_VERSION
from agent.credentials.locate import stat_key
from agent.errors import AgentError
from agent.models import Finding, Severity
from agent.probes.access import private_group
from agent.settings import STRICT, Doc, HomePath, Limit, settings
from agent.wording import WHAT_TO_DO, clip, sentence

if TYPE_CHECKING:
    from agent.paths import Paths
    from agent.store import CachedPath

SCANNER = "credentials"
# Where people keep their projects; a .env file is looked for in these, project_depth deep.
PROJECT_ROOTS = (
    "~/src",
    "~/code",
    "~/projects",
    "~/Projects",
    "~/dev",
    "~/work",
    "~/git",
    "~/repos",
)
_SEVERITY = {"weak password": Severity.high, "plaintext password": Severity.medium}
_MORE = {
    Severity.info: Severity.low,
    Severity.low: Severity.medium,
    Severity.medium: Severity.high,
    Severity.high: Severity.critical,
    Severity.critical: Severity.critical,
}


@settings
class ExtraFile:
    path: Annotated[HomePath, Doc("The file; ~/ and relative paths start at the home directory.")]
    format: Annotated[
        Literal[FORMATS],  # type: ignore[valid-type]
        Doc("How to read it: the id of a format the check knows (netrc, dotenv, ...)."),
    ]


@settings
class CredentialsParams(CheckParams):
    # Re-checking costs a stat call per file when nothing changed (bench/credentials.py).
    every: Every = timedelta(minutes=5)
    # The scanner reads files for half of it; a tree too big for that is read a part per run.
    timeout: Timeout = timedelta(seconds=60)
    project_roots: Annotated[
        list[HomePath],
        Doc("Folders whose projects may hold .env files; searched project_depth deep."),
    ] = field(default_factory=lambda: list(PROJECT_ROOTS))
    project_depth: Annotated[
        int, Limit(ge=0, le=8, strict=True), Doc("How many folders deep to look.")
    ] = 3
    extra_files: Annotated[
        list[ExtraFile],
        Doc("More files to read, each with its format, e.g. {path: ~/work/.netrc, format: netrc}."),
    ] = field(default_factory=list)
    guess_formats: Annotated[
        bool,
        STRICT,
        Doc(
            "Also read other programs' config files, their format guessed from the name (INI "
            "and .conf, YAML, TOML, JSON, .properties, Python and JavaScript settings), under "
            "~/.config and project_roots, for keys named like a password or a secret."
        ),
    ] = True
    include_system: Annotated[
        bool,
        STRICT,
        Doc(
            "Also read the system's files (apt's auth.conf, NetworkManager and "
            "wpa_supplicant networks) where this user can read them."
        ),
    ] = True


class CredentialsCheck(Check[CredentialsParams]):
    """A password in a config file is a password in plain text.

    Anyone who reads the file, a backup, a synced folder, a program you ran, another user
    when the file is not private, has it. A weak one is guessed even without the file. This
    check reads the files where tools keep passwords and tokens (netrc, git, docker, pip, npm,
    AWS, databases, Wi-Fi, mail, FTP and remote-desktop clients, .env files), grades the
    passwords a person chose after NIST SP 800-63B, and says how to move each one into a
    keyring. The value itself is read by a separate short-lived process and never leaves it.
    """

    id = "credentials"
    topic = "passwords in plain text"
    title = "Passwords are strong and kept out of plain text"
    severity = Severity.medium
    rationale = (
        "A password in a config file is readable by anyone who gets the file; a weak one is "
        "guessed without it."
    )
    advice = (
        "Use a strong password, and do not leave it in plain text: keep it in your keyring or "
        "a password manager and let the program ask for it."
    )
    reads = (
        "the config files where tools keep passwords and tokens (~/.netrc, ~/.git-credentials, "
        "~/.docker/config.json, ~/.pgpass, ~/.my.cnf, ~/.aws/credentials, ~/.pypirc, ~/.npmrc, "
        "rclone.conf, NetworkManager and wpa_supplicant networks, mail, FTP, chat and "
        "remote-desktop clients, ~/.m2/settings.xml, composer, gh, kube config, .env files "
        "under project_roots), regular files of up to 1 MiB, in a separate process; with "
        "guess_formats, also other programs' config files (.ini, .conf, .yaml, .toml, .json, "
        ".properties, settings.py, *.config.js) under ~/.config (2 folders deep) and "
        "project_roots",
    )
    keeps = (
        "file, line, format, field, what the secret is for, its kind (weak password, plaintext "
        "password or token) and which of the rules for passwords it breaks (shorter than 8 "
        "or 15 characters, on the common-password list, made of the user or host name, an "
        "easily guessed pattern), and each file's device, inode, change and modification "
        "times; never the value, a hash of it, its length, or the file's size"
    )
    alert = "A password is stored in plain text"
    alert_many = "{n} passwords or tokens are stored in plain text"
    alerts = (
        (
            "weak password",
            "A weak password is stored in a file",
            "{n} weak passwords are stored in files",
        ),
        (
            "plaintext password",
            "A password is stored in plain text",
            "{n} passwords are stored in plain text",
        ),
        (
            "plaintext token",
            "A token is stored in plain text",
            "{n} tokens are stored in plain text",
        ),
    )
    Params = CredentialsParams

    def __init__(self, params: CredentialsParams) -> None:
        super().__init__(params)
        # The scanning child, killed by cancel() from the engine's thread.
        self._lock = threading.Lock()
        self._scanner: subprocess.Popen[bytes] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._scanner is not None and self._scanner.poll() is None:
                self._scanner.kill()

    def run(self, ctx: CheckContext) -> list[Finding]:
        settings = {
            "include_system": self.params.include_system,
            "project_roots": self.params.project_roots,
            "project_depth": self.params.project_depth,
            "extra_files": [[f.path, f.format] for f in self.params.extra_files],
            "guess_formats": self.params.guess_formats,
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        version = f"{SCANNER_VERSION}:{digest}"
        cached = self._cached(ctx, version)
        modes: dict[str, int] = {}
        if not cached or _unfinished(cached) or not _unchanged(cached, modes):
            before = cached
            cached = _rows(self._scan(ctx, settings, cached), before)
            modes.clear()
            _unchanged(cached, modes)
            # Kept even when something changed meanwhile, so that a big tree is read a part
            # per run: each file's record holds the signature it had when it was read, and a
            # file that changed since is read again.
            self._keep(ctx, version, cached, before)
        findings: dict[str, Finding] = {}
        unchecked: list[str] = []
        folders: dict[tuple[str, int], bool] = {}  # what readable_by_others found out
        for row in cached:
            record = row.record or {}
            if record.get("note"):
                note = f"{record.get('shown', row.path)} {record['note']}"
                if record.get("unchecked"):
                    unchecked.append(note)
                else:
                    self.note(note)
            mode = modes.get(row.path)
            exposed = (
                mode is not None
                and bool(record.get("facts"))
                and readable_by_others(Path(row.path), mode, folders)
            )
            # Two secrets of one file with the same field, target and kind (a .env that sets
            # DB_PASSWORD twice) are told apart by their order among those equals, not by
            # their lines: a line added above must not make a new finding.
            equals: Counter[tuple[str, str, str]] = Counter()
            for fact in record.get("facts") or []:
                same = (str(fact["field"]), str(fact["target"]), _reason(fact))
                finding = self._finding(
                    ctx, row.path, record, fact, mode, nth=equals[same], exposed=exposed
                )
                equals[same] += 1
                findings[finding.id] = finding
        unfinished = _unfinished(cached, remembered=ctx.store is not None) + unchecked
        if unfinished:
            # Never a pass while files are left or could not be read (a password may be in
            # a file its tool cannot parse): with findings, a fail that says what is left;
            # without, an error (the store then leaves the earlier findings as they were, as
            # for any check that could not finish).
            if not findings:
                raise AgentError("; ".join(unfinished))
            for text in unfinished:
                self.note(text)
        return list(findings.values())

    def _cached(self, ctx: CheckContext, version: str) -> list[CachedPath]:
        if ctx.store is None:
            return []
        # Here, not at the top: `hygiene check` remembers nothing and need not load SQLite.
        from agent.store import StoreError  # noqa: PLC0415

        try:
            return ctx.store.scan_cache(SCANNER, version)
        except StoreError as err:
            self.note(f"every file was read again: {err}")
            return []

    def _keep(
        self, ctx: CheckContext, version: str, rows: list[CachedPath], before: list[CachedPath]
    ) -> None:
        if ctx.store is None:
            return
        from agent.store import StoreError  # noqa: PLC0415

        try:
            ctx.store.keep_scan_cache(SCANNER, version, rows, previous=before)
        except StoreError as err:
            self.note(f"what was read could not be remembered for next time: {err}")

    def _scan(
        self, ctx: CheckContext, settings: Mapping[str, object], cached: Sequence[CachedPath]
    ) -> dict[str, Any]:
        request = {
            "budget": self.reading_time(),
            "home": str(ctx.paths.home),
            "settings": settings,
            # What the child needs to tell an unchanged file, not what the file held.
            "cache": {
                row.path: [
                    row.record["family"],
                    *([row.record["stat"]] if "stat" in row.record else []),
                ]
                for row in cached
                if row.record and "family" in row.record
            },
        }
        try:
            with self._lock:
                if self._cancelled:
                    raise AgentError("stopped before the file scanner started")
                early = ctx.early.pop(self.id, None)
                if early is None or early.poll() is not None:  # none, or it died waiting
                    early = _start_scanner(ctx.paths.home, ctx.env)
                self._scanner = scanner = early
        except OSError as err:
            raise AgentError(f"the file scanner could not start: {err.strerror}") from None
        try:
            stdout, _ = scanner.communicate(
                json.dumps(request).encode(),
                timeout=max(1.0, self.params.timeout.total_seconds() - 1),
            )
        except subprocess.TimeoutExpired:
            raise AgentError(
                "the file scanner did not finish in time and was stopped; give the check a "
                "longer timeout or fewer project_roots"
            ) from None
        finally:
            # Also when this thread is interrupted: the child holds secrets in memory.
            if scanner.poll() is None:
                scanner.kill()
                scanner.wait()
        try:
            answer = json.loads(stdout)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise AgentError(f"the file scanner failed (exit status {scanner.returncode})")
        if "error" in answer:
            raise AgentError(f"the file scanner stopped with an internal error ({answer['error']})")
        for note in answer.get("notes", []):
            self.note(str(note))
        return answer

    @classmethod
    def start_early(cls, paths: Paths, env: Mapping[str, str]) -> subprocess.Popen[bytes] | None:
        # Its start-up (Python, then the scanner's imports) is half the check's time on a
        # small home; started now, it is over by the time the policy says what to read.
        try:
            return _start_scanner(paths.home, env)
        except OSError:  # said when the run starts it again
            return None

    def reading_time(self) -> float:
        """How long the scanner reads files before it answers with what it finished: half the
        check's time (a file being read then may take a quarter more, or a second); the rest
        is for starting it, finding the files, and keeping and judging its answer."""
        return max(0.2, self.params.timeout.total_seconds() / 2 - 0.5)

    def _finding(
        self,
        ctx: CheckContext,
        path: str,
        record: Mapping[str, Any],
        fact: Mapping[str, Any],
        mode: int | None,
        *,
        nth: int = 0,
        exposed: bool = False,
    ) -> Finding:
        shown = str(record["shown"])
        field, target, kind = str(fact["field"]), str(fact["target"]), str(fact["kind"])
        level = fact.get("level")
        reasons = [str(r) for r in fact.get("reasons") or []]
        named = "" if field.lower() in ("password", "pass", "passwd") else f" ({field})"
        reason = _reason(fact)
        if kind == "token" and reason == "weak password":
            what = f"the secret{named}"
        elif kind == "token":
            what = f"a token{named}"
        else:
            what = f"the password{named}"
        # The notice names it shortly ("the password for example.org in ~/.netrc, line 3,");
        # the message says all of it.
        brief = f"{what} for {clip(target, 40)}" if target else what
        brief += f" in {clip(shown, 70)}, line {fact['line']},"
        if target:
            what += f" for {target}"
        where = f"{shown}, line {fact['line']}"
        if record.get("family") == GUESSED:
            where += " (format guessed from the file name)"
        if reason == "weak password":
            message = f"{where}: {what} is weak: {_and(reasons)}."
        else:
            message = f"{where}: {what} is stored in plain text."
            if level == "fair":
                message += f" It is also only fair: {_and(reasons)}."
        if fact.get("encoding"):
            message += f" Its {fact['encoding']} encoding hides nothing: it is reversed at once."
        severity = _SEVERITY.get(reason, Severity.low)
        if exposed and mode is not None:
            severity = _MORE[severity]
            message += f" Other users of this computer can read the file (mode {mode:04o})."
        advice = str(record.get("advice", "")).replace("{file}", shell_quote(shown))
        if reason == "weak password":
            advice = (
                "Change this password to a long random one (a password manager makes them), "
                f"on the service first. Then: {advice}"
            )
        family = str(record.get("family", ""))
        # Where and what, never the value: a weak password changed for another weak one is
        # the same finding (still true); made strong, its kind changes and so does the id.
        where_what = [self.id, shown, family, field, target, reason]
        if nth:
            where_what.append(f"#{nth}")
        return Finding(
            id=ctx.fingerprint(*where_what),
            subject=shown,
            message=message,
            advice=advice,
            severity=severity,
            notice=sentence(
                f"{brief} is weak. Change it, then see {WHAT_TO_DO} to keep it out of the file."
                if reason == "weak password"
                else f"{brief} is in plain text. To move it to your keyring: {WHAT_TO_DO}"
            ),
            evidence={
                "reason": reason,
                "format": family,
                "line": int(fact["line"]),
                "field": field,
                "level": level if isinstance(level, str) else None,
                "mode": f"{mode:04o}" if mode is not None else None,
            },
        )


def _reason(fact: Mapping[str, Any]) -> str:
    """The kind of finding a fact makes: "weak password" (a weak token-field secret too),
    "plaintext password" (fair or strong) or "plaintext token"."""
    if fact.get("level") == "weak":
        return "weak password"
    return "plaintext token" if fact.get("kind") == "token" else "plaintext password"


def _rows(answer: Mapping[str, Any], before: Sequence[CachedPath]) -> list[CachedPath]:
    """The scanner's answer as cache rows: every path it looked at, with what a file held
    (or that it is still to be read), and the project folders it could not search to the end.
    What an unchanged file held, and what one left for the next run held when last read
    (without its signature, so that it is read again: its findings stand until then), come
    from the rows `before`."""
    from agent.store import CachedPath  # noqa: PLC0415

    held = {row.path: row.record for row in before if row.record and "family" in row.record}
    files: dict[str, Any] = dict(answer.get("files") or {})
    for path, shown in (answer.get("same") or {}).items():
        if path in held:
            files[path] = {**held[path], "shown": shown}
    for path, record in files.items():
        if record.get("pending") and path in held:
            old = {k: v for k, v in held[path].items() if k != "stat"}
            files[path] = {**old, **record}
    watch: Mapping[str, Any] = answer.get("watch") or {}
    unsearched: Mapping[str, Any] = answer.get("unsearched") or {}
    rows = []
    for path in sorted(set(watch) | set(files) | set(unsearched)):
        signature = watch.get(path) or (files.get(path) or {}).get("stat")
        record = files.get(path)
        if path in unsearched:
            record = {**(record or {}), "unsearched": str(unsearched[path])}
        rows.append(CachedPath(path, tuple(signature) if signature else None, record))
    return rows


def _unfinished(rows: Sequence[CachedPath], *, remembered: bool = True) -> list[str]:
    """What the scan has not done yet, in words; empty when every file was read. A
    `remembered` scan goes on where it stopped at the check's next run."""
    records = [row.record for row in rows if row.record]
    said = [str(r["unsearched"]) for r in records if r.get("unsearched")]
    total = sum(1 for r in records if "family" in r)
    left = sum(1 for r in records if "family" in r and r.get("pending"))
    if left:
        done = f"scanned {total - left:,} of {total:,} files"
        if remembered:
            said.insert(0, f"{done} so far; the rest on the next runs")
        else:
            said.insert(
                0,
                f"{done} in the check's time; the other {left:,} were not read (the "
                "background agent reads them over its next runs)",
            )
    return said


def _unchanged(rows: Sequence[CachedPath], modes: dict[str, int]) -> bool:
    """Whether every path still has the signature it had; notes the files' modes (the
    severity depends on them)."""
    same = True
    for row in rows:
        try:
            info = os.lstat(row.path)
        except OSError:
            same = same and row.signature is None
            continue
        if stat_key(info) != row.signature:
            same = False
        if row.record is not None:
            modes[row.path] = stat.S_IMODE(info.st_mode)
    return same


def readable_by_others(
    path: Path, mode: int, folders: dict[tuple[str, int], bool] | None = None
) -> bool:
    """Whether a user other than the owner can read the file: its read bit for others, or for
    a group that is not the owner's own, and a way through every folder above it. `folders`
    keeps what was found out about the folders for the next file of the same run."""
    try:
        info = path.stat()
    except OSError:
        return False
    if mode & stat.S_IROTH:
        bit = stat.S_IXOTH
    elif mode & stat.S_IRGRP and not private_group(info.st_gid, info.st_uid):
        bit = stat.S_IXGRP | stat.S_IXOTH
    else:
        return False
    parent = os.path.dirname(path)  # noqa: PTH120 - text: see _passable
    return _passable(parent, bit, {} if folders is None else folders)


def _passable(folder: str, bit: int, known: dict[tuple[str, int], bool]) -> bool:
    """Whether `folder` and every folder above it let `bit` through; each folder is looked at
    once, as the answer for it and all below it is kept in `known`. Folders as text: on a
    tree of 100,000 files, making Path objects for them was most of a re-scan's time."""
    below: list[str] = []
    while (folder, bit) not in known:
        below.append(folder)
        try:
            through = bool(os.stat(folder).st_mode & bit)  # noqa: PTH116
        except OSError:
            through = False
        parent = os.path.dirname(folder)  # noqa: PTH120
        if not through or parent == folder:
            known[folder, bit] = through
            break
        folder = parent
    answer = known[folder, bit]
    for each in below:
        known[each, bit] = answer
    return answer


def _and(reasons: Sequence[str]) -> str:
    if len(reasons) > 1:
        return ", ".join(reasons[:-1]) + " and " + reasons[-1]
    return reasons[0] if reasons else "it is easy to guess"


def _start_scanner(home: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The scanning child, waiting for its request on stdin."""
    env = {**os.environ, **env, "HOME": str(home), PARENT_ENV: str(os.getpid())}
    return start("agent.credentials", env)
