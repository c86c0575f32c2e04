"""Which admin policies are in force: the admin folder's files and the sources they pull,
each checked against the admin's signing keys when there are any.

Signatures are required once the admin folder's `keys/` holds any `*.pub` file (usable or
not: a broken key deployment must not switch signing off) or once a signed policy has been
in force on this device: installing a key is how an admin says "only signed policies from
now on", with no setting that could itself be forged. Then every file in policies.d and
every pulled source needs a detached signature (FILE.sig) by a trusted key (agent.signing),
and a `name`. The name ties a policy to where it is served: a source that carried policy
"acme-fleet" may not start carrying "lab-machines", and the revision in force is kept per
name, so an old policy sent again, under any file name or URL, is a downgrade. A policy
that fails any of it, or that does not read as a valid policy, is rejected: one sentence
for the log, `hygiene status` and `hygiene policy show`, and the last good copy of that
source stays in force. Without keys, admin folder files are taken as they are (an error in
one is an error for `hygiene check`, as for any policy file; the agent keeps going on the
file's last good copy, see Gate.keep); a pulled source is never allowed to stop the agent:
a broken copy is rejected and the last good one stays.

What is kept, in the state folder (0700): policy/accepted/<source>.yaml (and .sig), the last
good copy of each source, and of each user and admin file the agent loaded (never used in
place of a signed policy once signatures are required); a damaged state.json is moved
aside with one warning; policy/state.json, per policy name the revision in force and per
source the name it carries; policy/rejected.json, the current rejections.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from agent.errors import PolicyError
from agent.files import (
    FileTooLarge,
    NotRegularFile,
    json_value,
    read_small_file,
    set_aside,
    write_whole,
)
from agent.paths import Paths

if TYPE_CHECKING:
    from agent.signing import Anchors

MAX_BYTES = 1024 * 1024
_MAX_NAME = 120  # bytes of a kept copy's name before .yaml.sig (a file name holds 255)
_READABLE = 80


class Candidate(NamedTuple):
    """One admin policy as found: the folder's file or a pulled source's cached copy."""

    key: str  # stable name of the source: "file:10-acme.yaml", "url:<hash>"
    label: str  # how the person and the admin know it: the path or the URL
    path: Path  # where its bytes are now
    signature: Path | None  # where its detached signature would be
    pulled: bool = False


class Accepted(NamedTuple):
    """What to remember once a judged policy has also been read as a valid policy."""

    key: str
    name: str | None
    revision: int
    signer: str | None
    data: bytes
    signature: bytes | None


class Judged(NamedTuple):
    path: Path | None  # what to load (the candidate, or its last good copy); None: nothing
    source: str  # the label with its state, for `policy show`: "... (signed by key ab12...)"
    rejection: str | None  # one sentence, when the candidate itself was refused
    accepted: Accepted | None = None  # remembered by Gate.accept once it has loaded
    signer: str | None = None  # the key whose signature is taken for what is loaded


class Gate:
    """The admin's keys and what is kept about accepted policies."""

    def __init__(
        self,
        anchors: Anchors | None,
        keys_declared: bool,
        folder: Path,
        state: dict[str, Any],
        problems: list[str],
    ) -> None:
        self.anchors = anchors
        self.keys_declared = keys_declared  # keys/ holds a *.pub file, usable or not
        self.folder = folder  # <state>/policy
        self.state = state
        self.problems = problems  # what could not be kept, for the log

    @classmethod
    def open(cls, paths: Paths) -> Gate:
        keys = paths.admin_policies.parent / "keys"
        try:
            declared = any(entry.name.endswith(".pub") for entry in os.scandir(keys))
        except OSError:
            declared = False
        folder = paths.state / "policy"
        problems: list[str] = []
        state = _read_state(folder / "state.json", problems)
        anchors = None
        if declared or state["names"]:
            # cryptography only when signatures are required: it weighs on the agent's memory.
            from agent.signing import load_anchors  # noqa: PLC0415

            anchors = load_anchors(keys)
        return cls(anchors, declared, folder, state, problems)

    @property
    def required(self) -> bool:
        return self.keys_declared or bool(self.state["names"])

    @property
    def warnings(self) -> list[str]:
        return [*(self.anchors.warnings if self.anchors else ()), *self.problems]

    def judge(self, candidate: Candidate) -> Judged:
        if not self.required:
            accepted = None
            if candidate.pulled:  # kept, so that a broken next copy cannot stop the agent
                with contextlib.suppress(OSError):
                    data = read_small_file(candidate.path, MAX_BYTES)
                    accepted = Accepted(candidate.key, None, 0, None, data, None)
            return Judged(candidate.path, f"{candidate.label} (unsigned)", None, accepted)
        try:
            data = read_small_file(candidate.path, MAX_BYTES)
        except OSError as err:
            return self.refuse(candidate, f"it cannot be read ({(err.strerror or '').lower()})")
        signature = None
        if candidate.signature is not None:
            with contextlib.suppress(OSError):
                signature = read_small_file(candidate.signature, 4096)
        if signature is None and candidate.signature is not None:
            return self.refuse(candidate, f"no signature (no {candidate.signature.name})")
        from agent.signing import Anchors, verify  # noqa: PLC0415

        verdict = verify(data, signature, self.anchors or Anchors(Path()))
        if not verdict.ok:
            return self.refuse(candidate, verdict.reason)
        from agent.policy_yaml import read_plain  # noqa: PLC0415

        try:
            parsed = read_plain(data.decode("utf-8", "replace"), candidate.label)
        except PolicyError as err:
            where = f"line {err.line}: " if err.line else ""
            what = f"{err.field}: " if err.field else ""
            return self.refuse(candidate, f"it is not a valid policy ({where}{what}{err.problem})")
        parsed = parsed if isinstance(parsed, dict) else {}
        name, revision = parsed.get("name"), parsed.get("revision", 0)
        if not isinstance(name, str) or not name:
            return self.refuse(
                candidate, "a signed policy needs a name, so that its revisions can be followed"
            )
        if not isinstance(revision, int) or isinstance(revision, bool):
            revision = 0
        carried = self.state["sources"].get(candidate.key, {}).get("name")
        if carried is not None and carried != name:
            return self.refuse(
                candidate,
                f"it carries policy {name!r}, but this source carried {carried!r} (a signed "
                "policy served in another one's place)",
            )
        in_force = self.state["names"].get(name)
        if isinstance(in_force, int) and revision < in_force:
            return self.refuse(
                candidate,
                f"its revision {revision} of {name!r} is lower than revision {in_force} in force "
                "(an old policy sent again)",
            )
        accepted = Accepted(candidate.key, name, revision, verdict.key_id, data, signature)
        return Judged(
            candidate.path, f"{candidate.label} ({verdict.reason})", None, accepted, verdict.key_id
        )

    def refuse(self, candidate: Candidate, why: str) -> Judged:
        """The candidate is not taken; its last good copy, when there is one, is."""
        kept = self.folder / "accepted" / f"{_safe(candidate.key)}.yaml"
        rejection = f"{candidate.label} was rejected: {why}"
        known = self.state["sources"].get(candidate.key, {})
        # Once signatures are required, a copy kept while they were not is no good copy.
        if kept.exists() and (known.get("signer") or not self.required):
            signer = f", signed by key {known['signer']}" if known.get("signer") else ""
            revision = f", revision {known['revision']}" if "revision" in known else ""
            return Judged(
                kept,
                f"{candidate.label} (the last good copy{revision}{signer})",
                rejection + "; its last good copy stays in force.",
                signer=known.get("signer"),
            )
        return Judged(None, candidate.label, rejection + "; no earlier copy was accepted.")

    def accept(self, accepted: Accepted) -> None:
        """Remember a policy that passed and loaded: its copy, name and revision."""
        safe = _safe(accepted.key)
        try:
            _write(self.folder / "accepted" / f"{safe}.yaml", accepted.data)
            if accepted.signature is not None:
                _write(self.folder / "accepted" / f"{safe}.yaml.sig", accepted.signature)
            if accepted.name is not None:
                names = self.state["names"]
                names[accepted.name] = max(accepted.revision, names.get(accepted.name, 0))
                self.state["sources"][accepted.key] = {
                    "name": accepted.name,
                    "revision": accepted.revision,
                    "signer": accepted.signer,
                }
                _write(self.folder / "state.json", json.dumps(self.state).encode())
        except OSError as err:
            self.problems.append(
                f"what was accepted could not be kept in {self.folder} "
                f"({(err.strerror or str(err)).lower()}); a downgrade cannot be told"
            )

    def keep(self, key: str, data: bytes) -> None:
        """Keep an unsigned policy file that loaded well as its last good copy (the agent's
        user and admin files), so that a broken next version cannot stop the agent."""
        path = self.folder / "accepted" / f"{_safe(key)}.yaml"
        with contextlib.suppress(OSError):
            if read_small_file(path, MAX_BYTES) == data:
                return
        try:
            _write(path, data)
        except OSError as err:
            self.problems.append(
                f"the last good copy of a policy could not be kept in {self.folder} "
                f"({(err.strerror or str(err)).lower()})"
            )

    def last_good(self, key: str) -> bytes | None:
        """The last good copy `keep` kept of the file known by `key`, if any."""
        try:
            return read_small_file(self.folder / "accepted" / f"{_safe(key)}.yaml", MAX_BYTES)
        except OSError:
            return None

    def forget_gone(self, prefix: str, keys: list[str]) -> None:
        """Remove the last good copies `keep` kept of files of one folder (keys starting with
        `prefix`) that are no longer among `keys`: a file deleted and later written again
        broken must not bring its old content, and an admin file its old locks, back."""
        present = {_safe(key) for key in keys}
        start = _safe(prefix)
        try:
            entries = list(os.scandir(self.folder / "accepted"))
        except OSError:
            return
        for entry in entries:
            stem = entry.name.removesuffix(".sig")
            if not (entry.name.startswith(start) and stem.endswith(".yaml")):
                continue
            if stem.removesuffix(".yaml") not in present:
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()

    def record(self, rejections: list[str]) -> None:
        """What `hygiene status` says about refused policies, until they are mended."""
        path = self.folder / "rejected.json"
        if rejections or path.exists():
            try:
                _write(path, json.dumps(rejections).encode())
            except OSError as err:
                self.problems.append(
                    f"the rejected policies could not be noted in {path} "
                    f"({(err.strerror or str(err)).lower()})"
                )


