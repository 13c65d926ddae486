"""User settings: a small JSON file, validated by pydantic, edited by dotted keys.

``settings.json`` lives in :func:`~sparklio_desktop.core.settings.paths.data_dir` (tests and
portable installs move it with ``$SPARKLIO_HOME``; every function also takes a path).
Only the values a user set are written, so a default that changes in a later release
reaches users who never touched it. Writes are atomic (a temporary file in the same
folder, then ``os.replace``): a crash mid-write leaves the old file, never half a file.

The file never holds secrets. Keys whose last part looks like one (``api_key``,
``token``, ``secret``...) are refused with a pointer to ``sparklio keys set``, which
puts them in the OS keyring (:mod:`sparklio_desktop.core.settings.secrets`).

Errors name the file, the line and the field (``settings.json:7: budget.at_cap: ...``).
The app must keep working with a broken file, so :func:`load_settings_lenient`
returns the settings with each invalid field back at its default, together with the
error for the CLI and the GUI to show.

Every number has bounds that the code using it can honour: ``1e999`` was once a valid
monthly budget, then broke ``run`` and ``spend`` because the ledger stores money as a
64-bit count of picodollars. Money settings are finite, non-negative, whole
picodollars and at most :data:`MAX_MONTHLY_USD`; durations, memory sizes and fractions
have upper bounds too. NaN and infinities are refused everywhere.
"""

from __future__ import annotations

import copy
import getpass
import json
import os
import re
import tempfile
import types
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sparklio_desktop.core.cache_url import check_cache_url
from sparklio_desktop.core.errors import ConfigError, ConfigErrors, UnknownNameError
from sparklio_desktop.core.ledger.members import member_name_problem
from sparklio_desktop.core.ledger.url_syntax import check_database_url
from sparklio_desktop.core.provider_table import base_url_from_env
from sparklio_desktop.core.redact import redact
from sparklio_desktop.core.routing.ollama_hosts import host_problem
from sparklio_desktop.core.settings import paths

__all__ = [
    "MAX_MONTHLY_USD", "MAX_TTL_S", "MAX_VRAM_GB", "SETTINGS_FILENAME", "BudgetSettings", "CacheSettings",
    "StorageSettings",
    "CloudProviderSettings", "DefaultsSettings", "GpuSettings", "LocalSettings", "OllamaSettings", "PolicySettings",
    "ProvidersSettings", "Settings",
    "TeamSettings", "UiSettings", "UserSettings", "effective_base_url", "format_value", "get_setting", "load_settings",
    "load_settings_lenient", "parse_setting_text", "save_settings", "set_setting", "setting_keys", "settings_path",
]  # fmt: skip

SETTINGS_FILENAME = paths.SETTINGS_FILENAME

# A monthly budget above a million dollars is a typo; the ledger's own ceiling (2**63 - 1
# picodollars, about $9.2M) is well above it, so budget arithmetic never overflows.
MAX_MONTHLY_USD = Decimal(1_000_000)
_PICODOLLAR = Decimal("1e-12")
MAX_TTL_S = 10 * 366 * 24 * 3600  # ten years: beyond it a cached answer is "forever" anyway
MAX_VRAM_GB = 4096.0

_SECRET_SUFFIXES = ("key", "token", "secret", "password")
_SECRET_HINT = (
    "API keys, tokens and secrets are never kept in settings.json; "
    "store them in the OS keyring with `sparklio keys set PROVIDER`"
)
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_CLEAR_WORDS = frozenset({"none", "null"})
_CLEAR = object()  # what _parse returns for "remove this key"


def _os_user() -> str:
    try:
        return getpass.getuser() or "default"
    except (OSError, KeyError, ImportError):  # no login name in some containers
        return "default"


