"""The routing policy as validated data: weights, tiers, speed classes, the task table.

Validation happens in two passes. Pydantic checks each field's shape (unknown keys
are rejected); then :func:`_check_references` checks what a schema cannot: weights
summing to 1, and every model named in a chain or tier existing in the catalog with
the capability the task needs. Both passes report ``file:line: field: message``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sparklio_desktop.core.errors import ConfigError, ConfigErrors, SparklioError, UnknownNameError
from sparklio_desktop.core.policy import bounds
from sparklio_desktop.core.policy.bounds import BackoffSeconds, Quality, Seconds, Share, Usd
from sparklio_desktop.core.policy.catalog import FAMILY_PREFIX, Capability, Catalog
from sparklio_desktop.core.policy.yaml_source import (
    Loc,
    YamlDocument,
    keep_last_good,
    load_yaml,
    parse_yaml,
    read_text,
    validation_errors,
)
from sparklio_desktop.core.settings import paths


class Complexity(str, Enum):
    SIMPLE = "simple"
    MEDIUM = "medium"
    COMPLEX = "complex"


class BudgetTier(str, Enum):
    LOW = "low"
    STANDARD = "standard"
    PREMIUM = "premium"


class SpeedClass(str, Enum):
    REALTIME = "realtime"
    STANDARD = "standard"
    BATCH = "batch"


class QualityTarget(str, Enum):
    DRAFT = "draft"
    STANDARD = "standard"
    PRODUCTION = "production"


class _Strict(BaseModel):
    # Every number is finite (no .inf/.nan) and has a range (core/policy/bounds.py).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Weights(_Strict):
    complexity: Share
    cost: Share
    speed: Share
    quality: Share


class MonthlyRange(_Strict):
    min: Usd
    max: Usd | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MonthlyRange:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) must not be below min ({self.min})")
        return self


class Occasional(_Strict):
    """Models a tier admits only in some cases.

    ``complex_tasks``: only for complex tasks. ``task_table``: only where the task
    table names them (never as a fill-in).
    """

    models: list[str]
    when: Literal["complex_tasks", "task_table"]


class Tier(_Strict):
    monthly_usd: MonthlyRange
    primary: list[str] = Field(default_factory=list)
    occasional: Occasional | None = None
    avoid: list[str] = Field(default_factory=list)
    # The cost score is reference / (reference + cost): a positive, finite reference.
    cost_reference_usd: Decimal = Field(ge=bounds.MIN_COST_REFERENCE_USD, le=bounds.MAX_USD, allow_inf_nan=False)
    expected_quality: list[QualityTarget] = Field(default_factory=list)


class SpeedClassSpec(_Strict):
    max_latency_s: Seconds | None = None
    # The speed score is reference / (reference + latency).
    score_reference_s: Seconds
    # How long one provider call may take before it counts as a (transient) timeout.
    timeout_s: Seconds = 60.0


class QualityTargetSpec(_Strict):
    exponent: float = Field(gt=0, le=10)


class TaskDefaults(_Strict):
    budget: BudgetTier | None = None
    speed: SpeedClass | None = None
    quality: QualityTarget | None = None


class ContextRules(_Strict):
    """How much of a conversation a task's follow-up carries (docs/conversations.md,
    "What a follow-up sends"): the history's token limit; older turns are summarised."""

    # The first wave's fixed limit (core/history.py HISTORY_TOKEN_LIMIT) when a task names none.
    max_history_tokens: int = Field(default=6_000, ge=0, le=bounds.MAX_INPUT_TOKENS)


class TaskSpec(_Strict):
    description: str
    complexity: Complexity | None = None
    capability: Capability
    primary: str
    fallbacks: list[str] = Field(default_factory=list)
    expected_output_tokens: int = Field(default=0, ge=0, le=bounds.MAX_OUTPUT_TOKENS)
    output_input_ratio: float | None = Field(default=None, gt=0, le=100)
    typical_input_tokens: int = Field(default=500, ge=0, le=bounds.MAX_INPUT_TOKENS)
    cache: Literal["static", "dynamic", "none"] = "static"
    defaults: TaskDefaults = TaskDefaults()
    system_prompt: str = ""
    context: ContextRules = ContextRules()

    @property
    def chain(self) -> list[str]:
        return [self.primary, *self.fallbacks]


class ChainRules(_Strict):
    min_length: int = Field(default=3, ge=1, le=10)
    local_last_resort: bool = True


