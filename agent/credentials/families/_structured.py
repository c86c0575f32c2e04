"""Light readers of the common config syntaxes, for files whose format is only guessed from
their name: INI and .conf, Java .properties, TOML, YAML, JSON, and the assignments of Python
and JavaScript settings files.

Each yields Entry(line, keys, value, plain): where a scalar is, the keys leading to it
("database", "password"), its text, and whether it was written bare (a YAML plain scalar,
an INI value: it may be a number or a boolean) rather than as a string. They are not full
parsers on purpose: they take one pass over the lines (or, for JSON, the tokens), in time
linear in the text, never run a YAML tag or resolve an alias, and stop quietly at what they
do not understand. Line numbers are what an editor shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from agent.credentials.model import Lines

MAX_DEPTH = 64
# Lines longer than this are minified code or data, not a setting a person wrote.
MAX_LINE = 4096


class Entry:
    # A plain class: dataclasses would cost the scanning child milliseconds to import.
    __slots__ = ("keys", "line", "plain", "value")

    def __init__(self, line: int, keys: tuple[str, ...], value: str, plain: bool) -> None:
        self.line = line
        self.keys = keys
        self.value = value
        self.plain = plain


Reader = Callable[[str], Iterator[Entry]]


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.split("\n"), 1):
        if len(line) <= MAX_LINE:
            yield number, line.rstrip("\r")


def _cut_comment(value: str, marks: str) -> str:
    """The value before a comment that starts after blank space ("pw = x ; old one")."""
    for i, c in enumerate(value):
        if c in marks and (i == 0 or value[i - 1] in " \t"):
            return value[:i]
    return value


def _unquote(value: str) -> tuple[str, bool]:
    """The value without one pair of enclosing quotes; whether it was bare."""
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        return value[1:-1], False
    return value, True


# --- INI, .conf, .cfg -------------------------------------------------------------------

_SECTION = re.compile(r"[ \t]*\[(?P<name>[^\]\n]{0,200})\][ \t]*(?:[#;].*)?")
_INI_PAIR = re.compile(r"[ \t]*(?P<key>[^\s=:#;\[][^=:\n]{0,199}?)[ \t]*[=:][ \t]*(?P<value>.*)")
_SPACED_PAIR = re.compile(r"[ \t]*(?P<key>[A-Za-z_][\w.\-]{0,99})[ \t]+(?P<value>[^=:\s].*)")


def ini(text: str, *, spaced: bool = False) -> Iterator[Entry]:
    """`key = value` and `key: value` under `[section]` headers; with `spaced` (.conf
    files) also `key value`. Comment lines start with "#" or ";"."""
    section: tuple[str, ...] = ()
    for number, line in _lines(text):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        header = _SECTION.fullmatch(line)
        if header:
            section = (header.group("name").strip(),)
            continue
        pair = _INI_PAIR.fullmatch(line) or (_SPACED_PAIR.fullmatch(line) if spaced else None)
        if pair is None:
            continue
        value, plain = _unquote(_cut_comment(pair.group("value"), "#;").strip())
        yield Entry(number, (*section, pair.group("key").strip()), value, plain)


def conf(text: str) -> Iterator[Entry]:
    return ini(text, spaced=True)


# --- Java .properties -------------------------------------------------------------------

_PROPERTY_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def properties(text: str) -> Iterator[Entry]:
    """java.util.Properties.load: logical lines joined at a trailing odd backslash, "#" and
    "!" comment lines, the key ending at an unescaped "=", ":" or blank, and its escapes."""
    logical = ""
    start = 0
    for number, line in _lines(text):
        if not logical:
            start = number
            stripped = line.lstrip(" \t\f")
            if not stripped or stripped[0] in "#!":
                continue
        else:
            stripped = line.lstrip(" \t\f")
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        if trailing % 2:
            logical += stripped[:-1]
            continue
        logical += stripped
        entry = _property(logical, start)
        logical = ""
        if entry is not None:
            yield entry


def _property(line: str, number: int) -> Entry | None:
    key: list[str] = []
    i = 0
    while i < len(line) and line[i] not in "=: \t\f":
        if line[i] == "\\" and i + 1 < len(line):
            i += 1
        key.append(line[i])
        i += 1
    while i < len(line) and line[i] in " \t\f":
        i += 1
    if i < len(line) and line[i] in "=:":
        i += 1
    value = line[i:].lstrip(" \t\f")
    if not key:
        return None
    return Entry(number, ("".join(key),), _java_unescape(value), True)


def _java_unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", value[i + 2 : i + 6]):
                out.append(chr(int(value[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_PROPERTY_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# --- TOML -------------------------------------------------------------------------------

_BARE = r"[A-Za-z0-9_\-]+"
_BASIC = r'"(?:[^"\\\n]|\\.){0,200}"'
_LITERAL = r"'[^'\n]{0,200}'"
_KEY_PART = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_TOML_KEY = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART}){{0,16}}"
_TOML_TABLE = re.compile(rf"[ \t]*\[\[?[ \t]*(?P<key>{_TOML_KEY})[ \t]*\]\]?[ \t]*(?:#.*)?")
_TOML_PAIR = re.compile(rf"[ \t]*(?P<key>{_TOML_KEY})[ \t]*=[ \t]*(?P<value>.*)")
_TOML_PART = re.compile(_KEY_PART)
_STRING_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/",
    "e": "\x1b", "0": "\0", "'": "'", "a": "\a", "v": "\v",
}  # fmt: skip


def toml(text: str) -> Iterator[Entry]:
    """`key = value` under `[table]` and `[[array]]` headers, dotted and quoted keys, basic
    and literal strings; multi-line strings are passed over."""
    table: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}
    closing = ""
    for number, line in _lines(text):
        if closing:
            if closing in line:
                closing = ""
            continue
        stripped = line.strip()
        if not stripped or stripped[0] == "#":
            continue
        header = _TOML_TABLE.fullmatch(line)
        if header:
            table = _toml_keys(header.group("key"))
            if line.lstrip().startswith("[["):  # one more table of an array: its index
                index = arrays[table] = arrays.get(table, -1) + 1
                table = (*table, f"[{index}]")
            continue
        pair = _TOML_PAIR.fullmatch(line)
        if pair is None:
            continue
        raw = pair.group("value")
        if raw.startswith(('"""', "'''")):
            if raw.count(raw[:3]) < 2:
                closing = raw[:3]
            continue
        keys = (*table, *_toml_keys(pair.group("key")))
        if raw[:1] == '"':
            value = _quoted(raw, 1, '"', _STRING_ESCAPES)
            if value is not None:
                yield Entry(number, keys, value, False)
        elif raw[:1] == "'":
            end = raw.find("'", 1)
            if end > 0:
                yield Entry(number, keys, raw[1:end], False)
        elif raw[:1] not in ("[", "{", ""):
            yield Entry(number, keys, _cut_comment(raw, "#").strip(), True)


