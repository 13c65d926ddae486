"""The shipped catalog holds every model of the seed with the seed's figures."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sparklio_desktop.core.errors import ConfigError, UnknownNameError
from sparklio_desktop.core.policy.catalog import Capability, load_catalog
from sparklio_desktop.core.settings.paths import shipped_catalog_path

# id: (display name, input $/1M, output $/1M, context, quality) from the seed document.
SEED_TEXT = {
    "openai/gpt-4-turbo": ("GPT-4 Turbo", "10", "30", 128_000, 9.5),
    "openai/gpt-4": ("GPT-4", "30", "60", 8_000, 9.0),
    "openai/gpt-3.5-turbo": ("GPT-3.5 Turbo", "0.50", "1.50", 16_000, 7.0),
    "anthropic/claude-3-5-sonnet": ("Claude 3.5 Sonnet", "3", "15", 200_000, 9.5),
    "anthropic/claude-3-opus": ("Claude 3 Opus", "15", "75", 200_000, 10.0),
    "google/gemini-2.0-pro": ("Gemini 2.0 Pro", "1.25", "5", 1_000_000, 8.5),
    "google/gemini-2.0-flash": ("Gemini 2.0 Flash", "0.075", "0.30", 1_000_000, 7.5),
    "ollama/qwen2.5": ("Qwen 2.5", "0", "0", 32_000, 7.0),
    "ollama/llama3.2": ("Llama 3.2", "0", "0", 8_000, 7.5),
    "ollama/mistral": ("Mistral 7B", "0", "0", 8_000, 6.5),
}
SEED_SPEED = {  # seconds for 500 output tokens
    "openai/gpt-4-turbo": (5, 10),
    "openai/gpt-4": (3, 7),
    "openai/gpt-3.5-turbo": (1, 2),
    "anthropic/claude-3-5-sonnet": (4, 8),
    "anthropic/claude-3-opus": (8, 15),
    "google/gemini-2.0-pro": (3, 6),
    "google/gemini-2.0-flash": (0.5, 1.5),
    "ollama/qwen2.5": (2, 5),
    "ollama/llama3.2": (3, 6),
    "ollama/mistral": (1, 3),
}


def test_counts_per_capability(catalog):
    assert len(catalog.with_capability(Capability.TEXT)) == 10
    assert len(catalog.with_capability(Capability.VISION)) == 2
    assert len(catalog.with_capability(Capability.IMAGE_GENERATION)) == 3
    assert len(catalog.with_capability(Capability.EMBEDDING)) == 3


@pytest.mark.parametrize("model_id", sorted(SEED_TEXT))
def test_text_models_carry_the_seed_figures(catalog, model_id):
    name, price_in, price_out, context, quality = SEED_TEXT[model_id]
    model = catalog[model_id]
    assert model.name == name
    assert model.price.input_per_mtok == Decimal(price_in)
    assert model.price.output_per_mtok == Decimal(price_out)
    assert model.context_tokens == context
    assert model.quality == quality
    assert model.speed.seconds == SEED_SPEED[model_id]
    assert model.speed.per == "output_500"
    assert model.price.as_of.isoformat() == "2025-11-13" and model.price.source


def test_vision_image_and_embedding_figures(catalog):
    gpt4v = catalog["openai/gpt-4v"]
    assert gpt4v.price.input_per_mtok == Decimal("10") and gpt4v.price.image_price(None) == Decimal("0.01275")
    assert catalog["google/gemini-2.0-vision"].price.input_per_mtok == Decimal("1.25")
    dalle = catalog["openai/dall-e-3"].price
    assert dalle.image_price("1024x1024") == Decimal("0.040")
    assert dalle.image_price("1792x1024") == Decimal("0.080")
    assert dalle.image_price("512x512") is None
    assert catalog["google/nano-banana"].price.image_price("1024x1024") == Decimal("0.01")
    assert catalog["local/stable-diffusion"].is_free and catalog["local/stable-diffusion"].local
    small, large, gemini = (
        catalog[m]
        for m in ("openai/text-embedding-3-small", "openai/text-embedding-3-large", "google/gemini-embedding")
    )
    # The seed prices embeddings per 1K tokens: $0.00002 and $0.00013.
    assert small.price.input_per_mtok / 1000 == Decimal("0.00002")
    assert large.price.input_per_mtok / 1000 == Decimal("0.00013")
    assert (small.embedding_dimensions, large.embedding_dimensions, gemini.embedding_dimensions) == (1536, 3072, 768)
    assert gemini.price.input_per_mtok == 0 and not gemini.local


def test_local_models_are_free_and_say_their_vram(catalog):
    local = [m for m in catalog.values() if m.local]
    assert {m.id for m in local} == {"ollama/qwen2.5", "ollama/llama3.2", "ollama/mistral", "local/stable-diffusion"}
    assert all(m.is_free and m.vram_gb and m.vram_gb < 12 for m in local)


def test_unknown_model_lists_the_valid_ids(catalog):
    with pytest.raises(UnknownNameError) as info:
        catalog.get_model("openai/gpt-5")
    assert "unknown model 'openai/gpt-5'" in str(info.value)
    assert "openai/gpt-4-turbo" in str(info.value)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_user_catalog_adds_and_overrides(tmp_path):
    user = _write(
        tmp_path / "catalog.yaml",
        """\
