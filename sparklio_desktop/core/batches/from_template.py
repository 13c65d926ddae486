"""A batch built from a prompt template (``sparklio batch run FILE --template NAME``).

Why a batch freezes the template instead of naming it: a paused batch resumes days later,
and its remaining rows must be sent as its first rows were, whatever happened to the
template file since. So the template is turned, once, into what a batch stores anyway:
its prompt in the batch's brace syntax (each variable that is a column of the file becomes
``{column}``; a variable given with ``--var`` or left to its default becomes its text) and
three options (the template's name, its system prompt, and its JSON output) that
:func:`~sparklio_desktop.core.batches.runner.request_for` puts on every row's request.

A variable that is neither a column, nor given, nor defaulted is one located line before
anything is priced; so is a ``--var`` the template does not have.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sparklio_desktop.core.batches.records import BatchInputError
from sparklio_desktop.core.recipes.templates import render
from sparklio_desktop.core.structured_output import JsonOutput
from sparklio_desktop.core.templates.render import unknown_variables
from sparklio_desktop.core.templates.schema import PromptTemplate

__all__ = ["batch_prompt_from_template", "json_output_option", "json_output_from_option"]

_SLOT = "\x00sparklio-column:{}\x00"  # cannot occur in a template or a value (YAML and --var refuse NUL)


def batch_prompt_from_template(
    template: PromptTemplate, columns: Collection[str], given: Mapping[str, str], source: str
) -> tuple[str, dict[str, Any]]:
    """The batch's prompt template and the options that carry the rest of ``template``.

    ``given`` (``--var``) wins over a column of the same name: a constant the user typed
    is meant for every row. ``source`` names the input file in errors."""
    for name, message in unknown_variables(template, given).items():
        raise BatchInputError(f"--var {name}: {message}")
    names = template.variable_names()
    filled: dict[str, str] = {}
    for name in names:
        if name in given:
            filled[name] = given[name]
        elif name in columns:
            filled[name] = _SLOT.format(name)
        else:
            default = template.variable(name).default
            if default is None:
                shown = ", ".join(columns) or "none"
                raise BatchInputError(
                    f"template '{template.name}' needs '{name}': it is not a column of {source} (columns: {shown}); "
                    f"add the column or give --var {name}=VALUE"
                )
            filled[name] = default
    text = render(template.prompt, filled, {})
    # Everything but the column slots is literal text for the batch's brace syntax.
    text = text.replace("{", "{{").replace("}", "}}")
    for name in names:
        text = text.replace(_SLOT.format(name), "{" + name + "}")
    options: dict[str, Any] = {"template_name": template.name}
    if template.system:
        options["system_prompt"] = template.system
    json_output = template.json_output
    if json_output is not None:
        options["json_output"] = json_output_option(json_output)
    return text, options


def json_output_option(json_output: JsonOutput) -> dict[str, Any]:
    """``json_output`` as the batch stores it in its options (JSON)."""
    return {"name": json_output.name, "schema": dict(json_output.schema), "description": json_output.description}


def json_output_from_option(value: Any) -> JsonOutput | None:
    """The stored option back as a :class:`JsonOutput` (None when absent or not readable)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("schema"), Mapping):
        return None
    return JsonOutput(str(value.get("name") or "answer"), value["schema"], str(value.get("description") or ""))
