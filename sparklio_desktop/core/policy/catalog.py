"""The model catalog: every model the router may pick, validated, as data.

The shipped catalog is ``models/catalog.yaml``; a user's ``catalog.yaml`` in the data
directory extends it (another Ollama tag, an OpenAI-compatible endpoint). A user entry
with a shipped id replaces that entry whole, so a user can correct a price or an
API name without editing shipped files.

A broken user catalog never stops the app: :class:`CatalogStore` keeps its error for
display and puts the last user catalog that was valid (``catalog.last-good.yaml``) in
force, as :class:`~sparklio_desktop.core.policy.routing_policy.PolicyStore` does for the policy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from sparklio_desktop.core.errors import ConfigError, ConfigErrors, UnknownNameError
from sparklio_desktop.core.policy import bounds
from sparklio_desktop.core.policy.bounds import ImagePrice, PricePerMTok, Quality
from sparklio_desktop.core.policy.yaml_source import (
    YamlDocument,
    keep_last_good,
    load_yaml,
    parse_yaml,
    read_text,
    validation_errors,
)
from sparklio_desktop.core.settings import paths

_ID = re.compile(r"[a-z0-9][a-z0-9_\-]*/[A-Za-z0-9][A-Za-z0-9._:\-]*")
MTOK = Decimal(1_000_000)
MAX_IMAGE_SIDE = 16_384


def _decimals(value: Decimal) -> int:
    """Digits after the point that matter: 0.0750 has 3."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class Capability(str, Enum):
    TEXT = "text"
    VISION = "vision"
    IMAGE_GENERATION = "image_generation"
    EMBEDDING = "embedding"


class _Strict(BaseModel):
    # Every number is finite (no .inf/.nan) and has a range (core/policy/bounds.py).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Image price keys: a size ("1024x1024") or "*" (any size), each optionally with a
# quality ("1024x1024@hd", "*@hd").
_IMAGE_KEY = re.compile(r"(?:(\d{1,5})x(\d{1,5})|\*)(?:@([a-z0-9][a-z0-9_\-]{0,19}))?")
# The per-token rates a price may give, and the rate a missing one falls back to
# (genai-prices' leaf decomposition: an unpriced kind of token is billed as its parent).
RATE_FIELDS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok", "reasoning_per_mtok")
RATE_PARENT = {
    "cache_read_per_mtok": "input_per_mtok",
    "cache_write_per_mtok": "input_per_mtok",
    "reasoning_per_mtok": "output_per_mtok",
}


def _float_as_text(value: object) -> object:
    # YAML floats would carry binary noise into money; go through their text.
    return str(value) if isinstance(value, float) else value


def _whole_picodollars(value: Decimal | None) -> Decimal | None:
    # The ledger keeps whole picodollars: a price per 1M tokens has at most 6 decimals.
    if value is not None and _decimals(value) > 6:
        raise ValueError(f"{value} has more than 6 decimals; the ledger counts whole picodollars per token")
    return value


class _Rates(_Strict):
    """Per-token rates in USD per 1M tokens; a missing one falls back (see :data:`RATE_PARENT`)."""

    input_per_mtok: PricePerMTok | None = None
    output_per_mtok: PricePerMTok | None = None
    # Cached prompt tokens read from / written to the provider's cache (absent: the input rate).
    cache_read_per_mtok: PricePerMTok | None = None
    cache_write_per_mtok: PricePerMTok | None = None
    # Reasoning ("thinking") tokens, part of the output (absent: the output rate).
    reasoning_per_mtok: PricePerMTok | None = None

    @field_validator(*RATE_FIELDS, mode="before")
    @classmethod
    def _exact(cls, value: object) -> object:
        return _float_as_text(value)

    @field_validator(*RATE_FIELDS)
    @classmethod
    def _whole_picodollars_per_token(cls, value: Decimal | None) -> Decimal | None:
        return _whole_picodollars(value)

    def rate(self, field: str) -> Decimal | None:
        value: Decimal | None = getattr(self, field)
        return value


class PriceTier(_Rates):
    """Rates for a prompt longer than ``above_input_tokens`` (all input, cached included).

    Cliff semantics, as genai-prices and the providers bill: past the threshold the
    tier's rate applies to ALL tokens of that kind, not only to those above it. A tier
    gives only the rates that change; for each kind the highest tier passed that gives
    one wins, else the base rate.
    """

    above_input_tokens: int = Field(ge=0, le=bounds.MAX_CONTEXT_TOKENS)