version: 1
models:
  - id: ollama/qwen2.5-coder
    name: Qwen 2.5 Coder
    provider: ollama
    api_name: "qwen2.5-coder:7b"
    capabilities: [text]
    local: true
    vram_gb: 5.5
    price: {input_per_mtok: "0", output_per_mtok: "0", as_of: 2026-01-01, source: local}
    speed: {seconds: [2, 5], per: output_500}
    context_tokens: 32000
    quality: 7.5
  - id: openrouter/mixtral
    name: Mixtral via OpenRouter
    provider: openrouter
    api_name: mistralai/mixtral-8x7b-instruct
    base_url: https://openrouter.example/api/v1
    capabilities: [text]
    price: null
    quality: 7
  - id: openai/gpt-4
    name: GPT-4 (my contract)
    provider: openai
    api_name: gpt-4
    capabilities: [text]
    complex_capable: true
    price: {input_per_mtok: "25", output_per_mtok: "50", as_of: 2026-01-01, source: my contract}
    speed: {seconds: [3, 7], per: output_500}
    context_tokens: 8000
    quality: 9
""",
    )
    catalog = load_catalog(shipped_catalog_path(), user)
    assert len(catalog) == 20
    assert catalog["ollama/qwen2.5-coder"].local
    assert catalog["openrouter/mixtral"].unpriced and not catalog["openrouter/mixtral"].is_free
    assert catalog["openai/gpt-4"].price.input_per_mtok == Decimal("25")
    assert catalog.sources["openai/gpt-4"] == str(user)


def test_broken_user_catalog_names_file_line_and_field(tmp_path):
    user = _write(
        tmp_path / "catalog.yaml",
        """\
version: 1
models:
  - id: ollama/tiny
    name: Tiny
    provider: ollama
    api_name: tiny
    capabilities: [text, telepathy]
    local: true
    vram_gb: 1
    price: {input_per_mtok: "0", output_per_mtok: "0", as_of: 2026-01-01, source: local}
    quality: 5
    colour: blue
""",
    )
    with pytest.raises(ConfigError) as info:
        load_catalog(shipped_catalog_path(), user)
    text = str(info.value)
    assert f"{user}:7: models[0].capabilities[1]:" in text
    assert f"{user}:12: models[0].colour: unknown key 'colour'" in text


def test_local_model_with_a_price_is_rejected(tmp_path):
    user = _write(
        tmp_path / "catalog.yaml",
        """\
models:
  - id: ollama/pricey
    name: Pricey
    provider: ollama
    api_name: pricey
    capabilities: [text]
    local: true
    vram_gb: 1
    price: {input_per_mtok: "1", output_per_mtok: "0", as_of: 2026-01-01, source: x}
    quality: 5
""",
    )
    with pytest.raises(ConfigError, match=r"catalog.yaml:2: models\[0\]: a local model costs \$0"):
        load_catalog(shipped_catalog_path(), user)


# -- bounds and the last good user catalog ------------------------------------------------------------------------

LOCAL_ENTRY = """\
version: 1
models:
  - id: ollama/tiny
    name: Tiny
    provider: ollama
    api_name: tiny
    capabilities: [text]
    local: true
    vram_gb: 1
    price: {input_per_mtok: "0", output_per_mtok: "0", as_of: 2026-01-01, source: local}
    speed: {seconds: [1, 2], per: output_500}
    context_tokens: 32000
    quality: 5
  - id: openrouter/mixtral
    name: Mixtral
    provider: openrouter
    api_name: mixtral
    capabilities: [text]
    price: {input_per_mtok: "0.24", output_per_mtok: "0.24", as_of: 2026-01-01, source: openrouter}
    quality: 7