def _toml_keys(text: str) -> tuple[str, ...]:
    return tuple(_unquote(m.group())[0] for m in _TOML_PART.finditer(text))


_CLOSED = {q: re.compile(rf"((?:[^{q}\\\n]|\\.)*){q}") for q in "\"'`"}
_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|x[0-9A-Fa-f]{2}|.)")


def _quoted(text: str, start: int, quote: str, escapes: dict[str, str]) -> str | None:
    """The string from `start` (after its opening quote) to its closing quote on the same
    line, escapes decoded; None when it is not closed there."""
    closed = _CLOSED[quote].match(text, start)
    if closed is None:
        return None

    def decoded(escape: re.Match[str]) -> str:
        what = escape.group()[1:]
        if len(what) > 1:
            code = int(what[1:], 16)
            return chr(code) if code <= 0x10FFFF else "?"
        return escapes.get(what, "\\" + what)

    return _ESCAPE.sub(decoded, closed.group(1))


# --- YAML -------------------------------------------------------------------------------

_YAML_KEY = re.compile(
    r"""(?P<key>"(?:[^"\\\n]|\\.){0,200}"|'(?:[^'\n]|''){0,200}'|[^\s#'"{\[\]},&*!|>%@`][^\n]{0,199}?)"""
    r"""[ \t]*:(?:[ \t]+(?P<value>.*)|[ \t]*$)"""
)
_ITEM = re.compile(r"-[ \t]+|-$")