def recorded_rejections(paths: Paths) -> list[str]:
    """The refused policies the last load noted (without the pulls' errors)."""
    found = _read_json(paths.state / "policy" / "rejected.json", [])
    return [str(r) for r in found] if isinstance(found, list) else []


def rejections(paths: Paths) -> list[str]:
    """Refused policies and sources that could not be pulled, one sentence each."""
    return recorded_rejections(paths) + pull_errors(paths)


def pull_errors(paths: Paths) -> list[str]:
    """Why the last pull of each source that failed did, one sentence each."""
    pulled = _read_json(paths.state / "policy" / "pull-errors.json", {})
    return [str(error) for error in pulled.values() if error] if isinstance(pulled, dict) else []


def note_pull_errors(state: Path, errors: dict[str, str | None]) -> None:
    """The last pull's outcome per source, for `hygiene status` (None: it went well)."""
    path = state / "policy" / "pull-errors.json"
    known = _read_json(path, {})
    known = known if isinstance(known, dict) else {}
    known.update(errors)
    with contextlib.suppress(OSError):
        _write(path, json.dumps({k: v for k, v in known.items() if v}).encode())


def report_errors(paths: Paths) -> list[str]:
    """What the fleet reports could not write at the agent's last cycle, one sentence each."""
    found = _read_json(paths.state / "report-errors.json", [])
    return [str(e) for e in found] if isinstance(found, list) else []