class RetryRules(_Strict):
    max_retries: int = Field(default=3, ge=0, le=10)
    # Seconds before each retry; the last figure repeats. Each wait is at most 10 minutes.
    backoff_s: list[BackoffSeconds] = Field(default_factory=lambda: [1.0, 2.0, 4.0], min_length=1, max_length=10)
    honour_retry_after: bool = True
    max_retry_after_s: float = Field(default=60.0, ge=0, le=bounds.MAX_WAIT_S)

    def backoff(self, retry_index: int) -> float:
        """Wait before retry ``retry_index`` (0-based); the last figure repeats."""
        return self.backoff_s[min(retry_index, len(self.backoff_s) - 1)]


class CacheRules(_Strict):
    enabled: bool = True
    # 0: answers of that kind are not cached.
    ttl_static_s: int = Field(default=86400, ge=0, le=bounds.MAX_TTL_S)
    ttl_dynamic_s: int = Field(default=3600, ge=0, le=bounds.MAX_TTL_S)


class ExplorationRules(_Strict):
    rate: Share = 0.05


class BudgetRules(_Strict):
    alert_threshold: float = Field(default=0.8, gt=0, le=1)
    anomaly_multiple: float = Field(default=3.0, gt=1, le=1000)


class RatingRules(_Strict):
    enabled: bool = True
    prior_votes: int = Field(default=20, ge=0, le=bounds.MAX_VOTES)
    min_votes: int = Field(default=20, ge=1, le=bounds.MAX_VOTES)
    # How much higher (0-10) a well-rated model's blended quality must be to move ahead.
    promote_margin: Quality = 0.5


class FirstTokenLimits(_Strict):
    """Seconds from the start of a call to its first token, per speed class (docs/dispatch.md)."""

    realtime: bounds.Seconds = 10.0
    standard: bounds.Seconds = 30.0
    batch: bounds.Seconds = 120.0

    def for_speed(self, speed: SpeedClass) -> float:
        return float(getattr(self, speed.value))


class DispatchRules(_Strict):
    """Limits on providers that go silent (docs/dispatch.md, "Silent streams")."""

    # The longest silence between two chunks of a stream once text has started.
    stream_idle_timeout_s: bounds.Seconds = 20.0
    first_token_timeout_s: FirstTokenLimits = FirstTokenLimits()
    # Extra first-token time for a local Ollama model that Ollama reports as not loaded.
    ollama_load_allowance_s: Annotated[float, Field(ge=0, le=bounds.MAX_WAIT_S, allow_inf_nan=False)] = 60.0


class Policy(_Strict):
    version: Literal[1] = 1
    weights: Weights
    # The quality (0-10) that fully covers a complexity; the score divides by it, so above 0.
    complexity_levels: dict[Complexity, Annotated[float, Field(gt=0, le=bounds.QUALITY_MAX)]]
    budget_tiers: dict[BudgetTier, Tier]
    speed_classes: dict[SpeedClass, SpeedClassSpec]
    quality_targets: dict[QualityTarget, QualityTargetSpec]
    tasks: dict[str, TaskSpec]
    chain: ChainRules = ChainRules()
    retry: RetryRules = RetryRules()
    cache: CacheRules = CacheRules()
    exploration: ExplorationRules = ExplorationRules()
    budget: BudgetRules = BudgetRules()
    ratings: RatingRules = RatingRules()
    dispatch: DispatchRules = DispatchRules()

    def task(self, name: str) -> TaskSpec:
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownNameError("task", name, self.tasks) from None

    def cache_ttl_s(self, task: str) -> int | None:
        """Seconds a task's answers stay cached; ``None`` when the task is never cached."""
        kind = self.tasks[task].cache
        if kind == "none" or not self.cache.enabled:
            return None
        ttl = self.cache.ttl_dynamic_s if kind == "dynamic" else self.cache.ttl_static_s
        return ttl or None  # a TTL of 0 means: do not cache