"""


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("vram_gb: 1", "vram_gb: 1.0e+308", "models[0].vram_gb"),
        ("context_tokens: 32000", "context_tokens: 1000000000000000000000000000", "models[0].context_tokens"),
        ("context_tokens: 32000", "context_tokens: 0", "models[0].context_tokens"),
        ("quality: 5", "quality: .nan", "models[0].quality"),
        ("quality: 5", "quality: 11", "models[0].quality"),
        ("seconds: [1, 2]", "seconds: [1, .inf]", "models[0].speed.seconds[1]"),
        ("seconds: [1, 2]", "seconds: [.nan, 2]", "models[0].speed.seconds[0]"),
        ('input_per_mtok: "0.24"', 'input_per_mtok: "1e400"', "models[1].price.input_per_mtok"),
        ('input_per_mtok: "0.24"', 'input_per_mtok: "0.0000001"', "models[1].price.input_per_mtok"),
        ('input_per_mtok: "0.24"', "input_per_mtok: .inf", "models[1].price.input_per_mtok"),
        ("api_name: mixtral", "api_name: ''", "models[1].api_name"),
    ],
)
def test_every_catalog_number_has_bounds(tmp_path, old, new, field):
    assert old in LOCAL_ENTRY
    user = _write(tmp_path / "catalog.yaml", LOCAL_ENTRY.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_catalog(shipped_catalog_path(), user)
    assert f"{user}:" in str(info.value) and f": {field}:" in str(info.value), str(info.value)


def test_image_prices_need_real_sizes_and_ledger_precision(tmp_path):
    entry = """\
models:
  - id: openai/gpt-image-1
    name: GPT Image
    provider: openai
    api_name: gpt-image-1
    capabilities: [image_generation]
    price: {per_image: {SIZES}, as_of: 2026-01-01, source: openai}
    quality: 8
"""
    good = load_catalog(
        shipped_catalog_path(), _write(tmp_path / "c.yaml", entry.replace("{SIZES}", '{"1024x1024": 0.04}'))
    )
    assert good["openai/gpt-image-1"].price.image_price("1024x1024") == Decimal("0.04")
    for sizes in ('{"99999999x1": 0.04}', '{"0x512": 0.04}', '{"*": 0.0000000000001}', '{"*": 1e9}'):
        with pytest.raises(ConfigError, match=r"models\[0\]\.price\.per_image"):
            load_catalog(shipped_catalog_path(), _write(tmp_path / "c.yaml", entry.replace("{SIZES}", sizes)))


def _store(**kwargs):
    from sparklio_desktop.core.policy.catalog import CatalogStore

    return CatalogStore(**kwargs)


def test_store_keeps_the_last_good_user_catalog(sparklio_home):
    user = _write(sparklio_home / "catalog.yaml", LOCAL_ENTRY)
    store = _store()
    assert store.error is None and store.catalog["ollama/tiny"].quality == 5
    assert store.last_good_path().read_text(encoding="utf-8") == LOCAL_ENTRY

    user.write_text(LOCAL_ENTRY + "zzz: &r [*r]\n", encoding="utf-8")
    error = store.reload()
    assert str(error) == f"{user}:21: invalid YAML: recursive alias '*r': a value cannot contain itself"
    assert store.catalog["ollama/tiny"].quality == 5  # still the last good one
    fresh = _store()
    assert fresh.error is not None and "ollama/tiny" in fresh.catalog and "openrouter/mixtral" in fresh.catalog
    assert store.last_good_path().read_text(encoding="utf-8") == LOCAL_ENTRY  # the bad file was not kept


def test_store_without_a_last_good_copy_uses_the_shipped_catalog(sparklio_home):
    user = _write(sparklio_home / "catalog.yaml", LOCAL_ENTRY.replace("quality: 5", "quality: lots"))
    store = _store()
    assert str(store.error).startswith(f"{user}:13: models[0].quality:")
    assert dict(store.catalog) == dict(load_catalog(shipped_catalog_path(), "/nonexistent"))


def test_an_empty_or_removed_user_catalog_adds_nothing(sparklio_home):
    user = _write(sparklio_home / "catalog.yaml", LOCAL_ENTRY)
    _store()
    user.write_text("# nothing yet\n", encoding="utf-8")
    store = _store()
    assert store.error is None and "ollama/tiny" not in store.catalog
    user.unlink()
    store = _store()
    assert store.error is None and "ollama/tiny" not in store.catalog  # absent is not broken


def test_a_user_catalog_that_breaks_the_shipped_policy_is_refused(sparklio_home):
    """Overriding a model the task table needs, minus the capability, would leave no policy at all."""
    from sparklio_desktop.core.routing.router import RouteRequest, route
    from sparklio_desktop.core.workspace import Workspace

    _write(sparklio_home / "catalog.yaml", LOCAL_ENTRY)
    Workspace().catalog  # noqa: B018 - remembers the last good user catalog
    user = _write(
        sparklio_home / "catalog.yaml",
        LOCAL_ENTRY
        + """\
  - id: openai/gpt-4
    name: GPT-4
    provider: openai
    api_name: gpt-4
    capabilities: [embedding]
    embedding_dimensions: 8
    price: {input_per_mtok: "1", as_of: 2026-01-01, source: me}
    quality: 9
