"""The scanning child's work: read each located file that changed, parse it, grade what it
holds, and describe it without the secret.

Only this process ever holds a secret value, and only while grading it; what it answers
is the Fact list of each file (agent/credentials/model.py): where each secret is, what it
is and which rules it breaks, nothing computed from the value. So it needs no key either.
"""

from __future__ import annotations

import codecs
import os
import re
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from agent.credentials import GUESSED, SCANNER_VERSION
from agent.credentials.locate import Candidate, Settings, locate, reason, stat_key
from agent.credentials.model import Fact, Family, Format, Refused, Secret, Source
from agent.credentials.strength import (
    ANONYMOUS,
    PLACEHOLDER_PASSWORDS,
    TOKEN_USERS,
    grade,
    is_reference,
    is_token,
    looks_secret,
    weak_only,
)
from agent.files import FileTooLarge, NotRegularFile, read_small_file
from agent.text import printable, shown_path

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from typing import Any

_USER_IN_TARGET = re.compile(r"\((?:user|login) ([^,) ]+)")
# The user information of an address written in a name or key (a registry's key in Docker's
# config, an .npmrc scope, a section or a JSON member): "https://ann:pw@host" or "ann:pw@host".
# What is before its last "@" may be a password (with a "/" or "@" of its own), so it is never
# repeated; a path or query cut with it is only less shown.
_USERINFO = re.compile(r"(?<=//)\S*@|(?<![\w/@-])[^\s/@()\[\]\"'.]+:[^\s/()]*@(?=[\w\[])")
MAX_BYTES = 1 << 20
# A person's config file holds a few secrets; grading one (zxcvbn) takes up to milliseconds,
# so a file of 1 MiB of "password x" lines is bounded here.
MAX_SECRETS = 1000


def warm_up(families: Sequence[Format]) -> None:
    """Load what a first scan loads on its way (every format's parser, the password list,
    zxcvbn's dictionaries), for a child started before its request is ready: `hygiene check`
    starts it while it reads the policy. Reads none of the person's files and grades only a
    made-up value."""
    for family in families:
        family.load()
    grade("made-up, to warm up zxcvbn")


def scan(
    request: Mapping[str, Any], families: Sequence[Format], env: Mapping[str, str]
) -> dict[str, Any]:
    """Answer one request of the check (see agent/checks/credentials.py for its shape).

    The "cache" says, for each file read before, its family and the stat signature it had
    then ([family, signature], or [family] for one left pending): an unchanged file is not
    read, and the answer names it under "same" rather than repeating what it held, so that
    what goes to and fro grows with the files read, not with the tree.

    With a "budget" (seconds), files are read until it is spent and the answer says which
    were left ("pending"): the check reads them on its next runs. A file still being read
    after half the budget (at least a second) is stopped and noted, so that the answer comes
    in time whatever a file holds.
    """
    started = time.monotonic()
    budget = request.get("budget")
    deadline = limit = None
    if budget is not None:
        # Each file gets the same time, however late it starts: one stopped is noted and not
        # read again until it changes, so it must be the file that is slow, not the run.
        deadline, limit = started + float(budget), max(1.0, float(budget) / 2)
    home = Path(str(request["home"]))
    raw = request.get("settings", {})
    settings = Settings(
        include_system=bool(raw.get("include_system", True)),
        project_roots=tuple(str(r) for r in raw.get("project_roots", ())),
        project_depth=int(raw.get("project_depth", 3)),
        extra_files=tuple((str(p), str(f)) for p, f in raw.get("extra_files", ())),
        guess_formats=bool(raw.get("guess_formats")),
    )
    cache: Mapping[str, Any] = request.get("cache") or {}
    by_id = {f.id: f for f in families}
    located = locate(families, settings, home, env)
    files: dict[str, Any] = {}
    same: dict[str, str] = {}  # a file read before and unchanged: how it is shown now
    changed: list[tuple[Candidate, list[int]]] = []
    new: list[tuple[Candidate, list[int]]] = []
    for candidate in located.files:
        # The signature the walk took (of the real file: never a link), or a new one.
        known = located.watch.get(str(candidate.real))
        try:
            key = list(known or stat_key(candidate.real.stat()))
        except OSError as err:
            located.notes.append((candidate.path, f"could not be looked at: {reason(err)}"))
            continue
        kept = cache.get(str(candidate.real))
        if isinstance(kept, list) and kept[:1] == [candidate.family]:
            if kept[1:] == [key]:
                same[str(candidate.real)] = shown_path(candidate.path, home)
                continue
            changed.append((candidate, key))
        else:
            new.append((candidate, key))
    # What was read before and changed first: its old findings stand until it is read again.
    queue = changed + new
    read = 0
    for candidate, key in queue:
        real = str(candidate.real)
        shown = shown_path(candidate.path, home)
        if deadline is not None and read and time.monotonic() >= deadline:
            # Left for the next run; the check keeps what it held until then.
            files[real] = {"family": candidate.family, "shown": shown, "pending": True}
            continue
        family = by_id[candidate.family].load()
        record: dict[str, Any] = {"stat": key, "family": candidate.family, "format": family.title}
        record.update(_read(family(), candidate, home, limit))
        if candidate.family == GUESSED:
            # A file that does not read as the format its name suggests (too large, binary,
            # unreadable, too slow) is not a config file of that format: nothing to say.
            record["note"] = None
            record.pop("unchecked", None)
        record["advice"] = family.advice
        record["shown"] = shown
        files[real] = record
        read += 1
    return {
        "version": SCANNER_VERSION,
        "files": files,
        "same": same,
        "watch": {path: list(k) if k else None for path, k in located.watch.items()},
        "notes": [f"{shown_path(path, home)} {text}" for path, text in located.notes],
        "unsearched": {
            str(path): f"{shown_path(path, home)} {text}" for path, text in located.unsearched
        },
        "read": read,
    }