def note_report_errors(state: Path, errors: list[str]) -> None:
    """What the last cycle could not write, for `hygiene status` and `policy show`; the file
    is rewritten only when what it says changes."""
    path = state / "report-errors.json"
    if _read_json(path, []) == errors:
        return
    with contextlib.suppress(OSError):
        if errors:
            _write(path, json.dumps(errors).encode())
        else:
            path.unlink(missing_ok=True)


def forget_pull_errors(state: Path, keys: set[str]) -> None:
    """Drop the pull errors of sources the policy no longer names (`keys`: those it does), so
    that `hygiene status` does not speak of a source an admin has removed."""
    path = state / "policy" / "pull-errors.json"
    known = _read_json(path, {})  # none, unreadable or damaged: nothing to drop
    if not isinstance(known, dict) or not known:
        return
    kept = {key: error for key, error in known.items() if key in keys}
    if kept != known:
        with contextlib.suppress(OSError):
            _write(path, json.dumps(kept).encode())


def folder_candidates(files: list[Path]) -> list[Candidate]:
    return [
        Candidate(f"file:{path.name}", str(path), path, path.with_name(path.name + ".sig"))
        for path in files
    ]


def url_key(url: str) -> str:
    return "url:" + _digest(url)


def _safe(key: str) -> str:
    """The kept copy's file name (without .yaml): the key itself while it is short, else its
    first part and a hash of it, so that any legal policy file name gets a copy."""
    safe = key.replace("/", "_").replace(":", "_")
    if len(safe.encode()) <= _MAX_NAME:
        return safe
    readable = safe.encode()[:_READABLE].decode(errors="ignore")
    return f"{readable}-{_digest(key)}"