class _Section(BaseModel):
    # Frozen: one Settings object is shared across threads and view-models; a change
    # goes through set_setting, which builds and saves a new one.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetSettings(_Section):
    monthly_usd: Decimal = Field(default=Decimal("50"), ge=0, le=MAX_MONTHLY_USD, allow_inf_nan=False)
    """USD per calendar month (UTC); at most $1,000,000, in whole picodollars."""
    at_cap: Literal["local_only", "stop"] = "local_only"
    """At the cap: route to local models only, or refuse paid requests (BudgetError)."""
    alert_threshold: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    """Fraction of the monthly budget at which the app warns; None = the policy's (80%)."""

    @field_validator("monthly_usd")
    @classmethod
    def _whole_picodollars(cls, value: Decimal) -> Decimal:
        # The bounds have been checked, so quantize cannot overflow here.
        if value != value.quantize(_PICODOLLAR):
            raise ValueError(f"{value} USD is finer than the ledger keeps (1e-12 USD)")
        return value


class CloudProviderSettings(_Section):
    base_url: str | None = None
    """Another endpoint for the same API (a proxy, a gateway); None = the SDK's default."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"'{value}' is not an http:// or https:// URL")
        return value


class OllamaSettings(_Section):
    host: str | None = None
    """As OLLAMA_HOST accepts it (``http://host:11434`` or ``host:port``); None = default."""

    @field_validator("host")
    @classmethod
    def _no_spaces(cls, value: str | None) -> str | None:
        if value is not None and (not value or re.search(r"\s", value)):
            raise ValueError(f"'{value}' is not a host (host:port or http://host:port)")
        return value

    hosts: list[str] = Field(default_factory=list, max_length=32)
    """Ollama servers on the LAN (GPU boxes), after the local ``host``: each as ``host`` accepts
    it. A model on several is served by the local host first (core/routing/ollama_hosts.py).
    Empty: ``SPARKLIO_OLLAMA_HOSTS`` (comma-separated), else the local host only."""

    @field_validator("hosts")
    @classmethod
    def _each_a_host(cls, value: list[str]) -> list[str]:
        problems = [f"entry {i} {p}" for i, item in enumerate(value, 1) if (p := host_problem(item)) is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return value


class ProvidersSettings(_Section):
    openai: CloudProviderSettings = Field(default_factory=CloudProviderSettings)
    anthropic: CloudProviderSettings = Field(default_factory=CloudProviderSettings)
    google: CloudProviderSettings = Field(default_factory=CloudProviderSettings)
    ollama: OllamaSettings = Field(default_factory=OllamaSettings)


class UserSettings(_Section):
    profile: str = Field(default_factory=_os_user, min_length=1)
    """Whose spending and ratings these are; defaults to the OS login name."""


_LimitUsd = Annotated[Decimal, Field(ge=0, le=MAX_MONTHLY_USD, allow_inf_nan=False)]


class TeamSettings(_Section):
    """Who this install is in a team, and the members' own monthly limits (issue 16)."""

    member: str | None = None
    """The member this install's requests belong to; None = $SPARKLIO_MEMBER, else the OS
    user. $SPARKLIO_MEMBER, when set, wins over this (core/ledger/members.py)."""
    member_limits: dict[str, _LimitUsd] = Field(default_factory=dict)
    """Member name -> USD per calendar month (UTC), inside the team's monthly budget; a
    member not listed has no limit of their own. Enforced with the budget's reservations."""

    @field_validator("member")
    @classmethod
    def _member_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := member_name_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("member_limits")
    @classmethod
    def _limits(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, usd in value.items():
            if (problem := member_name_problem(name)) is not None:
                raise ValueError(f"{name!r}: {problem}")
            if usd != usd.quantize(_PICODOLLAR):
                raise ValueError(f"{name}: {usd} USD is finer than the ledger keeps (1e-12 USD)")
        return value


class DefaultsSettings(_Section):
    """The user's standing preferences; None = the task table's defaults."""

    budget: Literal["low", "standard", "premium"] | None = None
    speed: Literal["realtime", "standard", "batch"] | None = None
    quality: Literal["draft", "standard", "production"] | None = None


def _checked_server_url(value: str | None, what: str, check: Callable[..., str | None]) -> str | None:
    """A team server's URL setting (the cache's Redis, the ledger's PostgreSQL), checked here
    only: pydantic's own errors would quote the value, and a password must not be in it."""
    if value is not None:
        problem = "is too long (over 2048 characters)" if len(value) > 2048 else None
        problem = problem or check(value, allow_password=False)
        if problem is not None:
            raise ValueError(f"the {what} URL {problem}")
    return value


class CacheSettings(_Section):
    enabled: bool = True
    ttl_static_s: int | None = Field(default=None, ge=0, le=MAX_TTL_S)
    """None = the policy's TTL for answers that do not go stale."""
    ttl_dynamic_s: int | None = Field(default=None, ge=0, le=MAX_TTL_S)
    url: str | None = None
    """A shared cache in Redis (``redis://host:6379/0``); None = the SQLite file in the data
    folder. ``$SPARKLIO_CACHE_URL`` wins over it and is where a password goes (docs/operations.md)."""

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _checked_server_url(value, "cache", check_cache_url)


class StorageSettings(_Section):
    database_url: str | None = None
    """The team's ledger in PostgreSQL (``postgresql+psycopg://user@host:5432/db``); None =
    the SQLite file in the data folder. ``$SPARKLIO_DATABASE_URL`` wins over it and is where
    a password goes (core/ledger/location.py, docs/team.md)."""

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _checked_server_url(value, "database", check_database_url)


class PolicySettings(_Section):
    path: Path | None = None
    """None = the user's policy.yaml if present, else the shipped one."""


class GpuSettings(_Section):
    vram_gb: float = Field(default=12.0, ge=0, le=MAX_VRAM_GB, allow_inf_nan=False)


class LocalSettings(_Section):
    sd_weight_dirs: list[Path] = Field(default_factory=list)
    """Folders searched for Stable Diffusion weights (.safetensors, diffusers folders)."""
    sd_checkpoint: str | None = Field(default=None, max_length=4096)
    """The checkpoint local images use unless a request names one: a name from
    `sparklio models sd list` or a path. None: the first usable text-to-image checkpoint."""


class UiSettings(_Section):
    theme: Literal["system", "light", "dark"] = "system"
    onboarding_done: bool = False
    """The first-run guide was finished or skipped: it no longer opens by itself (Help reaches it)."""


class Settings(_Section):
    """Everything in settings.json. ``Settings()`` is the defaults."""

    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    providers: ProvidersSettings = Field(default_factory=ProvidersSettings)
    user: UserSettings = Field(default_factory=UserSettings)
    defaults: DefaultsSettings = Field(default_factory=DefaultsSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    team: TeamSettings = Field(default_factory=TeamSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)


# -- keys and types ------------------------------------------------------------------


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _leaves(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation = _unwrap_optional(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.update(_leaves(annotation, f"{prefix}{name}."))
        else:
            found[f"{prefix}{name}"] = info.annotation
    return found


_LEAF_TYPES: dict[str, Any] = _leaves(Settings)


def setting_keys() -> list[str]:
    """Every dotted key ``sparklio config get|set`` accepts, sorted."""
    return sorted(_LEAF_TYPES)


_SECTION_KEYS = frozenset(
    ".".join(key.split(".")[:depth]) for key in _LEAF_TYPES for depth in range(1, key.count(".") + 1)
)


def _looks_secret(key: str) -> bool:
    return key.rsplit(".", 1)[-1].lower().endswith(_SECRET_SUFFIXES)


def _choices(key: str) -> list[str] | None:
    annotation = _unwrap_optional(_LEAF_TYPES.get(key))
    if get_origin(annotation) is Literal:
        return [str(arg) for arg in get_args(annotation)]
    return None


# -- reading -------------------------------------------------------------------------


def settings_path() -> Path:
    """Where settings live by default: ``data_dir()/settings.json``."""
    return paths.settings_path()


def _line_of(text: str, loc: Sequence[Any]) -> int | None:
    """The line of the innermost key of ``loc`` found in ``text``: each key is searched
    after its parent's position, which is exact for the files people write."""
    pos, line = 0, None
    for part in loc:
        if not isinstance(part, str):
            break
        match = re.compile(re.escape(json.dumps(part)) + r"\s*:").search(text, pos)
        if match is None:
            break
        line = text.count("\n", 0, match.start()) + 1
        pos = match.end()
    return line


def _describe(error: Any, key: str) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        siblings = [k for k in setting_keys() if parent and k.startswith(parent + ".")]
        valid = siblings or sorted({k.split(".")[0] for k in _LEAF_TYPES})
        return f"unknown setting; valid: {', '.join(valid)}"
    choices = _choices(key)
    if kind == "literal_error" and choices:
        return redact(f"'{value}' is not valid; valid values: {', '.join(choices)}")
    message = str(error["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if isinstance(value, (str, int, float, bool, Decimal)) and kind != "value_error":
        message += f" (got {value!r})"
    # A key pasted into the wrong setting must not reach the screen or a log.
    return redact(message)


def _validate(raw: dict[str, Any], path: Path, text: str | None) -> Settings:
    secrets = [k for k in _walk_keys(raw) if _looks_secret(k)]
    if secrets:
        raise _collect([ConfigError(str(path), _line_of(text or "", k.split(".")), k, _SECRET_HINT) for k in secrets])
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"] if isinstance(p, str))
            line = _line_of(text, error["loc"]) if text else None
            problems.append(ConfigError(str(path), line, key, _describe(error, key)))
        raise _collect(problems) from None


def _collect(problems: list[ConfigError]) -> ConfigError:
    return problems[0] if len(problems) == 1 else ConfigErrors(problems)


def _walk_keys(raw: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for name, value in raw.items():
        keys.append(f"{prefix}{name}")
        if isinstance(value, dict):
            keys.extend(_walk_keys(value, f"{prefix}{name}."))
    return keys


def _read_raw(path: Path) -> tuple[dict[str, Any], str | None]:
    """The file's JSON object and text; ``({}, None)`` when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, "", f"cannot read the settings file: {exc}") from None
    if not text.strip():
        return {}, text  # an empty file (touched by hand) means "all defaults"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise ConfigError(str(path), 1, "", "the settings file must hold a JSON object ({...})")
    return raw, text


def load_settings(path: Path | None = None) -> Settings:
    """The settings in ``path`` (default :func:`settings_path`); defaults if absent.

    Raises :class:`ConfigError` (or :class:`ConfigErrors`) naming file, line and field.
    """
    path = path or settings_path()
    raw, text = _read_raw(path)
    return _validate(raw, path, text)


def load_settings_lenient(path: Path | None = None) -> tuple[Settings, ConfigError | None]:
    """Like :func:`load_settings`, but a broken file never stops the app: each invalid
    field falls back to its default and the other fields keep the user's values (the
    whole file falls back when it is not a JSON object). Returns the settings and the
    error, so the app starts and can tell the user what to fix."""
    path = path or settings_path()
    try:
        raw, text = _read_raw(path)
    except ConfigError as exc:
        return Settings(), exc
    try:
        return _validate(raw, path, text), None
    except ConfigError as exc:
        problems = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        kept = _without(raw, [p.field for p in problems])
        try:
            return Settings.model_validate(kept), exc
        except ValidationError:
            return Settings(), exc


def _without(raw: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """A copy of ``raw`` without the dotted ``keys`` (an empty key drops everything)."""
    if any(not key for key in keys):
        return {}
    kept = copy.deepcopy(raw)
    for key in keys:
        *parents, leaf = key.split(".")
        node: Any = kept
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return kept


def get_setting(key: str, settings: Settings | None = None, path: Path | None = None) -> Any:
    """The value at a dotted key (a leaf or a whole section) of ``settings`` or the file."""
    if key not in _LEAF_TYPES and key not in _SECTION_KEYS:
        raise UnknownNameError("setting", key, setting_keys())
    value: Any = settings if settings is not None else load_settings(path)
    for part in key.split("."):
        value = getattr(value, part)
    return value


def format_value(value: Any) -> str:
    """How ``sparklio config get`` prints a value; the text ``set`` accepts back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), indent=2)
    if isinstance(value, list):
        return json.dumps([str(v) for v in value])
    if isinstance(value, dict):
        return json.dumps({str(k): format_value(v) for k, v in value.items()}, ensure_ascii=False)
    if isinstance(value, Decimal):
        return f"{value:f}"  # 0.000000000001, not 1E-12
    return str(value)


# -- writing -------------------------------------------------------------------------


def parse_setting_text(key: str, text: str, where: str) -> Any:
    """``text`` as ``config set`` reads it for ``key`` (NAME=VALUE pairs or JSON for a mapping,
    comma-separated items or JSON for a list), before the field's own validation; errors
    name ``where`` (the team database, for a team setting: core/team_budget.py)."""
    return _parse(key, text, where)


def _parse(key: str, text: str | None, path: Path | str) -> Any:
    """The CLI's string turned into what the field expects; ``_CLEAR`` removes the key."""
    if text is None or text.strip().lower() in _CLEAR_WORDS:
        return _CLEAR
    text = text.strip()
    annotation = _unwrap_optional(_LEAF_TYPES[key])
    if annotation is bool:
        lowered = text.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ConfigError(str(path), None, key, redact(f"'{text}' is not a boolean; use true/false, yes/no or 1/0"))
    if get_origin(annotation) in (list, tuple):
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(str(path), None, key, f"invalid JSON list: {exc.msg}") from None
            if not isinstance(items, list):
                raise ConfigError(str(path), None, key, "expected a JSON list or comma-separated values")
            return items
        return [item.strip() for item in text.split(",") if item.strip()]
    if get_origin(annotation) is dict:  # a JSON object, or NAME=VALUE pairs split by commas
        if text.startswith("{"):
            try:
                mapping = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(str(path), None, key, f"invalid JSON object: {exc.msg}") from None
            if not isinstance(mapping, dict):
                raise ConfigError(str(path), None, key, "expected a JSON object or NAME=VALUE pairs")
            return mapping
        pairs = [item.partition("=") for item in text.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(str(path), None, key, "expected NAME=VALUE pairs separated by commas, or a JSON object")
        return {name.strip(): value.strip() for name, _, value in pairs}
    return text


def set_setting(key: str, value: str | None, path: Path | None = None) -> Settings:
    """Parse ``value`` for ``key``, validate the whole file with it, save atomically.

    ``None``, ``"none"`` or ``"null"`` removes the key, so the default applies again.
    Returns the new settings. Other invalid fields in the file are reported (with their
    line) rather than silently rewritten; bad JSON must be fixed by hand. Removing a key
    is always saved, even while other fields are invalid: it cannot make the file worse,
    and it is how each broken field is put back to its default from the command line.
    """
    path = path or settings_path()
    if _looks_secret(key):
        raise ConfigError(str(path), None, key, _SECRET_HINT)
    if key not in _LEAF_TYPES:
        raise UnknownNameError("setting", key, setting_keys())
    parsed = _parse(key, value, path)
    raw, text = _read_raw(path)
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if parsed is _CLEAR:
        node.pop(leaf, None)
        _prune_empty(raw)
    else:
        node[leaf] = parsed
    try:
        settings = _validate(raw, path, text)
    except ConfigError as exc:
        problems = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        if parsed is _CLEAR and text is not None:
            _write_atomic(path, json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
        # The new value came from the command line, not a line of the file.
        problems = [ConfigError(p.path, None, p.field, p.message) if p.field == key else p for p in problems]
        raise _collect(problems) from None
    save_settings(settings, path)
    return settings


def _prune_empty(raw: dict[str, Any]) -> None:
    for name in list(raw):
        if isinstance(raw[name], dict):
            _prune_empty(raw[name])
            if not raw[name]:
                del raw[name]


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write the values that were set (not the defaults) atomically to ``path``."""
    path = path or settings_path()
    data = settings.model_dump(mode="json", exclude_unset=True)
    _write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# -- endpoints -----------------------------------------------------------------------


def effective_base_url(provider: str, settings: Settings) -> str | None:
    """The endpoint to call: the setting, else the SDK's environment variable, else None.

    None lets the SDK use its default. Providers without a setting here give only their
    row's variable, if any (core/provider_table.py); user-added OpenAI-compatible
    endpoints keep their URL in the catalog.
    """
    section = getattr(settings.providers, provider) if provider in ProvidersSettings.model_fields else None
    configured = None
    if isinstance(section, CloudProviderSettings):
        configured = section.base_url
    elif isinstance(section, OllamaSettings):
        configured = section.host
    if configured:
        return configured
    return base_url_from_env(provider)  # the SDK's own variable (core/provider_table.py)
