"""Layer 1a: YAML text -> position-carrying nodes, with hard limits, and never a value changed.

Built on libyaml's *event* stream rather than PyYAML's composer or constructors, for three reasons:
the composer recurses (deep nesting crashes the C loader and exhausts the Python one), constructors
apply YAML 1.1 implicit typing (``20240101`` -> int, ``no`` -> False, ``1.10`` -> 1.1), and alias
expansion must be bounded (a "billion laughs" file). Here every scalar keeps its text and style;
deciding what it means is the job of ``reconciler.spec.loader``. An alias may only point at a node
that is complete, so cycles cannot be written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

MAX_DEPTH = 64
"""Deepest nesting accepted (metadata trees are ~8 deep; SQ items add a few levels each)."""
MAX_NODES = 250_000
"""Most nodes a document may hold once aliases are expanded."""

_STR_TAGS = {"!", "tag:yaml.org,2002:str"}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class NodeError(Exception):
    """A problem at a place in the text (0-based line/column). Never carries a value."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


@dataclass
class Node:
    """A YAML node: ``kind`` is scalar, map or seq; ``line``/``column`` are 0-based."""

    kind: str
    line: int
    column: int
    text: str = ""  # scalars: exactly as written
    plain: bool = False  # scalars: unquoted, untagged (the only ones implicit typing would touch)
    items: list[Node] = field(default_factory=list)  # seq items
    pairs: list[tuple[Node, Node]] = field(default_factory=list)  # map entries, in order
    size: int = 1  # nodes once aliases are expanded
    anchor: str | None = None
    depth: int = 1


@dataclass
class Document:
    """One YAML document of a file: its root node (None when empty) and where it starts."""

    index: int
    line: int  # 0-based
    root: Node | None


def compose(text: str) -> list[Document]:
    """Parse ``text`` into documents. Raises NodeError (ours) for the first problem found."""
    try:
        return _Composer().run(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from None
    except yaml.YAMLError:
        raise NodeError("invalid YAML", 0, 0) from None


_UNCLOSED = {"found unexpected end of stream", "found unexpected document separator",
             "found unexpected document indicator"}  # the last two: pure-Python and libyaml wording
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> NodeError:
    """Our message for one of PyYAML's, at the place the user has to look (never quoting the text)."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line, mark.column) if mark else (0, 0)
    # exc.problem is a short phrase; str(exc) would quote the offending line, which may be PHI
    problem = exc.problem or "invalid YAML"
    context, start = exc.context or "", exc.context_mark
    if "nesting depth" in problem:
        # PyYAML 6.0.4 and later stop at their own nesting limit while scanning ahead, before our
        # composer sees the events: one message for both limits, whichever is hit first.
        return NodeError(f"nesting deeper than {MAX_DEPTH} levels", line, column)
    if start is not None and "quoted scalar" in context and problem in _UNCLOSED:
        # the scanner only notices at the end of the file (or at a `---`): point at the opening quote
        end = "the end of the file" if "stream" in problem else f"the `---` at line {line + 1}"
        return NodeError(f"invalid YAML: the quoted string that starts here is not closed before {end}",
                         start.line, start.column)
    lines = _LINE_BREAK.split(text)
    source = lines[line] if line < len(lines) else ""
    if "tab character" in problem or source[column:column + 1] == "\t":
        where = "in indentation" if not source[:column].strip() else "here"
        return NodeError(f"invalid YAML: a tab character {where}; YAML indents with spaces", line, column)
    if start is not None and context.startswith("while parsing a flow") and start.line != line:
        opened = "[ list" if "sequence" in context else "{ mapping"
        return NodeError(f"invalid YAML: {problem} (in the {opened} opened at line {start.line + 1})", line, column)
    return NodeError(f"invalid YAML: {problem}{_hint(problem)}", line, column)


# What a mis-indented line or an unquoted `: ` makes the parser say (libyaml: "did not find expected
# key", "mapping values are not allowed in this context"; pure-Python PyYAML: "expected <block end>,
# but found ...", "mapping values are not allowed here"). It reports them where it gave up, which is
# often the line after the mistake.
_INDENT_HINT = ("; check the indentation of this line and of the line above"
                " (the keys of one mapping start in one column)")
_COLON_HINT = ('; quote a value that holds ": " (key: "a: b"), and check the indentation of this line and of '
               "the line above (a key indented deeper than the key above it continues that key's value)")


def _hint(problem: str) -> str:
    if problem.startswith(("did not find expected key", "expected <block end>")):
        return _INDENT_HINT
    if problem.startswith("mapping values are not allowed"):
        return _COLON_HINT
    return ""


class _Composer:
    def __init__(self) -> None:
        self.stack: list[Node] = []
        self.anchors: dict[str, Node] = {}
        self.docs: list[Document] = []

    def run(self, events: Iterable[yaml.Event]) -> list[Document]:
        for event in events:
            self.handle(event)
        return self.docs

    def handle(self, event: yaml.Event) -> None:
        mark = event.start_mark
        at = (mark.line, mark.column) if mark is not None else (0, 0)
        if isinstance(event, yaml.DocumentStartEvent):
            self.anchors = {}
            self.docs.append(Document(len(self.docs), at[0], None))
        elif isinstance(event, yaml.ScalarEvent):
            self.check_tag(event.tag, at)
            plain = event.tag is None and not event.style
            self.add(Node("scalar", *at, text=event.value, plain=plain), event.anchor)
        elif isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor or "")
            if target is None:
                raise NodeError("alias to an unknown or unfinished anchor", *at)
            self.add(target, None, alias_at=at)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self.check_tag(event.tag, at, collection=True)
            kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
            node = Node(kind, *at, anchor=event.anchor)
            self.stack.append(node)
            if len(self.stack) > MAX_DEPTH:
                raise NodeError(f"nesting deeper than {MAX_DEPTH} levels", *at)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            node = self.stack.pop()
            if node.kind == "map" and len(node.items) % 2:
                raise NodeError("mapping key without a value", *at)
            node.pairs = list(zip(node.items[::2], node.items[1::2], strict=True)) if node.kind == "map" else []
            if node.kind == "map":
                node.items = []
            self.add(node, node.anchor, finished=True)

    @staticmethod
    def check_tag(tag: str | None, at: tuple[int, int], collection: bool = False) -> None:
        allowed = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "!"} if collection else _STR_TAGS
        if tag is not None and tag not in allowed:
            raise NodeError("YAML tags (`!...`) are not supported; write the value plainly", *at)

    def add(self, node: Node, anchor: str | None, *, alias_at: tuple[int, int] | None = None,
            finished: bool = False) -> None:
        """Attach ``node`` to its parent; sizes count aliases expanded, so limits hold before expansion."""
        if finished:
            children = node.items + [n for pair in node.pairs for n in pair]
            node.size = 1 + sum(c.size for c in children)
            node.depth = 1 + max((c.depth for c in children), default=0)
        line, column = alias_at or (node.line, node.column)
        if node.size > MAX_NODES:
            raise NodeError(
                f"the document expands to more than {MAX_NODES} nodes (aliases: a 'billion laughs' pattern?)",
                line, column,
            )
        if node.depth + len(self.stack) > MAX_DEPTH:
            raise NodeError(f"nesting deeper than {MAX_DEPTH} levels (through aliases)", line, column)
        if anchor:
            self.anchors[anchor] = node
        if self.stack:
            self.stack[-1].items.append(node)
        elif self.docs:
            self.docs[-1].root = node
