"""Filling a template's variables: the values the user gave, the defaults, and nothing else.

Why not ``str.format``: a value is the user's data (a product description, a text to
translate) and may hold braces; ``format`` would read ``{0.__class__}`` in a *template*
as attribute access, and a value is never re-read as a template here. The recipes'
renderer (core/recipes/templates.py) replaces each placeholder once, with the value as
it is, so ``{evil}`` in a value stays ``{evil}`` in the prompt.

A missing or unknown variable is one line naming it and the template, before anything
is routed or paid for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sparklio_desktop.core import tokens
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.recipes.templates import render as _render
from sparklio_desktop.core.structured_output import JsonOutput
from sparklio_desktop.core.templates.schema import PromptTemplate

__all__ = ["RenderedPrompt", "TemplateVariableError", "render_template", "system_tokens", "unknown_variables"]


class TemplateVariableError(SparklioError):
    """A variable the template needs and was not given, or one it does not have."""


@dataclass(frozen=True)
class RenderedPrompt:
    """What a template turns into for one request: the system prompt (replacing the task's),
    the user prompt with its variables filled, and the JSON the answer must be (if any)."""

    template: str
    task: str
    system: str
    prompt: str
    json_output: JsonOutput | None


def unknown_variables(template: PromptTemplate, given: Iterable[str]) -> dict[str, str]:
    """Each name in ``given`` that ``template`` has no variable for, with the one line that
    says so (``run --var``, ``batch run --var`` and a recipe step's ``vars`` word it alike)."""
    names = template.variable_names()
    known = ", ".join(names) or "none"
    return {
        name: f"template '{template.name}' has no variable '{name}' (its variables: {known})"
        for name in given
        if name not in names
    }


def render_template(template: PromptTemplate, values: Mapping[str, str]) -> RenderedPrompt:
    """``template`` filled with ``values`` (then each variable's default)."""
    names = template.variable_names()
    for message in unknown_variables(template, values).values():
        raise TemplateVariableError(message)
    filled: dict[str, str] = {}
    for name in names:
        value = values.get(name)
        if value is None:
            value = template.variable(name).default
        if value is None:
            raise TemplateVariableError(
                f"template '{template.name}' needs the variable '{name}' (give --var {name}=VALUE)"
            )
        filled[name] = value
    prompt = _render(template.prompt, filled, {})
    return RenderedPrompt(template.name, template.task, template.system, prompt, template.json_output)


def system_tokens(template: PromptTemplate) -> int:
    """The system prompt's size in tokens (core/tokens.py: cl100k, or its estimate offline)."""
    return tokens.count_text(template.system)[0] if template.system else 0
