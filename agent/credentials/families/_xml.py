"""A tiny element tree with line numbers, for the XML config formats (FileZilla, Pidgin,
Maven, Windows answer files).

xml.parsers.expat directly: its CurrentLineNumber gives each element's line. A document
type declaration is refused outright, so no entity is ever declared (no expansion, nothing
external). A document broken part way keeps what came before the break: the elements closed
before it are searched, the rest is not, and a note says so.
"""

from __future__ import annotations

from xml.parsers import expat

from agent.credentials.model import Refused

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from collections.abc import Iterator


class DoctypeRefused(Refused):
    """The document declares a document type; its message never quotes the file."""


_REFUSED = "a document type declaration is not accepted in a config file; it was not checked"


class Element:
    __slots__ = ("attributes", "broken", "children", "line", "tag", "text", "text_line")

    def __init__(self, tag: str, attributes: dict[str, str], line: int) -> None:
        self.tag = tag  # the local name: a namespace prefix ("wcm:") is dropped
        self.attributes = attributes  # by local name too
        self.line = line  # the line of the start tag
        self.broken = 0  # on the root of a document broken part way: the line of the break
        self.text = ""  # the character data directly inside, joined
        self.text_line = 0  # the line where that data starts (0: none); else the start tag's
        self.children: list[Element] = []

    @property
    def value_line(self) -> int:
        return self.text_line or self.line

    def find(self, tag: str) -> Element | None:
        """The first child named `tag`."""
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> list[Element]:
        return [child for child in self.children if child.tag == tag]

    def child_text(self, tag: str) -> str:
        """The text of the first child named `tag`, stripped; "" when there is none."""
        child = self.find(tag)
        return child.text.strip() if child is not None else ""

    def path(self, *tags: str) -> Element | None:
        """The first descendant along the child names `tags`, one level each."""
        here: Element | None = self
        for tag in tags:
            if here is None:
                return None
            here = here.find(tag)
        return here

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        """This element and all below it, in document order (named `tag`, if given)."""
        pending = [self]
        while pending:
            element = pending.pop()
            if tag is None or element.tag == tag:
                yield element
            pending.extend(reversed(element.children))


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def parse(text: str) -> Element | None:
    """The root element of `text` (None for an empty file); a document broken part way has
    `broken` set on its root.

    Raises DoctypeRefused for a document with a <!DOCTYPE ...>, and Refused when not even a
    root could be read.
    """
    if not text.strip():
        return None
    parser = expat.ParserCreate(encoding="UTF-8")  # the text is decoded already
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Element] = []
    roots: list[Element] = []
    parts: dict[int, list[str]] = {}  # id(element) -> its text pieces

    def refuse(*_args: object) -> int:
        raise DoctypeRefused(_REFUSED)

    def start(name: str, attributes: dict[str, str]) -> None:
        element = Element(
            tag=_local(name),
            attributes={_local(k): v for k, v in attributes.items()},
            line=parser.CurrentLineNumber,
        )
        if stack:
            stack[-1].children.append(element)
        else:
            roots.append(element)
        stack.append(element)

    def end(_name: str) -> None:
        element = stack.pop()
        element.text = "".join(parts.pop(id(element), ()))

    def data(chunk: str) -> None:
        if not stack:
            return
        element = stack[-1]
        if not element.text_line and chunk.strip():
            # expat calls this once per line and per entity: the line is the chunk's own.
            lead = chunk[: len(chunk) - len(chunk.lstrip())]
            element.text_line = parser.CurrentLineNumber + lead.count("\n")
        parts.setdefault(id(element), []).append(chunk)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    broken = 0
    try:
        parser.Parse(text.encode("utf-8", errors="replace"), True)
    except expat.ExpatError as err:
        # A broken document: keep the elements that were closed. Those still open keep their
        # children but not their text, which may be cut short.
        broken = err.lineno
        for element in stack:
            parts.pop(id(element), None)
            element.text_line = 0
    if not roots:
        raise Refused(f"it is not well-formed XML (line {broken or 1}); it was not checked")
    roots[0].broken = broken
    return roots[0]


def whole(root: Element) -> None:
    """Raise Refused, after the secrets before the break were given, for a broken document."""
    if root.broken:
        raise Refused(
            f"it is not well-formed XML (line {root.broken}); only what comes before that "
            "line was checked"
        )
