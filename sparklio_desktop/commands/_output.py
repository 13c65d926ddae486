r"""Printing for commands: JSON that keeps money exact, aligned text tables, safe names.

Names the CLI prints come from files and servers it does not control: a user catalog
entry, an Ollama model, a checkpoint's file name, a task or key typed on the command
line. A name holding ``ESC [ 2 J`` or a right-to-left override would clear or rearrange
the user's terminal. :func:`safe_text` is the one place such characters are made
visible (``\x1b``, ``\u202e``); :func:`table` applies it to every cell, and commands
apply it to any other name they print. JSON output keeps every value exact: control
characters are written as ``\uXXXX`` escapes, which decode to the same string.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Money stays an exact decimal string in JSON, never a float.
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional
# embedding/override/isolate marks (the "Trojan Source" characters).
_OTHER_UNSAFE = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_RE = re.compile(r"[\x00-\x1f" + _OTHER_UNSAFE + "]")
_UNSAFE_KEEP_LINES_RE = re.compile(r"[\x00-\x08\x0b-\x1f" + _OTHER_UNSAFE + "]")  # keeps \t and \n
_JSON_UNSAFE_RE = re.compile("[" + _OTHER_UNSAFE + "]")  # json.dumps escapes \x00-\x1f itself


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with control and bidi characters shown as escapes, for a terminal.

    ``keep_newlines`` keeps newlines and tabs (multi-line messages); names never need them.
    """
    value = str(text)
    pattern = _UNSAFE_KEEP_LINES_RE if keep_newlines else _UNSAFE_RE
    return pattern.sub(_escape, value)


def answer_text(text: str, stream: Any = None) -> str:
    """A model's answer as written to ``stream`` (default standard output).

    The answer is the user's content: to a pipe or a file it goes byte for byte. On a
    terminal, control characters other than newlines and tabs are shown as escapes, so
    an answer (or a prompt injection inside it) cannot drive the terminal.
    """
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return safe_text(text, keep_newlines=True) if isatty is not None and isatty() else text


def dumps(payload: Any) -> str:
    text = json.dumps(payload, default=_default, indent=2, ensure_ascii=False)
    # json escapes C0 controls itself; the rest can only occur inside strings, where a
    # \uXXXX escape is the same value, so the document decodes exactly as before.
    return _JSON_UNSAFE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(payload: Any) -> None:
    sys.stdout.write(dumps(payload) + "\n")


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[safe_text(h) for h in headers]] + [["" if c is None else safe_text(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def warn_fallbacks(workspace: Any, *, policy: bool = True) -> None:
    """Say on standard error which of the user's files is broken and what is in force instead.

    A broken user catalog or policy never stops a command (the workspace keeps the last
    good copy in force); each command that reads them prints this, so the creator learns
    why their edit has no effect. ``policy=False`` for commands that never read the policy.
    """
    notes = [(workspace.catalog_error, "using the last good catalog until that file is fixed")]
    if policy:
        notes.append((workspace.policy_error, "using the last valid policy until that file is fixed"))
    for error, fallback in notes:
        if error is not None:  # one line per problem, as cli.py warns of broken settings
            for line in [*str(error).splitlines(), fallback]:
                print(f"sparklio: warning: {safe_text(line)}", file=sys.stderr)