def yaml(text: str) -> Iterator[Entry]:
    """Block mappings by indentation, "- " items, quoted and plain scalars (a plain one ends
    at " #"). An anchor is dropped; a value with a tag other than !!str (!vault, !ENV, a
    Python object), an alias, a flow collection or a block scalar is passed over."""
    stack: list[tuple[int, str]] = []
    block = -1  # inside a block scalar: the indentation of its key
    for number, line in _lines(text):
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if block >= 0:
            if not body.strip() or indent > block:
                continue
            block = -1
        if not body.strip() or body.startswith("#"):
            continue
        if indent == 0 and (body.startswith(("---", "...", "%"))):
            stack.clear()
            continue
        while item := _ITEM.match(body):
            _yaml_item(stack, indent)
            indent += item.end()
            body = body[item.end() :]
        pair = _YAML_KEY.fullmatch(body.rstrip())
        if pair is None:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = pair.group("key")
        if key[:1] == '"':
            key = _quoted(key, 1, '"', _STRING_ESCAPES) or ""
        elif key[:1] == "'":
            key = key[1:-1].replace("''", "'")
        raw = (pair.group("value") or "").strip()
        if raw.startswith("&"):
            raw = raw.partition(" ")[2].strip()  # an anchor names the value; it stays
        tag = ""
        if raw.startswith("!"):
            tag, _, raw = raw.partition(" ")
            raw = raw.strip()
        if not raw or raw.startswith("#"):
            if len(stack) < MAX_DEPTH:
                stack.append((indent, key))
        elif raw[0] in "|>":
            block = indent
        elif tag in ("", "!!str"):
            scalar = _yaml_scalar(raw)
            if scalar is not None:
                yield Entry(number, (*(k for _, k in stack), key), *scalar)


def _yaml_item(stack: list[tuple[int, str]], column: int) -> None:
    """A new item of the sequence at `column`: named by its index, as JSON's are."""
    while stack and stack[-1][0] > column:
        stack.pop()
    index = 0
    if stack and stack[-1][0] == column and stack[-1][1].startswith("["):
        index = int(stack.pop()[1][1:-1]) + 1
    if len(stack) < MAX_DEPTH:
        stack.append((column, f"[{index}]"))


def _yaml_scalar(raw: str) -> tuple[str, bool] | None:
    """The value of a scalar written on its key's line, and whether it is plain; None for
    what is passed over (a tag, an alias, a flow collection, a string not closed there)."""
    if raw[0] == '"':
        value = _quoted(raw, 1, '"', _STRING_ESCAPES)
        return None if value is None else (value, False)
    if raw[0] == "'":
        closed = re.match(r"'((?:[^']|'')*)'", raw)
        return None if closed is None else (closed.group(1).replace("''", "'"), False)
    if raw[0] in "!*[{":
        return None
    return _cut_comment(raw, "#").strip(), True


# --- JSON -------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(
    r"""[ \t\r\n]+|//[^\n]*|/\*|"(?:[^"\\\n]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"/]{1,200}"""
)


class _Frame:
    __slots__ = ("array", "index", "key", "name", "want_key")

    def __init__(self, name: str, *, array: bool) -> None:
        self.name = name
        self.array = array
        self.key = ""
        self.index = 0
        self.want_key = True