def _check_references(doc: YamlDocument, policy: Policy, catalog: Catalog) -> None:
    problems: list[ConfigError] = []
    total = policy.weights.complexity + policy.weights.cost + policy.weights.speed + policy.weights.quality
    if abs(total - 1.0) > 1e-9:
        problems.append(doc.error(("weights",), f"weights must sum to 1 (they sum to {total:g})"))
    for table, enum in (
        ("complexity_levels", Complexity),
        ("budget_tiers", BudgetTier),
        ("speed_classes", SpeedClass),
        ("quality_targets", QualityTarget),
    ):
        present = getattr(policy, table)
        for member in enum:
            if member not in present:
                problems.append(doc.error((table,), f"missing entry '{member.value}'"))
    for tier_name, tier in policy.budget_tiers.items():
        lists = [("primary", tier.primary), ("avoid", tier.avoid)]
        if tier.occasional:
            lists.append(("occasional.models", tier.occasional.models))
        for field, ids in lists:
            for index, model_id in enumerate(ids):
                loc = ("budget_tiers", tier_name.value, *field.split("."), index)
                if model_id.startswith(FAMILY_PREFIX):
                    if model_id[len(FAMILY_PREFIX) :] not in catalog.families:
                        problems.append(doc.error(loc, _unknown_family(model_id, catalog)))
                elif model_id not in catalog:
                    problems.append(doc.error(loc, f"unknown model '{model_id}'"))
    for task_name, task in policy.tasks.items():
        refs: list[tuple[Loc, str]] = [(("tasks", task_name, "primary"), task.primary)]
        refs += [(("tasks", task_name, "fallbacks", i), m) for i, m in enumerate(task.fallbacks)]
        for loc, model_id in refs:
            if model_id.startswith(FAMILY_PREFIX):
                problem = _family_problem(model_id, catalog, task.capability, task_name)
                if problem:
                    problems.append(doc.error(loc, problem))
                continue
            model = catalog.get(model_id)
            if model is None:
                problems.append(doc.error(loc, f"unknown model '{model_id}'"))
            elif not model.has(task.capability):
                problems.append(
                    doc.error(
                        loc, f"model '{model_id}' cannot do {task.capability.value} (task '{task_name}' needs it)"
                    )
                )
        if len(set(task.chain)) != len(task.chain):
            problems.append(doc.error(("tasks", task_name, "fallbacks"), "a model appears twice in the chain"))
        if task.capability is Capability.TEXT or task.capability is Capability.VISION:
            if task.complexity is None:
                problems.append(doc.error(("tasks", task_name), "a text or vision task needs a complexity"))
        elif "context" in task.model_fields_set:
            problems.append(
                doc.error(
                    ("tasks", task_name, "context"),
                    f"only text and vision tasks carry a conversation ('{task_name}' is {task.capability.value})",
                )
            )
    if problems:
        raise ConfigErrors(problems)


def _unknown_family(ref: str, catalog: Catalog) -> str:
    known = ", ".join(FAMILY_PREFIX + f for f in sorted(catalog.families)) or "none"
    return f"unknown family '{ref}' (known: {known})"


def _family_problem(ref: str, catalog: Catalog, capability: Capability, task_name: str) -> str | None:
    """What is wrong with a task naming a family, or ``None``."""
    fid = ref[len(FAMILY_PREFIX) :]
    if fid not in catalog.families:
        return _unknown_family(ref, catalog)
    if not any(m.has(capability) for m in catalog.members(fid)):
        return f"family '{ref}' has no member that can do {capability.value} (task '{task_name}' needs it)"
    return None


def parse_policy(doc: YamlDocument, catalog: Catalog) -> Policy:
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.path, 1, "", "a policy file is a mapping of sections")
    try:
        policy = Policy.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_errors(doc, exc) from None
    _check_references(doc, policy, catalog)
    return policy


def load_policy(path: str | Path, catalog: Catalog) -> Policy:
    """Load and fully validate one policy file; raises ``ConfigError`` with file:line."""
    return parse_policy(load_yaml(path), catalog)


class PolicyStore:
    """The policy in force, and the last one that was valid.

    The user's policy file (settings ``policy.path``, else ``policy.yaml`` in the data
    directory, else the shipped one) is loaded; when it is broken the error is kept for
    display and the last good copy stays in force, so a typo never stops routing.
    """

    def __init__(self, catalog: Catalog, path: str | Path | None = None) -> None:
        self.catalog = catalog
        self.explicit_path = Path(path) if path else None
        self.error: SparklioError | None = None
        self.policy: Policy = self._initial()

    @property
    def path(self) -> Path:
        if self.explicit_path:
            return self.explicit_path
        user = paths.user_policy_path()
        return user if user.is_file() else paths.shipped_policy_path()

    @staticmethod
    def last_good_path() -> Path:
        return paths.data_dir() / "policy.last-good.yaml"

    def _initial(self) -> Policy:
        try:
            return self._load_and_remember(self.path)
        except ConfigError as exc:
            self.error = exc
        last_good = self.last_good_path()
        if last_good.is_file():
            try:
                return load_policy(last_good, self.catalog)
            except ConfigError:
                pass
        return load_policy(paths.shipped_policy_path(), self.catalog)

    def _load_and_remember(self, path: Path) -> Policy:
        # Validate and remember the same text, so a file changed in between is never kept as good.
        text = read_text(path, str(path))
        policy = parse_policy(parse_yaml(text, str(path)), self.catalog)
        if path != paths.shipped_policy_path():
            keep_last_good(self.last_good_path(), text)
        return policy

    def reload(self) -> SparklioError | None:
        """Re-read the policy file; on error keep the current policy and return the error."""
        try:
            self.policy = self._load_and_remember(self.path)
            self.error = None
        except ConfigError as exc:
            self.error = exc
        return self.error