""",
    )
    workspace = Workspace()
    error = workspace.catalog_error
    assert error is not None and str(error).startswith(f"{user}:21: models[2]: with this catalog the shipped policy")
    assert "family/gpt-4' has no member that can do text" in str(error)
    assert workspace.policy_error is None and workspace.catalog["openai/gpt-4"].has("text")
    assert "ollama/tiny" in workspace.catalog
    assert route(RouteRequest("copywriting_standard"), workspace.catalog, workspace.policy).chain


def test_commands_keep_working_with_a_hostile_user_catalog(sparklio_home):
    from sparklio_desktop.core.routing.router import RouteRequest, route
    from sparklio_desktop.core.workspace import Workspace

    user = _write(
        sparklio_home / "catalog.yaml",
        LOCAL_ENTRY
        + "lol: &a [x, x]\n"
        + "".join(f"lol{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
    )
    workspace = Workspace()
    assert str(workspace.catalog_error).startswith(f"{user}:")
    assert "expands to more than" in str(workspace.catalog_error)
    assert route(RouteRequest("chat"), workspace.catalog, workspace.policy).chain


def test_editing_a_hostile_user_catalog_is_refused_not_crashed(sparklio_home):
    from sparklio_desktop.core.policy import user_catalog

    _write(sparklio_home / "catalog.yaml", "version: 1\nmodels: &r [*r]\n")
    with pytest.raises(ConfigError, match="recursive alias"):
        user_catalog.upsert(
            user_catalog.ollama_entry("tiny:1b", quality=5, speed=(1, 2), context_tokens=4096, vram_gb=1)
        )


def test_an_edit_that_would_break_the_shipped_policy_is_refused_and_not_written(sparklio_home):
    """The workspace refuses a user catalog with which the shipped policy does not validate
    (core.policy.catalog.CatalogStore); the editor must not write one, or the next start falls back."""
    from sparklio_desktop.core.policy import user_catalog
    from sparklio_desktop.core.workspace import Workspace

    entry = user_catalog.ollama_entry("qwen2.5:7b", quality=7, speed=(2, 5), context_tokens=32000, vram_gb=5)
    entry.update(id="ollama/qwen2.5", capabilities=["vision"])  # a text model the task table needs
    with pytest.raises(ConfigError, match="family/qwen2.5.* has no member that can do text") as raised:
        user_catalog.upsert(entry)
    assert str(raised.value).startswith(f"{sparklio_home / 'catalog.yaml'}: not saved: with this change the shipped")
    assert not (sparklio_home / "catalog.yaml").exists()
    assert not list(sparklio_home.glob("catalog.yaml*"))
    assert Workspace().catalog_error is None


def test_an_invalid_edit_is_located_in_the_users_file_not_its_temporary_copy(sparklio_home):
    from sparklio_desktop.core.policy import user_catalog

    entry = user_catalog.ollama_entry("tiny:1b", quality=5, speed=(1, 2), context_tokens=4096, vram_gb=1)
    entry["capabilities"] = ["embedding"]  # an embedding model needs embedding_dimensions
    with pytest.raises(ConfigError) as raised:
        user_catalog.upsert(entry)
    assert str(raised.value).startswith(f"{sparklio_home / 'catalog.yaml'}:") and ".tmp" not in str(raised.value)
