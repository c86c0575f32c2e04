"""What a parser finds (a Secret, in the scanning child only) and what leaves the child (a Fact)."""

from __future__ import annotations

import bisect
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

# password: chosen by a person, graded. token: issued by a service (API keys, OAuth tokens,
# derived keys), reported but never graded: its strength is not the person's choice.
Kind = Literal["password", "token"]
Level = Literal["weak", "fair", "strong"]


@dataclass(frozen=True, repr=False)
class Secret:
    """One secret value where a parser found it. Lives only inside the scanning child."""

    line: int
    field: str  # the name the file gives it: "password", "psk", "_authToken"
    value: str
    kind: Kind = "password"
    target: str = ""  # what it opens, in words: "example.com (login ann)"
    user_inputs: tuple[str, ...] = ()  # user name, host, network: a password made of them is weak
    encoding: str = ""  # "base64", "rclone obscure": reversible, so as good as plain text

    def __repr__(self) -> str:
        # A secret printed by accident (a debugger, a log of locals) shows no value.
        return f"Secret(line={self.line}, field={self.field!r}, kind={self.kind})"


@dataclass(frozen=True)
class Fact:
    """What the scanning child reports about one secret: where and what it is, and which
    rules it breaks; nothing computed from the value (not a hash of it, not its length)."""

    line: int
    field: str
    kind: Kind
    target: str
    encoding: str
    level: Level | None  # None: not graded (a token, or too long to be typed)
    reasons: tuple[str, ...]  # the rules it breaks, in words

    def to_json(self) -> dict[str, object]:
        return {
            "line": self.line,
            "field": self.field,
            "kind": self.kind,
            "target": self.target,
            "encoding": self.encoding,
            "level": self.level,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Fact:
        kind = str(data["kind"])
        level = data.get("level")
        reasons = data.get("reasons") or []
        if kind not in ("password", "token") or level not in (None, "weak", "fair", "strong"):
            raise ValueError("not a credential fact")
        if not isinstance(reasons, list):
            raise TypeError("not a credential fact")
        return cls(
            line=int(str(data["line"])),
            field=str(data["field"]),
            kind=kind,  # type: ignore[arg-type]
            target=str(data.get("target", "")),
            encoding=str(data.get("encoding", "")),
            level=level,
            reasons=tuple(str(r) for r in reasons),
        )


class Refused(ValueError):
    """A file a parser will not read on purpose (an XML document type, say): its message
    says why in words that quote nothing from the file."""


@dataclass(frozen=True)
class Source:
    """The file being parsed, and the home it belongs to (some formats keep a key beside it)."""

    path: Path
    home: Path


class Family(ABC):
    """One config format: how to find its secrets, and what to do instead of keeping them there.

    `advice` is specific to the format: its keyring or credential helper, its permissions.
    """

    id: ClassVar[str]
    title: ClassVar[str]  # the format in words: "~/.netrc", "NetworkManager connection"
    advice: ClassVar[str]
    # Where the files are: "~/..." in the home, "$XDG_CONFIG_HOME/...", "$XDG_DATA_HOME/...",
    # "$DOCKER_CONFIG/..." and "$XDG_RUNTIME_DIR/..." (each with its usual default), or an
    # absolute system path. "*" may stand in the last part of a path.
    paths: ClassVar[tuple[str, ...]] = ()
    # Names looked for in the project folders the policy lists (.env), as fnmatch patterns.
    project_files: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        """Every secret the file holds. A value that only refers elsewhere is not one."""


class Lines:
    """The 1-based line of any offset in one text, by bisection over its line breaks.

    Counting the breaks from the start at each call made a file of many entries take time
    growing with the square of its size (250,000 short lines: minutes)."""

    def __init__(self, text: str) -> None:
        self._breaks = [m.start() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect.bisect_left(self._breaks, offset) + 1
