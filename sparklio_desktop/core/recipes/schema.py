"""A recipe: named inputs and ordered steps, read from a small hand-edited YAML file.

Why a schema with located errors: a recipe runs several paid steps in a row. A typo
found at step 3 would waste steps 1 and 2, so everything that can be checked without
sending anything is checked when the file loads, and reported as the policy reports its
problems (``file:line: field: message``, core/policy/yaml_source.py): unknown keys
(``extra="forbid"``), bad option values, duplicate ids, and every template placeholder
(an unknown input, an unknown step, a step that comes later or is unavailable). With the
policy's task names at hand, an unknown task is refused too.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sparklio_desktop.core.errors import ConfigError, ConfigErrors
from sparklio_desktop.core.policy.routing_policy import BudgetTier, Complexity, QualityTarget, SpeedClass
from sparklio_desktop.core.policy.yaml_source import Loc, YamlDocument, validation_errors
from sparklio_desktop.core.recipes.templates import TemplateError, parse_template

__all__ = ["InputKind", "Recipe", "RecipeInput", "RecipeStep", "parse_recipe"]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
InputKind = Literal["text", "file", "image"]

# What an input weighs in the estimate when no value is given (documented in docs/recipes.md).
DEFAULT_ASSUMED_TOKENS: dict[str, int] = {"text": 100, "file": 1000, "image": 0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecipeInput(_Strict):
    """One named input: text typed in, a text file read whole, or an image sent to a vision step."""

    name: Identifier
    kind: InputKind = "text"
    required: bool = True
    description: str = ""
    # Tokens the estimate assumes for this input before a value is given (default by kind).
    assumed_tokens: int | None = Field(default=None, ge=0, le=2_000_000)

    @property
    def estimate_tokens(self) -> int:
        return self.assumed_tokens if self.assumed_tokens is not None else DEFAULT_ASSUMED_TOKENS[self.kind]


class RecipeStep(_Strict):
    """One routed request. ``unavailable``: no provider offers it yet; it is planned and
    skipped with this reason (``reference_cost_usd``: what the seed expects it to cost,
    shown, never added to the total)."""

    id: Identifier
    title: str = ""
    task: str = Field(min_length=1, max_length=64)
    complexity: Complexity | None = None
    budget: BudgetTier | None = None
    speed: SpeedClass | None = None
    quality: QualityTarget | None = None
    prompt: str = Field(min_length=1, max_length=100_000)
    output_tokens: int | None = Field(default=None, ge=0, le=1_000_000)
    images: int | None = Field(default=None, ge=1, le=10)
    size: str | None = Field(default=None, pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
    unavailable: str | None = Field(default=None, min_length=1)
    reference_cost_usd: Decimal | None = Field(default=None, ge=0, le=1000)
    # A step may name a prompt template (step_templates.py writes out its prompt, task,
    # route options, system prompt and JSON schema before validation).
    template: Identifier | None = None
    system: str | None = Field(default=None, min_length=1, max_length=20_000)
    output_schema: dict[str, Any] | None = None


class Recipe(_Strict):
    name: Identifier
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    inputs: list[RecipeInput] = Field(default_factory=list, max_length=50)
    steps: list[RecipeStep] = Field(min_length=1, max_length=50)
    brand_voice: str | None = None  # a profile in brand_voices.yaml applied to every text step

    def input(self, name: str) -> RecipeInput:
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)

    def step(self, step_id: str) -> RecipeStep:
        for item in self.steps:
            if item.id == step_id:
                return item
        raise KeyError(step_id)


def _check(doc: YamlDocument, recipe: Recipe, tasks: Collection[str] | None) -> None:
    problems: list[ConfigError] = []
    seen_inputs: set[str] = set()
    for index, item in enumerate(recipe.inputs):
        if item.name in seen_inputs:
            problems.append(doc.error(("inputs", index, "name"), f"input '{item.name}' is declared twice"))
        if item.name == "steps":
            problems.append(doc.error(("inputs", index, "name"), "'steps' is reserved for {steps.<id>.output}"))
        seen_inputs.add(item.name)
    earlier: dict[str, RecipeStep] = {}
    later = {s.id for s in recipe.steps}
    for index, step in enumerate(recipe.steps):
        where: Loc = ("steps", index)
        if step.id in earlier:
            problems.append(doc.error((*where, "id"), f"step '{step.id}' is declared twice"))
        if tasks is not None and step.unavailable is None and step.task not in tasks:
            known = ", ".join(sorted(tasks))
            problems.append(doc.error((*where, "task"), f"unknown task '{step.task}' (the policy has: {known})"))
        # A templated step's placeholders come from its vars (step_templates.py): point there.
        text_field = "prompt" if step.template is None else "vars"
        try:
            placeholders = parse_template(step.prompt)
        except TemplateError as exc:
            problems.append(doc.error((*where, text_field), str(exc)))
            placeholders = []
        for ph in placeholders:
            if ph.input is not None and ph.input not in seen_inputs:
                problems.append(doc.error((*where, text_field), f"'{{{ph.text}}}': no input named '{ph.input}'"))
            elif ph.step is not None:
                if ph.step == step.id:
                    problems.append(
                        doc.error((*where, text_field), f"'{{{ph.text}}}': a step cannot use its own output")
                    )
                elif ph.step in earlier:
                    if earlier[ph.step].unavailable is not None:
                        problems.append(
                            doc.error((*where, text_field), f"'{{{ph.text}}}': step '{ph.step}' is unavailable")
                        )
                elif ph.step in later:
                    problems.append(
                        doc.error(
                            (*where, text_field), f"'{{{ph.text}}}': step '{ph.step}' runs later (forward reference)"
                        )
                    )
                else:
                    problems.append(doc.error((*where, text_field), f"'{{{ph.text}}}': no step '{ph.step}'"))
        earlier[step.id] = step
    if problems:
        raise ConfigErrors(problems)


def parse_recipe(doc: YamlDocument, tasks: Collection[str] | None = None) -> Recipe:
    """Validate one recipe document; raises ``ConfigErrors`` listing every located problem.

    ``tasks``: the policy's task names, to refuse unknown ones (``None``: not checked)."""
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.path, 1, "", "a recipe is a mapping (name, title, inputs, steps)")
    from sparklio_desktop.core.recipes.step_templates import resolve_step_templates

    data, problems = resolve_step_templates(doc, tasks)
    if problems:
        raise ConfigErrors(problems)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise validation_errors(doc, exc) from None
    _check(doc, recipe, tasks)
    return recipe