def _check_tiers(owner: _Rates, tiers: list[PriceTier], where: str) -> None:
    thresholds = [t.above_input_tokens for t in tiers]
    if thresholds != sorted(set(thresholds)):
        raise ValueError(f"{where}tiers must be in increasing order of above_input_tokens, each once")
    for tier in tiers:
        for name in RATE_FIELDS:
            if tier.rate(name) is not None and owner.rate(name) is None:
                raise ValueError(
                    f"{where}tier above {tier.above_input_tokens} gives {name} but the price has no base {name}"
                )


class BatchRates(_Rates):
    """Rates for a request sent through the provider's batch API.

    A kind of token the batch rates name is billed at the batch rate (with the batch
    tiers, which replace the standard tiers for that kind); a kind they do not name
    keeps its standard rate and tiers (genai-prices' ``price_variants`` semantics).
    """

    tiers: list[PriceTier] = Field(default_factory=list, max_length=8)

    @model_validator(mode="after")
    def _tiers_override_batch_rates(self) -> BatchRates:
        _check_tiers(self, self.tiers, "batch ")
        return self


_V = TypeVar("_V")


def image_lookup(prices: Mapping[str, _V], size: str | None, quality: str | None) -> _V | None:
    """The per-image price of ``size`` at ``quality``: the one rule for catalog prices and
    the pricing core's worked-out ones (docs/routing.md §3). A quality the prices name for
    some size must be priced for this size (or "*"); one they never name does not change
    the price (the size's plain price, else "*")."""
    if quality:
        tag = f"@{quality}"
        found = prices.get(f"{size}{tag}") if size else None
        if found is None:
            found = prices.get(f"*{tag}")
        if found is not None or any(key.endswith(tag) for key in prices):
            return found
    found = prices.get(size) if size else None
    return found if found is not None else prices.get("*")