def _digest(text: str) -> str:
    """16 hex digits that stand for `text` in a name. hashlib (OpenSSL) is loaded here, not
    with the module: `hygiene status` reads this module's notes and hashes nothing."""
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_state(path: Path, problems: list[str]) -> dict[str, Any]:
    """state.json as the gate uses it; a damaged one is moved aside, said once in `problems`."""
    empty: dict[str, Any] = {"names": {}, "sources": {}}
    try:
        state = json_value(read_small_file(path, MAX_BYTES))
    except FileNotFoundError:
        return empty
    except (ValueError, NotRegularFile, FileTooLarge, IsADirectoryError) as err:
        why = "it is not JSON" if isinstance(err, ValueError) else "it is not a small regular file"
    except OSError:
        return empty  # unreadable now (permissions): nothing to set aside
    else:
        problem = _state_problem(state)
        if problem is None:
            return {"names": state.get("names", {}), "sources": state.get("sources", {})}
        why = problem
    try:
        aside = set_aside(path, "damaged")
    except OSError as err:
        problems.append(
            f"the policy state {path} cannot be used ({why}) nor moved aside "
            f"({(err.strerror or str(err)).lower()})"
        )
        return empty
    problems.append(
        f"the policy state {path} could not be used ({why}), so it was moved to {aside}; "
        "the revisions of signed policies in force are learnt again"
    )
    return empty


def _state_problem(state: Any) -> str | None:
    if not isinstance(state, dict):
        return "it is not a JSON object"
    names, sources = state.get("names", {}), state.get("sources", {})
    if not isinstance(names, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in names.values()
    ):
        return "its names are not revision numbers"
    if not isinstance(sources, dict) or not all(
        isinstance(v, dict)
        and isinstance(v.get("name"), str)
        and isinstance(v.get("revision", 0), int)
        and isinstance(v.get("signer"), str | None)
        for v in sources.values()
    ):
        return "its sources are not what this version wrote"
    return None


def _read_json(path: Path, empty: Any) -> Any:
    try:
        return json_value(read_small_file(path, MAX_BYTES))
    except (OSError, ValueError):
        return empty


def _write(path: Path, data: bytes) -> None:
    _folder(path.parent)
    write_whole(path, data, 0o600)


def _folder(path: Path) -> None:
    """The folder and any missing parent, each 0700 (mkdir's parents=True would not)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
