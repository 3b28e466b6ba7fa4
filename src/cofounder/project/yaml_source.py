"""Parse a project file's text into plain data, reporting syntax errors with line and column.

A stricter YAML dialect than `yaml.safe_load`: dates stay text (a founder's `launch: 2025-03-01`
is part of the brief, not a datetime that JSON can't hold) and duplicate keys are an error
instead of silently keeping the last one. It is also bounded: nesting is capped while the
document is composed (PyYAML recurses per level), the alias-expanded size is checked before
anything is constructed (an alias bomb never expands), and over-long integer literals are kept
as `OversizeNumber` for the bounds check to report by field.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cofounder.project.bounds import (
    MAX_DEPTH,
    MAX_INT_LITERAL_CHARS,
    MAX_TEXT_CHARS,
    MAX_VALUES,
    OversizeNumber,
    nested_too_deep,
    too_much_data,
)
from cofounder.project.problems import data_path

_SURROGATE = re.compile("[\ud800-\udfff]")


class SourceError(Exception):
    """The text is not valid YAML/JSON; the message says where, `field` which top-level key."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._top_key = ""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if parent is not None and self._depth == 1 and isinstance(index, ScalarNode):
            self._top_key = data_path((index.value,))
        if not self.check_event(MappingStartEvent, SequenceStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise SourceError(
                f"{nested_too_deep()} (at line {mark.line + 1}, column {mark.column + 1})",
                field=self._top_key,
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # An explicit tag on a value it cannot hold (`!!int abc`, `!!timestamp x`) makes
        # PyYAML's constructors raise plain Python errors; they are syntax problems here.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise ConstructorError(
                None, None, f"cannot read this {node.tag} value: {exc}", node.start_mark
            ) from None

    def construct_scalar(self, node: ScalarNode | MappingNode) -> Any:
        # YAML's "\uXXXX" escapes are 16-bit: an emoji written as JSON writes it ("\ud83d\ude00")
        # arrives as two surrogates. Join such pairs; a lone one stays for the bounds check.
        value = super().construct_scalar(node)
        if isinstance(value, str) and _SURROGATE.search(value):
            try:
                return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
            except UnicodeDecodeError:
                return value
        return value

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        text = self.construct_scalar(node)
        if isinstance(text, str) and len(text) > MAX_INT_LITERAL_CHARS:
            return OversizeNumber(text)
        return super().construct_yaml_int(node)


# Drop the implicit timestamp resolver so unquoted dates load as strings.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _StrictLoader, node: Node) -> dict[Any, Any]:
    if not isinstance(node, MappingNode):
        raise ConstructorError(None, None, "expected a mapping", node.start_mark)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable key; the base constructor reports it
            continue
        if duplicate:
            raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def parse_yaml(text: str) -> Any:
    try:
        loader = _StrictLoader(text)  # a SafeLoader subclass; checks the characters first
    except yaml.YAMLError as exc:
        raise SourceError(f"not valid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise SourceError(_describe_yaml_error(exc)) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise SourceError(nested_too_deep()) from None


def _json_int(text: str) -> int | OversizeNumber:
    return OversizeNumber(text) if len(text) > MAX_INT_LITERAL_CHARS else int(text)


def _check_expansion(root: Node) -> None:
    """Refuse a document whose aliases expand past the caps, before it is constructed.

    Sizes are memoised per node, so a shared node costs one visit however often it is used,
    and recursion follows composed (hence depth-capped) nesting only. PyYAML lets an anchored
    collection contain its own alias; such a cycle is refused here too.
    """
    sizes: dict[int, tuple[int, int]] = {}
    pending: set[int] = set()
    pairs = root.value if isinstance(root, MappingNode) else [(None, root)]
    values, chars = 1, 0
    for key, value in pairs:
        field = data_path((key.value,)) if isinstance(key, ScalarNode) else ""
        for node in (key, value):
            if node is None:
                continue
            more_values, more_chars = _expanded(node, sizes, pending, field)
            values += more_values
            chars += more_chars
            if values > MAX_VALUES or chars > MAX_TEXT_CHARS:
                raise SourceError(too_much_data(), field=field)


def _expanded(
    node: Node, sizes: dict[int, tuple[int, int]], pending: set[int], field: str
) -> tuple[int, int]:
    """(values, characters) of `node` with every alias expanded; stops counting past the caps."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if id(node) in pending:
        mark = node.start_mark
        raise SourceError(
            f"a YAML alias refers to a collection that contains it (line {mark.line + 1})",
            field=field,
        )
    if isinstance(node, ScalarNode):
        result = (1, len(node.value))
    else:
        pending.add(id(node))
        values, chars = 1, 0
        children = node.value if isinstance(node, SequenceNode) else _flatten_pairs(node)
        for child in children:
            more_values, more_chars = _expanded(child, sizes, pending, field)
            values += more_values
            chars += more_chars
            if values > MAX_VALUES or chars > MAX_TEXT_CHARS:
                break
        pending.discard(id(node))
        result = (values, chars)
    sizes[id(node)] = result
    return result


def _flatten_pairs(node: Node) -> list[Node]:
    return [part for pair in node.value for part in pair]


def _describe_yaml_error(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = exc.problem or exc.context or "invalid YAML"
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    return f"invalid YAML{where}: {what}{context}"