def _read(
    family: Family,
    candidate: Candidate,
    home: Path,
    limit: float | None = None,
) -> dict[str, Any]:
    try:
        with time_limit(limit):
            return _read_in_time(family, candidate, home)
    except OutOfTime:
        return _note(f"took too long to read as {family.title}; it was not read")


def _read_in_time(family: Family, candidate: Candidate, home: Path) -> dict[str, Any]:
    try:
        data = read_small_file(candidate.real, MAX_BYTES)
    except FileTooLarge:
        return _note("is larger than 1 MiB, too large for a config file; it was not read")
    except NotRegularFile:
        return _note("is not a regular file (a pipe, socket or device); it was not read")
    except PermissionError as err:
        if not _inside(candidate.real, home) and _owner(candidate.real) != os.getuid():
            # A system file kept from you is kept from other users too: nothing to say.
            return {"facts": [], "note": None}
        return _note(f"could not be read: {reason(err)}")
    except OSError as err:
        return _note(f"could not be read: {reason(err)}")
    return examine(family, data, Source(candidate.real, home))


def examine(family: Family, data: bytes, source: Source) -> dict[str, Any]:
    """What the file `source` holding `data` says as `family`: its facts, or a note."""
    text = decode(data)
    if text is None:
        return _note(f"is not a text file, so not {family.title}; it was not read")
    facts: list[dict[str, object]] = []
    try:
        for found in family.parse(text, source):
            if len(facts) >= MAX_SECRETS:
                note = f"holds more than {MAX_SECRETS:,} secrets; the rest were not looked at"
                return {"facts": facts, "note": note, "unchecked": True}
            for secret in _with_token_users(found):
                fact = describe(secret)
                if fact is not None:
                    facts.append(fact.to_json())
    except Refused as err:
        # What was found before the break (a broken XML document) is kept with the note.
        note = f"could not be read as {family.title}: {err}"
        return {"facts": facts, "note": note, "unchecked": True}
    except Exception as err:  # noqa: BLE001 - one file's surprise is that file's note
        return _note(f"could not be read as {family.title} ({_where(err)}); please report it")
    return {"facts": facts, "note": None}


