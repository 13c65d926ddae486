"""Prompt templates of recipe steps: ``{input_name}`` and ``{steps.<id>.output}``.

Why a parser of our own rather than ``str.format``: ``format`` accepts attribute and
index syntax (``{0.__class__}``) and raises ``KeyError`` at run time, after earlier
steps were paid for. A recipe's templates are checked when the file loads instead:
every placeholder must name a declared input or an *earlier* step, so a typo or a
forward reference is a located error, never a failed run. ``{{`` and ``}}`` write a
literal brace; a lone brace is an error (it is nearly always a typo).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Placeholder", "TemplateError", "literal_text", "parse_template", "render", "steps_used"]

_TOKEN_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STEP_RE = re.compile(r"steps\.([A-Za-z_][A-Za-z0-9_]*)\.output")


class TemplateError(ValueError):
    """A template that cannot be read: a lone brace or a placeholder of unknown shape."""


@dataclass(frozen=True)
class Placeholder:
    """One ``{...}``: an input's name, or the id of the step whose output goes there."""

    text: str  # as written, without braces
    input: str | None = None
    step: str | None = None


def parse_template(template: str) -> list[Placeholder]:
    """The placeholders of ``template``, in order; raises :class:`TemplateError`."""
    found: list[Placeholder] = []
    for match in _TOKEN_RE.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if token in ("{", "}"):
            raise TemplateError(f"a lone '{token}' at character {match.start() + 1} (write '{token * 2}' for a brace)")
        inner = match.group(1).strip()
        step = _STEP_RE.fullmatch(inner)
        if step is not None:
            found.append(Placeholder(inner, step=step.group(1)))
        elif _NAME_RE.fullmatch(inner):
            found.append(Placeholder(inner, input=inner))
        else:
            raise TemplateError(f"'{{{inner}}}' is not an input name or steps.<id>.output")
    return found


def steps_used(template: str) -> frozenset[str]:
    """The ids of the steps whose outputs ``template`` reads: what a step waits for."""
    return frozenset(ph.step for ph in parse_template(template) if ph.step is not None)


def render(template: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> str:
    """``template`` with each placeholder replaced (inputs by name, step outputs by id).

    Assumes the template was checked when its recipe loaded; a value missing here is a
    programming error (``KeyError``)."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        inner = (match.group(1) or "").strip()
        step = _STEP_RE.fullmatch(inner)
        return outputs[step.group(1)] if step is not None else inputs[inner]

    return _TOKEN_RE.sub(replace, template)


def literal_text(template: str) -> str:
    """The template's own words: the placeholders removed (what its token count is of)."""
    return render(template, _Empty(), _Empty())


class _Empty(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""
