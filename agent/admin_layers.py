"""Which admin policies are in force: the admin folder's files and the sources they pull,
each checked against the admin's signing keys when there are any.

Signatures are required as soon as the admin folder holds a trusted key (`keys/*.pub`,
Ed25519, see agent.signing): installing the key is how an admin says "only signed policies
from now on", and it needs no setting that could itself be forged. Then every policy file
in policies.d and every pulled source must come with a detached signature (FILE.sig) by
one of those keys, and a signed policy's `revision` may never go below the one in force
for the same source (a replayed old policy is a downgrade). A policy that fails any of it
is rejected: one sentence for the log and `hygiene status`, and the last good copy of that
source stays in force. Without keys, policies are taken as they are, as before, and
`hygiene policy show` says they are unsigned.

What is kept, in the state folder (0700): policy/accepted/<source>.yaml and .sig, the last
good copy of each source; policy/revisions.json, the revision in force per source;
policy/rejected.json, the current rejections for `hygiene status`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agent.files import read_small_file
from agent.paths import Paths

if TYPE_CHECKING:
    from agent.signing import Anchors

MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Candidate:
    """One admin policy as found: the folder's file or a pulled source's cached copy."""

    key: str  # stable name of the source: "file:10-acme.yaml", "url:<hash>"
    label: str  # how the person and the admin know it: the path or the URL
    path: Path  # where its bytes are now
    signature: Path | None  # its detached signature, when there is one


@dataclass(frozen=True)
class Judged:
    path: Path | None  # what to load (the candidate, or its last good copy); None: nothing
    source: str  # the label with its state, for `policy show`: "... (signed by key ab12...)"
    rejection: str | None  # one sentence, when the candidate itself was refused


@dataclass
class Gate:
    """The admin's keys and what is kept about accepted policies."""

    anchors: Anchors | None  # None: no keys folder, so nothing to load (nor cryptography)
    folder: Path  # <state>/policy
    revisions: dict[str, int]
    problems: list[str] = field(default_factory=list)  # what could not be kept, for the log

    @classmethod
    def open(cls, paths: Paths) -> Gate:
        keys = paths.admin_policies.parent / "keys"
        anchors = None
        if keys.exists():
            # cryptography only when an admin installed keys: it weighs on the agent's memory.
            from agent.signing import load_anchors  # noqa: PLC0415

            anchors = load_anchors(keys)
        folder = paths.state / "policy"
        return cls(anchors, folder, _read_json(folder / "revisions.json"))

    @property
    def required(self) -> bool:
        return self.anchors is not None and bool(self.anchors.keys)

    @property
    def warnings(self) -> list[str]:
        return [*(self.anchors.warnings if self.anchors else ()), *self.problems]

    def judge(self, candidate: Candidate) -> Judged:
        if self.anchors is None or not self.anchors.keys:
            return Judged(candidate.path, f"{candidate.label} (unsigned)", None)
        try:
            data = read_small_file(candidate.path, MAX_BYTES)
        except OSError as err:
            return self._fallback(candidate, f"it cannot be read ({(err.strerror or '').lower()})")
        signature = None
        if candidate.signature is not None:
            with contextlib.suppress(OSError):
                signature = read_small_file(candidate.signature, 4096)
        from agent.signing import verify  # noqa: PLC0415

        verdict = verify(data, signature, self.anchors)
        if not verdict.ok:
            expected = candidate.signature
            missing = signature is None and expected is not None
            why = f"no signature (no {expected.name})" if missing and expected else verdict.reason
            return self._fallback(candidate, why)
        revision = _revision(data)
        in_force = self.revisions.get(candidate.key)
        if in_force is not None and revision < in_force:
            return self._fallback(
                candidate,
                f"its revision {revision} is lower than revision {in_force} in force (an old "
                "policy sent again)",
            )
        try:
            self._keep(candidate.key, data, signature, revision)
        except OSError as err:
            self.problems.append(
                f"the accepted copy of {candidate.label} could not be kept in {self.folder} "
                f"({(err.strerror or str(err)).lower()}); a downgrade of it cannot be told"
            )
        return Judged(candidate.path, f"{candidate.label} ({verdict.reason})", None)

    def _fallback(self, candidate: Candidate, why: str) -> Judged:
        kept = self.folder / "accepted" / f"{_safe(candidate.key)}.yaml"
        rejection = f"{candidate.label} was rejected: {why}"
        if kept.exists():
            revision = self.revisions.get(candidate.key)
            return Judged(
                kept,
                f"{candidate.label} (the last good copy, revision {revision}, signed)",
                rejection + "; its last good copy stays in force.",
            )
        return Judged(None, candidate.label, rejection + "; no earlier copy was accepted.")

    def _keep(self, key: str, data: bytes, signature: bytes | None, revision: int) -> None:
        accepted = self.folder / "accepted"
        _write(accepted / f"{_safe(key)}.yaml", data)
        if signature is not None:
            _write(accepted / f"{_safe(key)}.yaml.sig", signature)
        if self.revisions.get(key) != revision:
            self.revisions[key] = revision
            _write(self.folder / "revisions.json", json.dumps(self.revisions).encode())

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


def rejections(paths: Paths) -> list[str]:
    found = _read_json(paths.state / "policy" / "rejected.json")
    return [str(r) for r in found] if isinstance(found, list) else []


def folder_candidates(files: list[Path]) -> list[Candidate]:
    return [
        Candidate(f"file:{path.name}", str(path), path, path.with_name(path.name + ".sig"))
        for path in files
    ]


def url_key(url: str) -> str:
    return "url:" + hashlib.sha256(url.encode()).hexdigest()[:16]


def _revision(data: bytes) -> int:
    """The file's `revision`, 0 when it has none or cannot be read: the full reading (and
    its errors) comes after, in agent.policy."""
    try:
        parsed = yaml.safe_load(data)
    except yaml.YAMLError:
        return 0
    value = parsed.get("revision") if isinstance(parsed, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _safe(key: str) -> str:
    return key.replace("/", "_").replace(":", "_")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(read_small_file(path, MAX_BYTES))
    except (OSError, ValueError):
        return {} if path.name == "revisions.json" else []


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
