"""A recipe step that names a prompt template (``template: hashtag_set`` with ``vars:``).

Why resolved when the file loads: a recipe is checked whole before anything is paid for
(schema.py), and a step's prompt is what the checks, the plan and the run read. So a
step that names a template gets, before validation, what it would have had written out:

- ``prompt``: the template's prompt with each variable filled from ``vars`` (whose text
  is recipe syntax: ``{topic}``, ``{steps.outline.output}``), else its default. The
  template's own literal text is escaped for the recipe syntax, so a brace in a template
  or a default is sent as a brace, never read as a placeholder;
- ``task`` and the route options (complexity, budget, speed, quality) where the step
  gives none;
- ``system`` (the template's system prompt, instead of the task's) and ``output_schema``
  (a JSON template's schema: the step's answer is asked for, and checked, as JSON).

Every mistake (no such template, ``prompt`` beside ``template``, a variable the template
does not have, a required one not given) is a located error like the rest of the file.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sparklio_desktop.core.errors import ConfigError, UnknownNameError
from sparklio_desktop.core.policy.yaml_source import YamlDocument

__all__ = ["resolve_step_templates"]

_SLOT = "\x00sparklio-var:{}\x00"  # cannot occur in YAML text
_ROUTE_OPTIONS = ("complexity", "budget", "speed", "quality")


def resolve_step_templates(doc: YamlDocument, tasks: Collection[str] | None) -> tuple[Any, list[ConfigError]]:
    """``doc.data`` with every templated step written out, and the problems found."""
    data = doc.data
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list) or not any(isinstance(s, dict) and "template" in s for s in steps):
        return data, []
    problems: list[ConfigError] = []
    resolved: list[Any] = []
    for index, step in enumerate(steps):
        if isinstance(step, dict) and "template" in step:
            step, found = _resolve(doc, index, step, tasks)
            problems.extend(found)
        resolved.append(step)
    return {**data, "steps": resolved}, problems


def _resolve(
    doc: YamlDocument, index: int, step: dict[str, Any], tasks: Collection[str] | None
) -> tuple[dict[str, Any], list[ConfigError]]:
    from sparklio_desktop.core.recipes.templates import render
    from sparklio_desktop.core.templates import find_template
    from sparklio_desktop.core.templates.render import unknown_variables

    where = ("steps", index)
    name = step["template"]
    if not isinstance(name, str) or not name:
        return step, [doc.error((*where, "template"), "a template's name (see `sparklio templates list`)")]
    if "prompt" in step:
        return step, [doc.error((*where, "prompt"), "give 'prompt' or 'template', not both")]
    given = step.get("vars", {})
    if not isinstance(given, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in given.items()):
        return step, [doc.error((*where, "vars"), "a mapping of the template's variables to text")]
    try:
        loaded, _skipped = find_template(name, tasks)
    except (UnknownNameError, ConfigError) as exc:
        return step, [doc.error((*where, "template"), str(exc))]
    template = loaded.template
    names = template.variable_names()
    problems = [
        doc.error((*where, "vars", key), message) for key, message in unknown_variables(template, given).items()
    ]
    filled: dict[str, str] = {}
    for var in names:
        if var in given:
            filled[var] = _SLOT.format(var)
        elif template.variable(var).default is not None:
            filled[var] = str(template.variable(var).default)
        else:
            problems.append(doc.error((*where, "vars"), f"template '{name}' needs the variable '{var}'"))
            filled[var] = ""
    if problems:
        return step, problems
    text = render(template.prompt, filled, {}).replace("{", "{{").replace("}", "}}")
    for var in names:
        if var in given:
            text = text.replace(_SLOT.format(var), given[var])  # recipe syntax: placeholders stay live
    out = {key: value for key, value in step.items() if key != "vars"}
    out["prompt"] = text
    out.setdefault("task", template.task)
    for option in _ROUTE_OPTIONS:
        value = getattr(template.route, option)
        if value is not None and option not in out:
            out[option] = value.value
    if template.system:
        out["system"] = template.system
    if template.json_output is not None:
        out["output_schema"] = dict(template.json_output.schema)
    return out, []