def json(text: str) -> Iterator[Entry]:
    """Each scalar of a JSON document (comments and trailing commas allowed, as in VS Code's
    settings) with the members leading to it; array items are named by their index. At the
    first piece that cannot be JSON, nothing more is read."""
    import json as stdlib_json  # noqa: PLC0415 - only when a JSON file is read

    lines = Lines(text)
    stack: list[_Frame] = []
    pos = 0
    while pos < len(text):
        match = _JSON_TOKEN.match(text, pos)
        if match is None:
            return
        piece = match.group()
        start, pos = pos, match.end()
        if piece == "/*":
            end = text.find("*/", pos)
            if end < 0:
                return
            pos = end + 2
            continue
        if piece[0] in " \t\r\n" or piece.startswith("//"):
            continue
        top = stack[-1] if stack else None
        if piece in "{[":
            if len(stack) >= MAX_DEPTH:
                return
            name = "" if top is None else (f"[{top.index}]" if top.array else top.key)
            stack.append(_Frame(name, array=piece == "["))
        elif piece in "}]":
            if not stack:
                return
            stack.pop()
        elif piece == ",":
            if top is not None:
                top.index += 1
                top.want_key = True
        elif piece == ":":
            if top is not None:
                top.want_key = False
        elif top is None:
            continue
        else:
            string = piece[0] == '"'
            if string:
                try:
                    piece = stdlib_json.loads(piece)
                except ValueError:
                    return
            if not top.array and top.want_key:
                top.key = piece
                continue
            here = f"[{top.index}]" if top.array else top.key
            keys = (*(f.name for f in stack[1:]), here)
            yield Entry(lines.at(start), keys, piece, not string)


# --- Python and JavaScript settings -----------------------------------------------------

_STRING = r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
_NAME = r"""[A-Za-z_$][\w$]{0,99}|"[^"\\\n]{1,100}"|'[^'\\\n]{1,100}'"""
# NAME = "x", NAME: "x" (a dict or object member), NAME: str = "x", name="x" (an argument),
# the string alone up to what ends an expression: "x" + y or "x".strip() is not a literal.
_ASSIGN = re.compile(
    rf"""(?P<key>{_NAME})[ \t]*(?::[ \t]*[\w.\[\], |]{{1,60}}?[ \t]*=|:|=(?!=))[ \t]*"""
    rf"""(?:[rRuUbB]{{0,2}})(?P<value>{_STRING}|`[^`$\\\n]*`)[ \t]*(?=[,;)\]}}]|#|//|$)"""
)
_OPENS = re.compile(rf"""(?P<key>{_NAME})[ \t]*(?::|=(?!=))[ \t]*(?:dict\(|\{{)[ \t]*$""")
_STRINGS = re.compile(rf"{_STRING}|`[^`\n]*`")
_CODE_ESCAPES = {**_STRING_ESCAPES, "'": "'", "`": "`"}


def code(text: str) -> Iterator[Entry]:
    """String literals assigned to a name, a member or an argument, one line at a time;
    members nested in a dict or object literal opened at a line's end carry its name
    (DATABASES = {, "default": {, "PASSWORD": "x" gives DATABASES.default.PASSWORD)."""
    stack: list[tuple[int, str]] = []  # the depth of brackets a name opened, and the name
    depth = 0
    for number, line in _lines(text):
        body = line.strip()
        if not body or body.startswith(("#", "//", "/*", "*")):
            continue
        names = tuple(name for _, name in stack)
        for match in _ASSIGN.finditer(line):
            key, _ = _unquote(match.group("key"))
            literal = match.group("value")
            value = _quoted(literal, 1, literal[0], _CODE_ESCAPES)
            if value is not None:
                yield Entry(number, (*names, key), value, False)
        opens = _OPENS.search(line)
        bare = _STRINGS.sub("", line)
        depth += sum(bare.count(c) for c in "{[(") - sum(bare.count(c) for c in "}])")
        if opens and len(stack) < MAX_DEPTH:
            stack.append((depth, _unquote(opens.group("key"))[0]))
        while stack and depth < stack[-1][0]:
            stack.pop()
