"""A recipe's plan: each step routed by the session's planner, with its tokens and cost.

Why before running: a recipe is several paid calls; the creator sees every step's model,
tokens and price, the total, and the total at the other budget tiers and speeds, before
anything is sent. The plan routes each step with the same :class:`RoutePlanner` the run
will use, so the preview and the run agree (one owner of the live state).

Token assumptions (docs/recipes.md, "How a plan counts tokens"), per step:

- input = the template's own words (counted offline, core/tokens.py) + the brand voice's
  paragraph on text steps + each referenced input (the given text or file counted; not
  given: the input's ``assumed_tokens``) + for each earlier output it uses, that step's
  expected output;
- output = the step's ``output_tokens``, else the policy task's ``expected_output_tokens``;
  an image step's output is its files' paths (:data:`IMAGE_PATH_TOKENS` each), an
  embedding step's a one-line summary (:data:`SUMMARY_TOKENS`);
- images = the step's ``images`` (generation) or the image inputs it attaches (vision).

Steps are planned without the A/B exploration draw (``explore=False``), and run so too,
so a run takes the model its plan showed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sparklio_desktop.core import tokens
from sparklio_desktop.core.money import json_usd
from sparklio_desktop.core.policy.catalog import Capability
from sparklio_desktop.core.recipes.inputs import InputValue
from sparklio_desktop.core.recipes.schema import Recipe, RecipeStep
from sparklio_desktop.core.recipes.templates import literal_text, parse_template, render
from sparklio_desktop.core.routing.router import RouteRequest

if TYPE_CHECKING:
    from sparklio_desktop.core.policy.routing_policy import Policy
    from sparklio_desktop.core.recipes.brand_voice import BrandVoice
    from sparklio_desktop.core.routing.decision import RoutingDecision

__all__ = [
    "BUDGETS",
    "SPEEDS",
    "RecipePlan",
    "RouteOverrides",
    "StepPlan",
    "Voice",
    "plan_recipe",
    "step_prompt",
]

IMAGE_PATH_TOKENS = 15  # an image step's output, as a later step reads it: one path per image
SUMMARY_TOKENS = 20  # an embedding step's output: "N vectors of D dimensions"
BUDGETS = ("low", "standard", "premium")
SPEEDS = ("realtime", "standard", "batch")


class Planner(Protocol):
    async def aplan(self, request: RouteRequest) -> RoutingDecision: ...


@dataclass(frozen=True)
class Voice:
    """A brand voice profile and its name, applied to every text step."""

    name: str
    profile: BrandVoice

    @property
    def preamble(self) -> str:
        return self.profile.preamble(self.name)


@dataclass(frozen=True)
class RouteOverrides:
    """Route options given for the whole run (``--budget`` …): they win over each step's."""

    budget: str | None = None
    speed: str | None = None
    quality: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"budget": self.budget, "speed": self.speed, "quality": self.quality}


def capability(policy: Policy, step: RecipeStep) -> str | None:
    if step.unavailable is not None or step.task not in policy.tasks:
        return None
    return policy.tasks[step.task].capability.value


def takes_voice(policy: Policy, step: RecipeStep) -> bool:
    """A brand voice shapes words: text and vision steps, not images or embeddings."""
    return capability(policy, step) in (Capability.TEXT.value, Capability.VISION.value)


def expected_output_tokens(policy: Policy, step: RecipeStep) -> int:
    if step.output_tokens is not None:
        return step.output_tokens
    if step.task in policy.tasks:
        return policy.tasks[step.task].expected_output_tokens
    return 0


def output_tokens_as_read(policy: Policy, step: RecipeStep) -> int:
    """What a later step reads of ``step``'s output, in tokens (the plan's assumption)."""
    kind = capability(policy, step)
    if kind == Capability.IMAGE_GENERATION.value:
        return IMAGE_PATH_TOKENS * (step.images or 1)
    if kind == Capability.EMBEDDING.value:
        return SUMMARY_TOKENS
    return expected_output_tokens(policy, step)


def attached_images(step: RecipeStep, inputs: Mapping[str, InputValue], recipe: Recipe) -> list[str]:
    """The image inputs ``step``'s template names, in order, once each."""
    names: list[str] = []
    for ph in parse_template(step.prompt):
        if ph.input is not None and recipe.input(ph.input).kind == "image" and ph.input not in names:
            names.append(ph.input)
    return names


def step_prompt(
    recipe: Recipe,
    step: RecipeStep,
    policy: Policy,
    inputs: Mapping[str, InputValue],
    outputs: Mapping[str, str],
    voice: Voice | None,
) -> str:
    """The prompt ``step`` sends: its template with the inputs and earlier outputs put in,
    after the brand voice's paragraph on a text step. An optional input not given is empty."""
    values = {i.name: (inputs[i.name].prompt_text if i.name in inputs else "") for i in recipe.inputs}
    text = render(step.prompt, values, outputs)
    if voice is not None and takes_voice(policy, step):
        text = voice.preamble + text
    return text


def step_input_tokens(
    recipe: Recipe, step: RecipeStep, policy: Policy, inputs: Mapping[str, InputValue], voice: Voice | None
) -> int:
    """The input the plan assumes for ``step`` (module docstring)."""
    total = tokens.count_text(literal_text(step.prompt))[0]
    if voice is not None and takes_voice(policy, step):
        total += tokens.count_text(voice.preamble)[0]
    for ph in parse_template(step.prompt):
        if ph.input is not None:
            spec = recipe.input(ph.input)
            given = inputs.get(ph.input)
            if spec.kind == "image":
                continue  # counted as an attached image
            total += tokens.count_text(given.text)[0] if given is not None else spec.estimate_tokens
        elif ph.step is not None:
            total += output_tokens_as_read(policy, recipe.step(ph.step))
    return total


