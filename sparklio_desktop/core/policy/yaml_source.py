"""Read a YAML data file keeping the line of every key, to report errors where they are.

The policy and catalog are edited by hand. A validation error that says
``policies/routing.yaml:42: tasks.copywriting_standard.fallbacks[1]: unknown model 'gpt-5'``
lets a person go straight to the mistake; this module supplies the ``:42``.

Every YAML file the app reads comes through here, and through
:mod:`~sparklio_desktop.core.policy.safe_yaml`'s limits (size, nesting, alias expansion), so a
hostile or damaged file is one located error, never a hang or a traceback.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.reader import ReaderError

from sparklio_desktop.core.errors import ConfigError, ConfigErrors
from sparklio_desktop.core.policy import safe_yaml

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
    # Aliases are walked where they are used; safe_yaml bounds that expansion and the depth.
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping as a key: the constructor reports it
            child = loc + (key_node.value,)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, loc + (index,), lines)


def read_text(path: str | Path, shown: str) -> str:
    """A regular file's UTF-8 text, refusing anything over :data:`safe_yaml.MAX_CHARS` before reading it all."""
    try:
        # stat first: opening a FIFO would block, and /dev/zero never ends
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(shown, None, "", "not a regular file")
        with open(path, "rb") as handle:
            raw = handle.read(safe_yaml.MAX_CHARS + 1)
    except FileNotFoundError:
        raise ConfigError(shown, None, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(shown, None, "", f"cannot read file: {exc.strerror or exc}") from None
    if len(raw) > safe_yaml.MAX_CHARS:
        raise ConfigError(shown, None, "", f"the file is larger than {safe_yaml.MAX_CHARS // (1024 * 1024)} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(shown, line, "", "not UTF-8 text") from None


def load_yaml(path: str | Path, display_path: str | None = None, *, empty_ok: bool = False) -> YamlDocument:
    """Parse ``path``; every problem becomes a ``ConfigError`` with the line where known."""
    shown = display_path or str(path)
    return parse_yaml(read_text(path, shown), shown, empty_ok=empty_ok)


def parse_yaml(text: str, display_path: str, *, empty_ok: bool = False) -> YamlDocument:
    """Parse ``text`` within :mod:`safe_yaml`'s limits; any problem is a ``ConfigError`` with its line.

    A file with no document (empty, or only comments) is an error unless ``empty_ok``;
    then its data is ``None``.
    """
    try:
        node, loader = safe_yaml.load_node(text)
    except yaml.YAMLError as exc:
        raise _located(exc, text, display_path) from None
    try:
        if node is None:
            if empty_ok:
                return YamlDocument(display_path, None, {})
            raise ConfigError(display_path, 1, "", "the file is empty")
        data = safe_yaml.construct(loader, node)
    except yaml.YAMLError as exc:
        raise _located(exc, text, display_path) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    _walk(node, (), lines)
    return YamlDocument(display_path, data, lines)


def _located(exc: yaml.YAMLError, text: str, display_path: str) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        return ConfigError(display_path, line, "", f"invalid YAML: {problem}")
    if isinstance(exc, ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        what = f"character #x{exc.character:04x}" if isinstance(exc.character, int) else "byte"
        return ConfigError(display_path, line, "", f"invalid YAML: unacceptable {what}: {exc.reason}")
    return ConfigError(display_path, None, "", f"invalid YAML: {exc}")


def keep_last_good(path: Path, text: str) -> None:
    """Keep ``text`` (just validated) as the last good copy, atomically; best effort."""
    data = text.encode("utf-8")
    try:
        if path.is_file() and path.read_bytes() == data:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only data folder: the store still works, it just remembers nothing


def _describe(error: ErrorDetails) -> str:
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
