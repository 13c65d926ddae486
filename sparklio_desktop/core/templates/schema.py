"""A prompt template: a small YAML file with a concise system prompt and a user prompt
with named variables, default route options and an optional output format.

Why a schema with located errors: templates are written by hand, like the policy and the
recipes, so every problem is reported where it is (``file:line: field: message``,
core/policy/yaml_source.py) and a broken user file is skipped, never a traceback.

The placeholders are the recipes' own (core/recipes/templates.py): ``{name}``, ``{{`` and
``}}`` for literal braces, a lone brace an error. One templating syntax serves recipes,
batches and templates; ``{steps.<id>.output}`` belongs to recipes and is refused here.
The system prompt is literal text (no placeholders): it is the part kept short and
stable, so that providers' prompt caches can reuse it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sparklio_desktop.core.errors import ConfigError, ConfigErrors
from sparklio_desktop.core.policy.routing_policy import BudgetTier, Complexity, QualityTarget, SpeedClass
from sparklio_desktop.core.policy.yaml_source import YamlDocument, validation_errors
from sparklio_desktop.core.recipes.templates import TemplateError, parse_template
from sparklio_desktop.core.structured_output import JsonOutput, schema_problem

__all__ = [
    "OutputFormat",
    "PromptTemplate",
    "TemplateOutput",
    "TemplateRoute",
    "TemplateVariable",
    "parse_template_doc",
]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
OutputFormat = Literal["plain", "markdown", "json"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemplateVariable(_Strict):
    """What a variable is for (shown in ``templates show`` and the picker), and its default."""

    description: str = Field(default="", max_length=500)
    default: str | None = Field(default=None, max_length=20_000)


class TemplateRoute(_Strict):
    """Route options the template suggests; the user's own options win over them."""

    complexity: Complexity | None = None
    budget: BudgetTier | None = None
    speed: SpeedClass | None = None
    quality: QualityTarget | None = None


class TemplateOutput(_Strict):
    """``json`` asks each provider's structured-output mode for an object following ``schema``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    format: OutputFormat = "plain"
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class PromptTemplate(_Strict):
    name: Identifier
    task: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=500)
    system: str = Field(default="", max_length=4_000)
    prompt: str = Field(min_length=1, max_length=100_000)
    variables: dict[Identifier, TemplateVariable] = Field(default_factory=dict, max_length=50)
    route: TemplateRoute = TemplateRoute()
    output: TemplateOutput = TemplateOutput()

    def variable_names(self) -> list[str]:
        """The prompt's variables, in the order they first appear."""
        seen: dict[str, None] = {}
        for ph in parse_template(self.prompt):
            if ph.input is not None:
                seen.setdefault(ph.input, None)
        return list(seen)

    def variable(self, name: str) -> TemplateVariable:
        return self.variables.get(name, TemplateVariable())

    @property
    def json_output(self) -> JsonOutput | None:
        """What the dispatcher asks the providers for, when the template wants JSON."""
        if self.output.format != "json" or self.output.json_schema is None:
            return None
        return JsonOutput(self.name, self.output.json_schema, self.description)


def _check(doc: YamlDocument, template: PromptTemplate, tasks: Collection[str] | None) -> None:
    problems: list[ConfigError] = []
    if tasks is not None and template.task not in tasks:
        known = ", ".join(sorted(tasks))
        problems.append(doc.error(("task",), f"unknown task '{template.task}' (the policy has: {known})"))
    used: set[str] | None = set()
    try:
        for ph in parse_template(template.prompt):
            if ph.step is not None:
                problems.append(doc.error(("prompt",), f"'{{{ph.text}}}': steps belong to recipes, not templates"))
            elif ph.input is not None and used is not None:
                used.add(ph.input)
    except TemplateError as exc:
        problems.append(doc.error(("prompt",), str(exc)))
        used = None  # the prompt cannot be read: which variables it uses is unknown
    for name in template.variables:
        if used is not None and name not in used:
            problems.append(doc.error(("variables", name), f"'{name}' is not used in the prompt (write {{{name}}})"))
    output = template.output
    if output.format == "json":
        if output.json_schema is None:
            problems.append(doc.error(("output", "format"), "format 'json' needs a 'schema' (a JSON Schema)"))
        else:
            why = schema_problem(output.json_schema)
            if why is not None:
                problems.append(doc.error(("output", "schema"), why))
    elif output.json_schema is not None:
        problems.append(doc.error(("output", "schema"), f"a schema needs format 'json' (not '{output.format}')"))
    if problems:
        raise ConfigErrors(problems)


def parse_template_doc(doc: YamlDocument, tasks: Collection[str] | None = None) -> PromptTemplate:
    """Validate one template document; ``ConfigErrors`` lists every located problem.

    ``tasks``: the policy's task names, to refuse an unknown one (``None``: not checked)."""
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.path, 1, "", "a template is a mapping (name, task, system, prompt)")
    try:
        template = PromptTemplate.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_errors(doc, exc) from None
    _check(doc, template, tasks)
    return template
