"""What a parser finds (a Secret, in the scanning child only) and what leaves the child (a Fact)."""

from __future__ import annotations

import bisect
import re
from abc import ABC, abstractmethod

# The scanning child starts for every scan, and these records are on its start-up path:
# plain classes, since dataclasses (inspect, ast, dis, tokenize) or typing's NamedTuple would
# cost it a quarter of its start-up or more (bench/scanner_start.py). typing is for mypy only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import ClassVar, Literal

    # password: chosen by a person, graded. token: issued by a service (API keys, OAuth
    # tokens, derived keys), reported but never graded: its strength is not the person's.
    Kind = Literal["password", "token"]
    Level = Literal["weak", "fair", "strong"]
else:
    Kind = Level = str  # names the parsers import; what they allow is mypy's to check


class Secret:
    """One secret value where a parser found it. Lives only inside the scanning child."""

    __slots__ = ("encoding", "field", "kind", "line", "target", "user_inputs", "value")

    def __init__(
        self,
        *,
        line: int,
        field: str,  # the name the file gives it: "password", "psk", "_authToken"
        value: str,
        kind: Kind = "password",
        target: str = "",  # what it opens, in words: "example.com (login ann)"
        user_inputs: tuple[str, ...] = (),  # user name, host, network: made of them is weak
        encoding: str = "",  # "base64", "rclone obscure": reversible, so as good as plain text
    ) -> None:
        self.line = line
        self.field = field
        self.value = value
        self.kind = kind
        self.target = target
        self.user_inputs = user_inputs
        self.encoding = encoding

    def __repr__(self) -> str:
        # A secret printed by accident (a debugger, a log of locals) shows no value.
        return f"Secret(line={self.line}, field={self.field!r}, kind={self.kind})"


class Fact:
    """What the scanning child reports about one secret: where and what it is, and which
    rules it breaks; nothing computed from the value (not a hash of it, not its length)."""

    __slots__ = ("encoding", "field", "kind", "level", "line", "reasons", "target")

    def __init__(
        self,
        *,
        line: int,
        field: str,
        kind: Kind,
        target: str,
        encoding: str,
        level: Level | None,  # None: not graded (a token, or too long to be typed)
        reasons: tuple[str, ...],  # the rules it breaks, in words
    ) -> None:
        self.line = line
        self.field = field
        self.kind = kind
        self.target = target
        self.encoding = encoding
        self.level = level
        self.reasons = reasons

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


class Source:
    """The file being parsed, and the home it belongs to (some formats keep a key beside it)."""

    __slots__ = ("home", "path")

    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.home = home


class Family(ABC):
    """One config format's parser: how to find its secrets, and what to do instead of keeping
    them there. Where its files are is said by its entry in FAMILIES (a Format).

    `advice` is specific to the format: its keyring or credential helper, its permissions.
    """

    title: ClassVar[str]  # the format in words: "~/.netrc", "NetworkManager connection"
    advice: ClassVar[str]

    @abstractmethod
    def parse(self, text: str, source: Source) -> Iterator[Secret]:
        """Every secret the file holds. A value that only refers elsewhere is not one."""


class Format:
    """One entry of the list of formats (agent/credentials/families/__init__.py): where its
    files are, which is all that finding files needs, and the name of its parser class in the
    module named like its id, imported only when a file of the format is read (`load`)."""

    __slots__ = ("id", "parser", "paths", "project_files")

    def __init__(
        self,
        id: str,  # the format's id, as the policy's extra_files names it
        parser: str,  # the Family subclass in agent/credentials/families/<id>.py
        *,
        # Where the files are: "~/..." in the home, "$XDG_CONFIG_HOME/...", "$XDG_DATA_HOME/
        # ...", "$DOCKER_CONFIG/..." and "$XDG_RUNTIME_DIR/..." (each with its usual default),
        # or an absolute system path. "*" may stand in the last part of a path.
        paths: tuple[str, ...] = (),
        # Names looked for in the project folders the policy lists (.env), fnmatch patterns.
        project_files: tuple[str, ...] = (),
    ) -> None:
        self.id = id
        self.parser = parser
        self.paths = paths
        self.project_files = project_files

    def load(self) -> type[Family]:
        # The import statement's machinery, not importlib.import_module: that one bypasses
        # what `python -X importtime` logs (tests/test_scanner_imports.py reads that log).
        module = __import__(f"agent.credentials.families.{self.id}", fromlist=[self.parser])
        parser = getattr(module, self.parser, None)
        if not (isinstance(parser, type) and issubclass(parser, Family)):
            raise TypeError(f"{module.__name__} has no Family named {self.parser}")
        return parser


class Lines:
    """The 1-based line of any offset in one text, by bisection over its line breaks.

    Counting the breaks from the start at each call made a file of many entries take time
    growing with the square of its size (250,000 short lines: minutes)."""

    def __init__(self, text: str) -> None:
        self._breaks = [m.start() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect.bisect_left(self._breaks, offset) + 1