def route_request(
    recipe: Recipe,
    step: RecipeStep,
    policy: Policy,
    overrides: RouteOverrides,
    *,
    prompt: str | None = None,
    input_tokens: int | None = None,
    attachments: tuple[Any, ...] = (),
    attached: int = 0,
) -> RouteRequest:
    """The one route request for ``step`` (plan: ``input_tokens``; run: ``prompt``)."""
    kind = capability(policy, step)
    generates = kind == Capability.IMAGE_GENERATION.value
    images = (step.images or 1) if generates else (attached or None)
    return RouteRequest(
        task=step.task,
        complexity=step.complexity,
        budget=overrides.budget or step.budget,
        speed=overrides.speed or step.speed,
        quality=overrides.quality or step.quality,
        prompt=prompt,
        input_tokens=input_tokens,
        output_tokens=None if generates else expected_output_tokens(policy, step),
        images=images,
        image_size=step.size if generates else None,
        attachments=attachments,
        explore=False,
        system_prompt=step.system,  # a step from a template: its system prompt instead of the task's
    )


@dataclass(frozen=True)
class StepPlan:
    id: str
    title: str
    task: str
    model: str | None
    chain: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    images: int
    cost_usd: Decimal | None
    skipped: str | None = None  # why the step will not run (unavailable)
    reference_cost_usd: Decimal | None = None
    no_fit: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "task": self.task,
            "model": self.model,
            "chain": list(self.chain),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "images": self.images,
            "cost_usd": json_usd(self.cost_usd),
            "skipped": self.skipped,
            "reference_cost_usd": json_usd(self.reference_cost_usd),
            "no_fit_reasons": list(self.no_fit),
        }


@dataclass(frozen=True)
class RecipePlan:
    recipe: str
    options: RouteOverrides
    steps: tuple[StepPlan, ...]
    alternatives: dict[str, dict[str, Decimal | None]] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return all(s.model is not None for s in self.steps if s.skipped is None)

    @property
    def total_usd(self) -> Decimal | None:
        """The sum of the steps that run; ``None`` when a step fits no model."""
        if not self.fits:
            return None
        return sum((s.cost_usd or Decimal(0) for s in self.steps if s.skipped is None), Decimal(0))

    @property
    def unavailable_usd(self) -> Decimal:
        """What the skipped steps would cost by their reference figures (not in the total)."""
        return sum((s.reference_cost_usd or Decimal(0) for s in self.steps if s.skipped), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "options": self.options.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "total_usd": json_usd(self.total_usd),
            "unavailable_usd": json_usd(self.unavailable_usd),
            "alternatives": {
                axis: {value: json_usd(total) for value, total in totals.items()}
                for axis, totals in self.alternatives.items()
            },
        }


async def _plan_steps(
    recipe: Recipe,
    planner: Planner,
    policy: Policy,
    inputs: Mapping[str, InputValue],
    voice: Voice | None,
    overrides: RouteOverrides,
) -> tuple[StepPlan, ...]:
    planned: list[StepPlan] = []
    for step in recipe.steps:
        if step.unavailable is not None:
            planned.append(
                StepPlan(
                    step.id, step.title, step.task, None, (), 0, 0, step.images or 0, None,
                    skipped=step.unavailable, reference_cost_usd=step.reference_cost_usd,
                )
            )  # fmt: skip
            continue
        attached = len(attached_images(step, inputs, recipe))
        request = route_request(
            recipe,
            step,
            policy,
            overrides,
            input_tokens=step_input_tokens(recipe, step, policy, inputs, voice),
            attached=attached,
        )
        decision = await planner.aplan(request)
        estimate = decision.estimate
        planned.append(
            StepPlan(
                step.id,
                step.title,
                step.task,
                decision.chain[0] if decision.chain else None,
                decision.chain,
                estimate.input_tokens,
                estimate.output_tokens,
                estimate.images,
                estimate.cost_usd if decision.chain else None,
                no_fit=decision.no_fit_reasons,
            )
        )
    return tuple(planned)


async def plan_recipe(
    recipe: Recipe,
    planner: Planner,
    policy: Policy,
    inputs: Mapping[str, InputValue] | None = None,
    voice: Voice | None = None,
    overrides: RouteOverrides | None = None,
    *,
    alternatives: bool = True,
) -> RecipePlan:
    """Route every step (nothing is sent); with ``alternatives``, the total at each budget
    tier and each speed as well (the other options as given)."""
    inputs = inputs or {}
    overrides = overrides or RouteOverrides()
    steps = await _plan_steps(recipe, planner, policy, inputs, voice, overrides)
    other: dict[str, dict[str, Decimal | None]] = {}
    if alternatives:
        for axis, values in (("budget", BUDGETS), ("speed", SPEEDS)):
            other[axis] = {}
            for value in values:
                changed = RouteOverrides(**{**overrides.to_dict(), axis: value})
                alt_steps = await _plan_steps(recipe, planner, policy, inputs, voice, changed)
                alt = RecipePlan(recipe.name, changed, alt_steps)
                other[axis][value] = alt.total_usd
    return RecipePlan(recipe.name, overrides, steps, other)