class Price(_Rates):
    """Unit prices in USD. Absent parts cost nothing only where the model has no such usage.

    The billing rules (docs/routing.md, "Pricing") are applied by core/pricing.py.
    """

    tiers: list[PriceTier] = Field(default_factory=list, max_length=8)
    batch: BatchRates | None = None
    # Image prices by size and quality ("1024x1024", "1024x1024@hd"); "*" is any size.
    per_image: dict[str, ImagePrice] | None = Field(default=None, max_length=64)
    as_of: dt.date
    source: str

    @field_validator("per_image", mode="before")
    @classmethod
    def _exact_images(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: _float_as_text(v) for k, v in value.items()}
        return value

    @field_validator("per_image")
    @classmethod
    def _sizes(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        for size in value or {}:
            match = _IMAGE_KEY.fullmatch(size)
            sides = [int(s) for s in match.groups()[:2] if s is not None] if match else []
            if not match or not all(1 <= side <= MAX_IMAGE_SIDE for side in sides):
                raise ValueError(
                    f"image size '{size}' must look like 1024x1024 (sides 1-{MAX_IMAGE_SIDE}) or be '*',"
                    " optionally with a quality ('1024x1024@hd')"
                )
        for size, amount in (value or {}).items():
            if _decimals(amount) > 12:
                raise ValueError(f"price for {size} has more than 12 decimals; the ledger counts whole picodollars")
        return value

    @model_validator(mode="after")
    def _tiers_override_rates(self) -> Price:
        _check_tiers(self, self.tiers, "")
        return self

    def image_price(self, size: str | None, quality: str | None = None) -> Decimal | None:
        """The price of one image of this size and quality; ``None``: not priced.

        A quality the price names for some size must be priced for this size (or "*");
        a quality it never names does not change the price (the size's plain price).
        """
        return image_lookup(self.per_image, size, quality) if self.per_image else None

    @property
    def is_free(self) -> bool:
        rates = [self, *self.tiers, *([self.batch, *self.batch.tiers] if self.batch else [])]
        parts = [r.rate(name) for r in rates for name in RATE_FIELDS] + list((self.per_image or {}).values())
        return all(p is None or p == 0 for p in parts)


class Speed(_Strict):
    """The seed's speed range for one unit of work; the router uses the middle."""

    seconds: tuple[
        Annotated[float, Field(ge=0, le=bounds.MAX_WAIT_S)], Annotated[float, Field(ge=0, le=bounds.MAX_WAIT_S)]
    ]
    per: Literal["output_500", "image", "input_512"]
    # Measured on this machine (core/speed.py), never written in a catalog file: the median
    # seconds to the first token, and how many successful calls the figures come from.
    first_token_s: float = Field(default=0.0, ge=0, le=bounds.MAX_WAIT_S)
    measured_calls: int = Field(default=0, ge=0)

    @field_validator("seconds")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if high < low:
            raise ValueError("speed range must be [low, high] with 0 <= low <= high")
        return value

    @property
    def typical_s(self) -> float:
        return (self.seconds[0] + self.seconds[1]) / 2


class Tokenizer(_Strict):
    """How input tokens are counted: exactly (OpenAI's BPE) or scaled from it (documented)."""

    method: Literal["exact", "scaled"] = "scaled"
    encoding: Literal["cl100k_base"] = "cl100k_base"
    factor: float = Field(default=1.0, gt=0, le=4)


_FAMILY_ID = r"^[a-z0-9][a-z0-9.\-]*$"
FAMILY_PREFIX = "family/"  # the policy names a family as family/<id> (core/policy/families.py)
GENAI_PRICES = "genai-prices"  # ``price: genai-prices`` in a catalog entry: priced by that library


class FamilySpec(_Strict):
    """A line of models the policy can name as one (``family/claude-sonnet``).

    A family resolves to its newest usable member (core/policy/families.py). ``match``
    tells which of a provider's listed models belong to it (``sparklio catalog refresh``);
    a new member takes its capabilities, quality, speed and tokenizer from here until the
    creator edits them or measurements say otherwise.
    """

    id: str = Field(pattern=_FAMILY_ID, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)
    # A regular expression over the provider's model name (fully matched, case-insensitive).
    match: str = Field(min_length=1, max_length=500)
    capabilities: list[Capability] = Field(min_length=1, max_length=len(Capability))
    complex_capable: bool = False
    quality: Quality
    speed: Speed | None = None
    context_tokens: int | None = Field(default=None, gt=0, le=bounds.MAX_CONTEXT_TOKENS)
    tokenizer: Tokenizer = Tokenizer()
    image_input_tokens: int | None = Field(default=None, ge=0, le=bounds.MAX_IMAGE_INPUT_TOKENS)
    embedding_dimensions: int | None = Field(default=None, gt=0, le=bounds.MAX_EMBEDDING_DIMENSIONS)
    vram_gb: float | None = Field(default=None, gt=0, le=bounds.MAX_VRAM_GB)
    # Words the member's short name is written with ("Sonnet"): "the newest Sonnet your key can use".
    short_name: str = Field(default="", max_length=60)

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"match is not a valid regular expression: {exc}") from None
        return value

    def matches(self, provider: str, api_name: str) -> bool:
        return provider == self.provider and re.fullmatch(self.match, api_name, re.IGNORECASE) is not None

    @property
    def member_word(self) -> str:
        return self.short_name or self.name


class RetiredModel(_Strict):
    """A model its provider no longer serves: kept for the ledger's history, never routed."""

    id: str = Field(max_length=200)
    since: dt.date
    reason: str = Field(default="", max_length=500)