def describe(secret: Secret) -> Fact | None:
    """The fact about one secret, or None when the value is not one: a reference to a secret
    kept elsewhere, or a placeholder a service asks for beside a token.

    The value decides only the kind, the level and the rules it breaks; nothing else computed
    from it leaves this function, so two values that break the same rules give the same fact.
    """
    value = secret.value
    if value and is_reference(value):
        return None
    users = {u.lower() for u in _shown_users(secret)}
    if secret.kind == "password" and (
        value.lower() in PLACEHOLDER_PASSWORDS
        or users & ANONYMOUS
        or (not value and _token_users(secret))
    ):
        return None  # x-oauth-basic or nothing beside a token, anonymous FTP's e-mail address
    kind = secret.kind
    level = None
    reasons: tuple[str, ...] = ()
    if kind == "password" and (is_token(value) or users & TOKEN_USERS):
        kind = "token"
    if kind == "password":
        graded = grade(value, secret.user_inputs)
        if graded is not None:
            level, reasons = graded.level, graded.reasons
    elif not is_token(value):
        # A secret a service expects but a person typed (JWT_SECRET=changeme) can be weak too.
        graded = weak_only(value)
        if graded is not None:
            level, reasons = graded.level, graded.reasons
    return Fact(
        line=secret.line,
        field=printable(_without_userinfo(secret.field)),
        kind=kind,
        target=printable(_redacted(_without_userinfo(secret.target))),
        encoding=secret.encoding,
        level=level,
        reasons=reasons,
    )


def _with_token_users(secret: Secret) -> list[Secret]:
    """The secret, and before it any token written where a user name goes
    (https://ghp_...:x-oauth-basic@github.com): that token is the secret."""
    extra = [
        Secret(line=secret.line, field="user name", value=user, kind="token", target=secret.target)
        for user in _token_users(secret)
    ]
    return [*extra, secret]


def _shown_users(secret: Secret) -> list[str]:
    """The account names the target shows, "(user ann)" or "(login ann)": those are what the
    file has in its user-name slot; other user inputs are only context (a site's name)."""
    return _USER_IN_TARGET.findall(secret.target)


def _token_users(secret: Secret) -> list[str]:
    # A service's token (by its prefix) in the user-name slot; an AWS access key id given as
    # context is an identifier, and a long public key (Magento) is shown redacted but is no
    # secret.
    return [u for u in _shown_users(secret) if is_token(u)]


def _without_userinfo(text: str) -> str:
    """`text` with the user and password of any address in it left out."""
    return _USERINFO.sub("", text) if "@" in text else text


def _redacted(target: str) -> str:
    """The target with any token-like word (a token given as a user name) replaced."""
    words = []
    for word in target.split(" "):
        core = word.strip("()")
        words.append(word.replace(core, "[a token]") if core and looks_secret(core) else word)
    return " ".join(words)


def decode(data: bytes) -> str | None:
    """The text of a config file, or None for a binary one."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            # Windows writes unattend.xml and other files as UTF-16.
            return data[len(bom) :].decode(codec, errors="replace")
    if b"\0" in data:
        return None
    return data.decode("utf-8-sig", errors="replace")


class OutOfTime(BaseException):
    """Raised by the timer in the middle of reading a file: a BaseException, so that the
    parser's own `except Exception` does not take it for a malformed file."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise OutOfTime when the block outlasts `seconds` (the scanning child's main thread
    only: elsewhere, and without `seconds`, nothing is timed)."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise OutOfTime

    if seconds is None or not hasattr(signal, "setitimer"):
        yield
        return
    try:
        previous = signal.signal(signal.SIGALRM, expired)
    except ValueError:  # not the main thread: only it is told of signals
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _note(text: str) -> dict[str, Any]:
    # "unchecked": a file that may hold a password but was not (wholly) read; the check is
    # never a clean pass with one.
    return {"facts": [], "note": text, "unchecked": True}


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _where(err: BaseException) -> str:
    # Not the exception's text: it may quote the value being parsed.
    import traceback  # noqa: PLC0415 - only for a parser's bug: off the child's start-up

    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return f"internal error {type(err).__name__}"
    frame = frames[-1]
    return f"internal error {type(err).__name__} at {Path(frame.filename).name}:{frame.lineno}"
