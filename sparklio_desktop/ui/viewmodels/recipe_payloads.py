"""What the Recipes page's view-model emits: the recipe list, a recipe's inputs, its plan
and a run's per-step progress, as frozen values (the view never sees a core object).

Why a module of its own and not payloads.py: the Recipes page is one feature with its
own vocabulary; keeping its payloads together keeps payloads.py from growing a section
per page (as conversation_payloads.py did for the conversations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class RecipeEntry:
    """One recipe in the list: ``shipped`` (resources) or the user's own (data folder)."""

    name: str
    title: str
    description: str
    steps: int
    shipped: bool
    path: str


@dataclass(frozen=True)
class RecipeListing:
    """Every recipe that loaded, by name, and one line per file that did not."""

    recipes: tuple[RecipeEntry, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputField:
    """One input of the selected recipe: ``kind`` is text, file or image (a path picker)."""

    name: str
    kind: str
    required: bool
    description: str
    long_text: bool = False  # a text the recipe expects to be a paragraph or more: a text box


@dataclass(frozen=True)
class RecipeForm:
    """The selected recipe: what the inputs form shows."""

    name: str
    title: str
    description: str
    shipped: bool
    path: str
    inputs: tuple[InputField, ...]


@dataclass(frozen=True)
class PlanRow:
    """One step of the plan, in words: the model's name, the task's words, the figures."""

    id: str
    title: str
    task: str
    task_words: str
    model: str | None
    model_name: str  # "" when no model fits or the step is skipped
    input_tokens: int
    output_tokens: int
    images: int
    cost_usd: Decimal | None
    skipped: str | None = None
    reference_cost_usd: Decimal | None = None
    no_fit: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecipePlanView:
    """The plan of one recipe for the inputs given; ``error`` instead when an input is wrong.

    ``total_usd`` is None when some step fits no model; ``tiers`` and ``speeds`` are the
    totals at each budget tier and speed (None: no fit)."""

    recipe: str
    rows: tuple[PlanRow, ...] = ()
    total_usd: Decimal | None = None
    unavailable_usd: Decimal = Decimal(0)
    tiers: dict[str, Decimal | None] = field(default_factory=dict)
    speeds: dict[str, Decimal | None] = field(default_factory=dict)
    error: str | None = None

    @property
    def fits(self) -> bool:
        return self.error is None and self.total_usd is not None


@dataclass(frozen=True)
class StepProgress:
    """A step waiting ("pending"), started ("running") or ended (done, failed, skipped,
    cancelled).

    ``index`` counts from 1 of ``total``; ``preview`` is the start of a text output;
    ``files`` the written outputs (images as PNG files); ``error`` or ``reason`` say why a
    step failed or was skipped."""

    run_id: str
    index: int
    total: int
    id: str
    title: str
    status: str
    model_name: str = ""
    cost_usd: Decimal = Decimal(0)
    preview: str = ""
    output: str = ""
    files: tuple[str, ...] = ()
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RunEnded:
    """A run stopped: ``status`` done, stopped (a step failed; resumable) or cancelled."""

    run_id: str
    recipe: str
    status: str
    cost_usd: Decimal
    out_dir: str
    error: str | None = None


@dataclass(frozen=True)
class UnfinishedRun:
    """A run that did not finish, which Resume continues."""

    run_id: str
    recipe: str
    status: str
    updated_utc: str
    done_steps: int
    total_steps: int