class _ModelFields(_Strict):
    """The fields a catalog entry and a loaded model share (see :class:`ModelEntry`)."""

    id: str = Field(max_length=200)
    name: str = Field(min_length=1, max_length=200)
    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)
    api_name: str = Field(min_length=1, max_length=200)
    capabilities: list[Capability] = Field(min_length=1, max_length=len(Capability))
    complex_capable: bool = False
    local: bool = False
    vram_gb: float | None = Field(default=None, gt=0, le=bounds.MAX_VRAM_GB)
    speed: Speed | None = None
    context_tokens: int | None = Field(default=None, gt=0, le=bounds.MAX_CONTEXT_TOKENS)
    family: str | None = Field(default=None, pattern=_FAMILY_ID, max_length=64)
    # When the provider released it: a family resolves to its newest usable member.
    released: dt.date | None = None
    embedding_dimensions: int | None = Field(default=None, gt=0, le=bounds.MAX_EMBEDDING_DIMENSIONS)
    tokenizer: Tokenizer = Tokenizer()
    image_input_tokens: int | None = Field(default=None, ge=0, le=bounds.MAX_IMAGE_INPUT_TOKENS)
    base_url: str | None = None
    use_cases: str = ""
    notes: str = ""

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(f"id '{value}' must look like provider/name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> _ModelFields:
        if self.id.split("/", 1)[0] not in (self.provider, "local"):
            raise ValueError(f"id '{self.id}' must start with its provider '{self.provider}/'")
        price = getattr(self, "price", None)
        if self.local and isinstance(price, Price) and not price.is_free:
            raise ValueError("a local model costs $0: its prices must be zero")
        if self.local and self.vram_gb is None:
            raise ValueError("a local model needs vram_gb")
        if Capability.EMBEDDING in self.capabilities and self.embedding_dimensions is None:
            raise ValueError("an embedding model needs embedding_dimensions")
        return self

    def has(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities


class ModelEntry(_ModelFields):
    """A model as a catalog file writes it: a family member may leave out its quality
    (and speed), and ``price: genai-prices`` asks that library for the price."""

    price: Price | None
    quality: Quality | None = None
    _genai_prices: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _genai_price(cls, data: Any, handler: ModelWrapValidatorHandler[ModelEntry]) -> ModelEntry:
        asks = isinstance(data, dict) and data.get("price") == GENAI_PRICES
        entry = handler({**data, "price": None} if asks else data)
        entry._genai_prices = asks
        return entry

    @property
    def asks_genai_prices(self) -> bool:
        """``price: genai-prices``: priced by that library when the catalog is loaded."""
        return self._genai_prices

    @model_validator(mode="after")
    def _quality_or_family(self) -> ModelEntry:
        if self.quality is None and self.family is None:
            raise ValueError("quality is required (only a family member may take its family's)")
        return self


class ModelSpec(_ModelFields):
    """A model as the router and the ledger use it: every figure resolved."""

    # ``None``: unpriced (never routed, never counted as free).
    price: Price | None
    quality: Quality

    @property
    def unpriced(self) -> bool:
        """No price at all: never silently free."""
        return self.price is None

    @property
    def is_free(self) -> bool:
        return self.price is not None and self.price.is_free

    @property
    def label(self) -> str:
        return f"{self.name} (local)" if self.local else self.name


class _CatalogFile(_Strict):
    version: Literal[1] = 1
    families: list[FamilySpec] = Field(default_factory=list)
    models: list[ModelEntry] = Field(default_factory=list)
    # Models their provider stopped serving (written by refresh and on "model not found").
    retired: list[RetiredModel] = Field(default_factory=list)


class Catalog(Mapping[str, ModelSpec]):
    """All known models by id, in file order (shipped first, then the user's), with the
    families they belong to and the models their providers retired."""

    def __init__(
        self,
        models: list[ModelSpec],
        sources: dict[str, str] | None = None,
        *,
        families: Mapping[str, FamilySpec] | None = None,
        retired: Mapping[str, RetiredModel] | None = None,
    ) -> None:
        self._models = {m.id: m for m in models}
        self.sources = sources or {}
        self.families: Mapping[str, FamilySpec] = dict(families or {})
        self.retired: Mapping[str, RetiredModel] = dict(retired or {})

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self._models[model_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def get_model(self, model_id: str) -> ModelSpec:
        """The model, or an error listing the valid ids."""
        try:
            return self._models[model_id]
        except KeyError:
            raise UnknownNameError("model", model_id, self._models) from None

    def with_capability(self, capability: Capability | str) -> list[ModelSpec]:
        cap = Capability(capability)
        return [m for m in self._models.values() if cap in m.capabilities]

    def members(self, family: str) -> list[ModelSpec]:
        """The family's models, newest first (docs/routing.md, "Families")."""
        return sorted((m for m in self._models.values() if m.family == family), key=newest_first)

    @property
    def providers(self) -> set[str]:
        return {m.provider for m in self._models.values()}


def _version(api_name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", api_name)[:6])


def newest_first(model: ModelSpec) -> tuple[int, tuple[int, ...], str]:
    """Sort key: the latest release date first, then the higher version numbers in the name."""
    released = model.released.toordinal() if model.released else 0
    return (-released, tuple(-n for n in _version(model.api_name)), model.id)


class _Parsed:
    """One catalog file, validated: its families, entries and retired models."""

    def __init__(self, doc: YamlDocument, data: _CatalogFile) -> None:
        self.doc = doc
        self.families = data.families
        self.models = data.models
        self.retired = data.retired


def _parse(doc: YamlDocument) -> _Parsed:
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.path, 1, "", "a catalog file is a mapping with a 'models' list")
    try:
        parsed = _CatalogFile.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_errors(doc, exc) from None
    problems: list[ConfigError] = []
    sections: tuple[tuple[str, str, list[str]], ...] = (
        ("models", "model", [m.id for m in parsed.models]),
        ("families", "family", [f.id for f in parsed.families]),
    )
    for section, word, ids in sections:
        seen: set[str] = set()
        for index, item_id in enumerate(ids):
            if item_id in seen:
                problems.append(doc.error((section, index, "id"), f"duplicate {word} id '{item_id}'"))
            seen.add(item_id)
    if problems:
        raise ConfigErrors(problems)
    return _Parsed(doc, parsed)


def _resolve(
    entries: list[tuple[ModelEntry, YamlDocument, int]], families: Mapping[str, FamilySpec]
) -> list[ModelSpec]:
    """Each entry as a loaded model: a member's missing figures from its family, and
    ``price: genai-prices`` priced by that library (or unpriced when it does not know it)."""
    problems: list[ConfigError] = []
    wanted = [entry for entry, _, _ in entries if entry.asks_genai_prices]
    prices: Mapping[str, Price | None] = {}
    if wanted:
        from sparklio_desktop.core.policy.price_source import genai_prices_for

        found = genai_prices_for((e.id, e.provider, e.api_name) for e in wanted)
        prices = {i: None if fields is None else Price.model_validate(fields) for i, fields in found.items()}
    models: list[ModelSpec] = []
    for entry, doc, index in entries:
        family = families.get(entry.family) if entry.family else None
        if entry.family and family is None:
            known = ", ".join(sorted(families)) or "none"
            problems.append(doc.error(("models", index, "family"), f"unknown family '{entry.family}' (known: {known})"))
            continue
        if family is not None and family.provider != entry.provider:
            message = f"family '{family.id}' is {family.provider}'s; this model is {entry.provider}'s"
            problems.append(doc.error(("models", index, "family"), message))
            continue
        fields = entry.model_dump(exclude={"price", "quality", "speed"})
        price = prices.get(entry.id) if entry.asks_genai_prices else entry.price
        quality = entry.quality if entry.quality is not None else (family.quality if family else None)
        speed = entry.speed if entry.speed is not None else (family.speed if family else None)
        models.append(ModelSpec.model_validate({**fields, "price": price, "quality": quality, "speed": speed}))
    if problems:
        raise ConfigErrors(problems)
    return models


def _with(entry: ModelEntry, changes: dict[str, Any]) -> ModelEntry:
    copy = entry.model_copy(update=changes)
    copy._genai_prices = entry.asks_genai_prices
    return copy


def _merge(shipped_path: Path, user: tuple[str, str] | None) -> tuple[Catalog, YamlDocument | None]:
    """The shipped catalog extended by ``user`` (its text and the path to show), and the user's parsed file."""
    shipped = _parse(load_yaml(shipped_path))
    files = [shipped]
    doc = None
    if user is not None:
        text, shown = user
        doc = parse_yaml(text, shown, empty_ok=True)
        if doc.data is not None:  # an empty (or all-comment) user catalog adds nothing
            files.append(_parse(doc))
    by_id: dict[str, tuple[ModelEntry, YamlDocument, int]] = {}
    families: dict[str, FamilySpec] = {}
    retired: dict[str, RetiredModel] = {}
    for parsed in files:
        for index, entry in enumerate(parsed.models):
            replaced = by_id.get(entry.id)
            if replaced is not None and entry.family is None and "family" not in entry.model_fields_set:
                # A user entry that corrects a shipped one stays in its family unless it says otherwise.
                keep = {"family": replaced[0].family, "released": entry.released or replaced[0].released}
                entry = _with(entry, keep)
            by_id[entry.id] = (entry, parsed.doc, index)
        families.update((f.id, f) for f in parsed.families)
        retired.update((r.id, r) for r in parsed.retired)
    models = _resolve(list(by_id.values()), families)
    sources = {entry.id: d.path for entry, d, _ in by_id.values()}
    return Catalog(models, sources, families=families, retired=retired), doc


def load_catalog(
    shipped: str | Path | None = None,
    user: str | Path | None = None,
) -> Catalog:
    """The shipped catalog extended by the user's file, when it exists; raises ``ConfigError``."""
    shipped_path = Path(shipped) if shipped else paths.shipped_catalog_path()
    user_path = Path(user) if user else paths.user_catalog_path()
    user_text = (read_text(user_path, str(user_path)), str(user_path)) if user_path.is_file() else None
    return _merge(shipped_path, user_text)[0]


def _blame(doc: YamlDocument | None, exc: ConfigError, shipped_path: Path | None = None) -> ConfigError:
    """A check's failure (say, the shipped policy needs a model the user file changed) located in the user file.

    A failure that names a family (``'family/gpt-4' has no member that can do text``) is
    blamed on the user's entry that replaced one of the family's shipped members."""
    problems = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    first = problems[0]
    where = f" ({first.path}:{first.line})" if first.line is not None else f" ({first.path})"
    message = (
        f"with this catalog the shipped policy is invalid: {first.field + ': ' if first.field else ''}"
        f"{first.message}{where}"
    )
    entries = doc.data.get("models") if doc is not None and isinstance(doc.data, dict) else None
    if doc is not None and isinstance(entries, list):
        named = set(re.findall(r"'([^'\s]+/[^'\s]+)'", " ".join(p.message for p in problems)))
        families = {n[len(FAMILY_PREFIX) :] for n in named if n.startswith(FAMILY_PREFIX)}
        if families and shipped_path is not None:
            shipped = _merge(shipped_path, None)[0]
            named |= {m.id for m in shipped.values() if m.family in families}
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and entry.get("id") in named:
                return doc.error(("models", index), message)
    path = doc.path if doc is not None else exc.path
    return ConfigError(path, None, "", message)


class CatalogStore:
    """The catalog in force, and the last user catalog that was valid.

    The shipped catalog is extended by the user's ``catalog.yaml`` when it validates (and
    passes ``check``: the workspace checks that the shipped policy still validates with
    it, so there is always a policy to fall back on); the exact text that validated is
    kept as ``catalog.last-good.yaml`` in the data directory. When the user's file is
    broken the error is kept for display (:attr:`error`) and the last good copy is used
    instead, else the shipped catalog alone. A broken shipped catalog is an installation
    fault and raises.
    """

    def __init__(
        self,
        shipped: str | Path | None = None,
        user: str | Path | None = None,
        check: Callable[[Catalog], object] | None = None,
    ) -> None:
        self.shipped_path = Path(shipped) if shipped else paths.shipped_catalog_path()
        self.user_path = Path(user) if user else paths.user_catalog_path()
        self.check = check
        self.error: ConfigError | None = None
        self.catalog: Catalog = self._load()

    @staticmethod
    def last_good_path() -> Path:
        return paths.data_dir() / "catalog.last-good.yaml"

    def _merged(self, path: Path) -> Catalog:
        text = read_text(path, str(path))
        catalog, doc = _merge(self.shipped_path, (text, str(path)))
        if self.check is not None:
            try:
                self.check(catalog)
            except ConfigError as exc:
                raise _blame(doc, exc, self.shipped_path) from None
        if path == self.user_path:
            keep_last_good(self.last_good_path(), text)
        return catalog

    def _load(self) -> Catalog:
        self.error = None
        if not self.user_path.is_file():
            return _merge(self.shipped_path, None)[0]
        try:
            return self._merged(self.user_path)
        except ConfigError as exc:
            if exc.path == str(self.shipped_path):
                raise
            self.error = exc
        last_good = self.last_good_path()
        if last_good.is_file():
            try:
                return self._merged(last_good)
            except ConfigError as exc:
                if exc.path == str(self.shipped_path):
                    raise
        return _merge(self.shipped_path, None)[0]

    def reload(self) -> ConfigError | None:
        """Re-read the user's catalog; on error keep the last good one in force and return the error."""
        self.catalog = self._load()
        return self.error
