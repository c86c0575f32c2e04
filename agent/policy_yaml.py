"""A policy file's YAML read as plain data: text, numbers, true/false, null, lists, mappings.

One pass over the parser's events builds the data, and refuses on the way, each with one
sentence naming the line and field: any tag (!!binary, !!set, !!timestamp, !!python/...,
even !!str: a policy is plain data), aliases (billion laughs, self-reference), keys that are
not plain scalars, a key written twice, nesting deeper than MAX_DEPTH and more than
MAX_VALUES keys and values in all. The event stream is read only as far as the limits
allow, so a hostile file costs what MAX_VALUES values cost, whatever its size (the
composer and constructor PyYAML would use cost about 400 bytes and 6 microseconds a node).

An unquoted date (2024-01-01) is read as the text it is: no policy setting is a date, and
PyYAML's merge key (<<) and value (=) are text too, so nothing resolves to a type beyond
str, int, float, bool and None.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from agent.errors import PolicyError

MAX_DEPTH = 16
MAX_VALUES = 10_000  # keys, values and list items, in all

_BOOL, _INT, _FLOAT, _NULL = (
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "null")
)
# YAML 1.1's implicit types without timestamp, merge and value: those stay text.
_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    first: [(tag, pattern) for tag, pattern in found if tag in (_BOOL, _INT, _FLOAT, _NULL)]
    for first, found in Resolver.yaml_implicit_resolvers.items()
}
_FIELD_PART = 60  # a key longer than this is shortened where a sentence names it


@dataclass
class _Frame:
    container: dict[Any, Any] | list[Any]
    part: str  # how the parent names this container
    key: Any = None  # the key whose value comes next (mappings)
    key_part: str | None = None  # that key as a path part; None: a key comes next
    seen: set[str] = field(default_factory=set)  # keys as written (mappings)


class _Reader:
    def __init__(self, text: str, source: str, want: tuple[str, ...] | None = None) -> None:
        self.text = text
        self.source = source
        self.stack: list[_Frame] = []
        self.count = 0
        self.constructor = SafeConstructor()
        # Line lookup (after a validation error): the line of the deepest part of `want`.
        self.want = want
        self.found_line: int | None = None
        self.found_depth = -1

    def read(self) -> Any:
        parser = getattr(yaml, "CBaseLoader", yaml.BaseLoader)(self.text)
        root: Any = None
        documents = 0
        try:
            while parser.check_event():
                event = parser.get_event()
                if isinstance(event, yaml.DocumentStartEvent):
                    documents += 1
                    if documents > 1:
                        raise self.error(event, "holds more than one YAML document; write one")
                elif isinstance(event, yaml.CollectionEndEvent):
                    frame = self.stack.pop()
                    if not self.stack:
                        root = frame.container
                elif isinstance(event, yaml.NodeEvent):
                    value = self.node(event)
                    if not self.stack and isinstance(event, yaml.ScalarEvent):
                        root = value
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            problem = " ".join(" ".join(p.split()) for p in (err.context, err.problem) if p)
            raise PolicyError(
                self.source,
                f"is not valid YAML ({problem})",
                line=mark.line + 1 if mark else None,
            ) from None
        except yaml.reader.ReaderError as err:
            # Not a marked error: its text spans lines and counts characters from the start.
            # The C reader gives the code point as a number, the Python one as a character.
            character = err.character
            point = ord(character[:1] or "\0") if isinstance(character, str) else int(character)
            raise PolicyError(
                self.source,
                f"holds U+{point:04X}, a control character YAML does not "
                "allow; write it as an escape in double quotes",
                line=self.text.count("\n", 0, err.position) + 1,
            ) from None
        except yaml.YAMLError as err:
            said = " ".join(str(err).split())
            raise PolicyError(self.source, f"is not valid YAML ({said})") from None
        finally:
            parser.dispose()
        if documents == 0:
            raise PolicyError(self.source, "is empty; a policy file needs at least `schema: 1`")
        return root

    def node(self, event: yaml.NodeEvent) -> Any:
        if isinstance(event, yaml.AliasEvent):
            raise self.error(event, "uses a YAML alias (*name); write the value out instead")
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.error(
                event,
                f"holds more than {MAX_VALUES:,} keys and values; a policy holds at most "
                f"{MAX_VALUES:,}",
                at_field=False,
            )
        if len(self.stack) > MAX_DEPTH:
            raise self.error(event, f"is nested more than {MAX_DEPTH} levels deep", at_field=False)
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = _shortened(tag.replace("tag:yaml.org,2002:", "!!"))
            raise self.error(
                event,
                f"uses the YAML tag {shown}; a policy holds plain text, numbers, true/false, "
                "lists and mappings only",
            )
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.container, dict) and top.key_part is None:
            self.key(top, event)
            return None
        if self.want is not None and not (top is not None and isinstance(top.container, dict)):
            self.note_line(self.path(), event)  # the root, or a list's item
        if isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event)
            self.attach(value)
            return value
        part = self.part_here()
        container: dict[Any, Any] | list[Any] = (
            {} if isinstance(event, yaml.MappingStartEvent) else []
        )
        self.attach(container)
        self.stack.append(_Frame(container, part or ""))
        return container

    def key(self, top: _Frame, event: yaml.NodeEvent) -> None:
        if not isinstance(event, yaml.ScalarEvent):
            raise self.error(event, "has a key that is a list or a mapping; a key is plain text")
        written = event.value
        top.key_part = _shortened(written)
        if written in top.seen:
            raise self.error(event, "appears twice; write each key once")
        top.seen.add(written)
        top.key = self.scalar(event)
        if self.want is not None:
            self.note_line(self.path(), event)

    def attach(self, value: Any) -> None:
        if not self.stack:
            return
        top = self.stack[-1]
        if isinstance(top.container, list):
            top.container.append(value)
        else:
            top.container[top.key] = value
            top.key, top.key_part = None, None

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        value: str = event.value
        tag = _resolve(value) if event.implicit[0] else None
        if tag is None:
            return value
        if tag == _NULL:
            return None
        node = yaml.ScalarNode(tag, value)
        try:
            if tag == _BOOL:
                return self.constructor.construct_yaml_bool(node)
            if tag == _INT:
                return self.constructor.construct_yaml_int(node)
            return self.constructor.construct_yaml_float(node)
        except ValueError:
            # Python refuses to read ints of more than 4300 digits (the regexp let it by).
            raise self.error(event, "is a number too long to read") from None

    def part_here(self) -> str | None:
        """How the current container names the node that comes next; None at the root."""
        if not self.stack:
            return None
        top = self.stack[-1]
        if isinstance(top.container, list):
            return str(len(top.container))
        return top.key_part

    def path(self) -> list[str]:
        parts = [frame.part for frame in self.stack[1:]]
        here = self.part_here()
        return parts if here is None else [*parts, here]

    def error(self, event: yaml.Event, problem: str, *, at_field: bool = True) -> PolicyError:
        where = ".".join(self.path()) if at_field else ""
        return PolicyError(self.source, problem, field=where or None, line=_line(event))

    def note_line(self, path: list[str], event: yaml.Event) -> None:
        want = self.want or ()
        if tuple(path) == want[: len(path)] and len(path) > self.found_depth:
            self.found_line = _line(event)
            self.found_depth = len(path)


def _line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


def _resolve(value: str) -> str | None:
    """The implicit tag of a plain scalar among null, bool, int and float; None: text."""
    for tag, pattern in _IMPLICIT.get(value[:1], ()):
        if pattern.match(value):
            return tag
    return None


def _shortened(text: str) -> str:
    return text if len(text) <= _FIELD_PART else text[: _FIELD_PART - 3] + "..."


def read_plain(text: str, source: str) -> Any:
    """The YAML document in `text` as plain data, or PolicyError (one sentence)."""
    return _Reader(text, source).read()


def line_of(text: str, source: str, loc: tuple[str, ...]) -> int | None:
    """The line of the deepest part of `loc` found in the document (a validation error's)."""
    reader = _Reader(text, source, want=loc)
    with contextlib.suppress(PolicyError):
        reader.read()
    return reader.found_line
