"""Read a YAML data file keeping the line of every key, to report errors where they are.

The policy and catalog are edited by hand. A validation error that says
``policies/routing.yaml:42: tasks.copywriting_standard.fallbacks[1]: unknown model 'gpt-5'``
lets a person go straight to the mistake; this module supplies the ``:42``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sparklio_desktop.core.errors import ConfigError, ConfigErrors

try:  # the C loader is several times faster; fall back where libyaml is missing
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader  # type: ignore[misc]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    """The parsed data, where it came from, and the 1-based line of each key path."""

    path: str
    data: Any
    lines: dict[Loc, int]

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest part of ``loc`` the file has (missing keys: their parent)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)

    def error(self, loc: Sequence[str | int], message: str) -> ConfigError:
        return ConfigError(self.path, self.line_of(loc), format_loc(loc), message)


def format_loc(loc: Iterable[str | int]) -> str:
    """``('tasks', 'chat', 'fallbacks', 1)`` -> ``tasks.chat.fallbacks[1]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            child = loc + (key,)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, loc + (index,), lines)


def load_yaml(path: str | Path, display_path: str | None = None) -> YamlDocument:
    """Parse ``path``; syntax errors become a ``ConfigError`` with the line."""
    shown = display_path or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(shown, None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, None, "", f"cannot read file: {exc}") from None
    return parse_yaml(text, shown)


def parse_yaml(text: str, display_path: str) -> YamlDocument:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(display_path, 1, "", "the file is empty")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(display_path, line, "", f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(display_path, None, "", f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    _walk(node, (), lines)
    return YamlDocument(display_path, data, lines)


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    loc = error.get("loc", ())
    given = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key '{loc[-1]}'" if loc else "unknown key"
    if kind == "missing":
        return "missing required field"
    message = str(error.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if isinstance(given, (str, int, float, bool)) and kind not in ("value_error",):
        return f"{message} (got {given!r})"
    return message


def validation_errors(doc: YamlDocument, exc: ValidationError, prefix: Loc = ()) -> ConfigErrors:
    """Turn pydantic's errors into file:line: field: message errors."""
    found: list[ConfigError] = []
    for error in exc.errors(include_url=False):
        # pydantic puts the discriminating type name into loc for unions; drop those.
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        full = prefix + loc
        found.append(doc.error(full, _describe(error)))
    return ConfigErrors(found)
