"""Parse YAML that may be hostile: bounded size, depth and alias expansion, located errors.

The policy and catalogs are files a person edits and may copy from anywhere. PyYAML's
own loaders trust their input: ``zzz: &r [*r]`` composes a node that contains itself
(anything that walks it recurses until ``RecursionError``), and a few hundred bytes of
nested aliases ("billion laughs") expand to gigabytes in whatever walks or validates
the result. So every YAML file Sparklio reads goes through :func:`compose` here, which
builds the node graph from libyaml's events itself and refuses, with the line where it
happens:

- a text longer than :data:`MAX_CHARS`;
- collections nested deeper than :data:`MAX_DEPTH`;
- a document whose size with every alias expanded exceeds :data:`MAX_NODES` nodes
  (each node knows its expanded size when it closes, so the check is linear in the
  file, never in the expansion);
- an alias inside its own anchor (a recursive structure);
- an alias to an anchor never defined, a second document, and a key repeated in one
  mapping (YAML forbids it; PyYAML would silently keep the last one).

:func:`construct` then turns the checked nodes into Python data with PyYAML's safe
constructor; values it cannot build (``2025-02-30``, an integer of 5,000 digits) become
:class:`yaml.MarkedYAMLError` at that value's line instead of a bare ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # the C parser is several times faster; fall back where libyaml is missing
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader  # type: ignore[assignment, misc]  # same API; the stubs do not relate the two

MAX_CHARS = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 250_000


class LimitError(yaml.MarkedYAMLError):
    """The document is well-formed YAML but breaks one of this module's limits."""


class _Loader(_Base):
    """libyaml's parser and PyYAML's safe constructor; composition is :func:`compose`'s."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. a date that does not exist, or an integer too long to convert
            raise ConstructorError(None, None, f"cannot read this value: {exc}", node.start_mark) from None


@dataclass
class _Open:
    """A collection being composed: its node, expanded size so far, and mapping state."""

    node: SequenceNode | MappingNode
    anchor: str | None
    size: int = 1
    key: Node | None = None
    keys: dict[tuple[str, str], int] = field(default_factory=dict)


def _fail(problem: str, mark: Any) -> LimitError:  # a PyYAML or a libyaml Mark
    return LimitError(None, None, problem, mark)


def _tag(loader: _Loader, kind: type[Node], event: ScalarEvent | CollectionStartEvent) -> str:
    if event.tag is None or event.tag == "!":
        value = event.value if isinstance(event, ScalarEvent) else None
        resolved: str = loader.resolve(kind, value, event.implicit)  # type: ignore[no-untyped-call]  # stub is untyped
        return resolved
    return str(event.tag)


def compose(loader: _Loader) -> Node | None:
    """The single document's root node, built within the limits; ``None`` for an empty stream."""
    anchors: dict[str, tuple[Node, int]] = {}  # name -> (node, expanded size)
    open_anchors: set[str] = set()
    stack: list[_Open] = []
    root: Node | None = None
    documents = 0

    def attach(node: Node, size: int, mark: Any) -> None:
        nonlocal root
        if not stack:
            root = node
            if size > MAX_NODES:
                raise _fail(f"the document expands to more than {MAX_NODES:,} values (aliases included)", mark)
            return
        parent = stack[-1]
        parent.size += size
        if parent.size > MAX_NODES:
            raise _fail(f"the document expands to more than {MAX_NODES:,} values (aliases included)", mark)
        if isinstance(parent.node, SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            if isinstance(node, ScalarNode):
                seen = (node.tag, node.value)
                if seen in parent.keys:
                    raise _fail(f"duplicate key '{node.value}' (first at line {parent.keys[seen]})", node.start_mark)
                parent.keys[seen] = node.start_mark.line + 1
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    while True:
        event = loader.get_event()
        assert event is not None  # None only after StreamEndEvent, which returns
        if isinstance(event, StreamStartEvent):
            continue
        if isinstance(event, StreamEndEvent):
            return root
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _fail("expected a single document in the file", event.start_mark)
            continue
        if isinstance(event, DocumentEndEvent):
            continue
        if isinstance(event, AliasEvent):
            name = event.anchor
            if name in open_anchors:
                raise _fail(f"recursive alias '*{name}': a value cannot contain itself", event.start_mark)
            if name not in anchors:
                raise _fail(f"found undefined alias '*{name}'", event.start_mark)
            node, size = anchors[name]
            attach(node, size, event.start_mark)
            continue
        if isinstance(event, ScalarEvent):
            node = ScalarNode(
                _tag(loader, ScalarNode, event),
                event.value,
                event.start_mark,  # type: ignore[arg-type]
                event.end_mark,  # type: ignore[arg-type]
                style=event.style,
            )  # libyaml's events carry its own Mark type; nodes take either
            if event.anchor is not None:
                anchors[event.anchor] = (node, 1)
            attach(node, 1, event.start_mark)
            continue
        if isinstance(event, CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _fail(f"values nested more than {MAX_DEPTH} levels deep", event.start_mark)
            collection: SequenceNode | MappingNode
            if isinstance(event, SequenceStartEvent):
                collection = SequenceNode(
                    _tag(loader, SequenceNode, event),
                    [],
                    event.start_mark,  # type: ignore[arg-type]
                    None,
                    flow_style=event.flow_style,
                )
            else:
                assert isinstance(event, MappingStartEvent)
                collection = MappingNode(
                    _tag(loader, MappingNode, event),
                    [],
                    event.start_mark,  # type: ignore[arg-type]
                    None,
                    flow_style=event.flow_style,
                )
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            stack.append(_Open(collection, event.anchor))
            continue
        if isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            done = stack.pop()
            done.node.end_mark = event.end_mark
            if done.anchor is not None:
                open_anchors.discard(done.anchor)
                anchors[done.anchor] = (done.node, done.size)
            attach(done.node, done.size, event.start_mark)
            continue
        raise _fail(f"unexpected YAML event {type(event).__name__}", event.start_mark)  # pragma: no cover


def load_node(text: str) -> tuple[Node | None, _Loader]:
    """Parse ``text`` into its checked root node (``None``: empty) and the loader to construct it with.

    Raises :class:`yaml.YAMLError` (marked where possible) for invalid or over-limit YAML.
    The caller disposes of the loader.
    """
    if len(text) > MAX_CHARS:
        raise yaml.YAMLError(f"the file is larger than {MAX_CHARS // (1024 * 1024)} MiB")
    loader = _Loader(text)
    try:
        return compose(loader), loader
    except BaseException:
        loader.dispose()
        raise


def construct(loader: _Loader, node: Node) -> Any:
    """Python data for a node :func:`compose` built."""
    return loader.construct_document(node)


def safe_load(text: str) -> Any:
    """Like ``yaml.safe_load`` within this module's limits (``None`` for an empty text)."""
    node, loader = load_node(text)
    try:
        return None if node is None else construct(loader, node)
    finally:
        loader.dispose()
