"""The shipped policy encodes the seed; broken policies say file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.policy.routing_policy import BudgetTier, Complexity, PolicyStore, SpeedClass, load_policy
from sparklio_desktop.core.settings.paths import shipped_policy_path


def test_the_shipped_policy_names_families_where_the_seed_does(catalog):
    """The seed names models by family ("Claude Sonnet"); so does the shipped task table,
    and on the shipped catalog each family is its seed member (SEED_TABLE below)."""
    raw = load_policy(shipped_policy_path(), catalog)
    refs = [ref for task in raw.tasks.values() for ref in task.chain]
    assert [r for r in refs if not r.startswith("family/")] == ["local/stable-diffusion"]
    assert raw.tasks["copywriting_standard"].primary == "family/claude-sonnet"


SEED_TABLE = {
    "chat": ("simple", ["google/gemini-2.0-flash", "openai/gpt-3.5-turbo", "ollama/qwen2.5"]),
    "brief_questions": ("medium", ["openai/gpt-4", "anthropic/claude-3-5-sonnet", "google/gemini-2.0-pro"]),
    "copywriting_standard": ("medium", ["anthropic/claude-3-5-sonnet", "openai/gpt-4", "google/gemini-2.0-pro"]),
    "copywriting_premium": (
        "complex",
        ["anthropic/claude-3-opus", "openai/gpt-4-turbo", "anthropic/claude-3-5-sonnet"],
    ),
    "strategy_planning": ("complex", ["openai/gpt-4-turbo", "anthropic/claude-3-opus", "openai/gpt-4"]),
    "template_generation": ("simple", ["ollama/qwen2.5", "google/gemini-2.0-flash", "openai/gpt-3.5-turbo"]),
    "trend_analysis": ("medium", ["google/gemini-2.0-pro", "openai/gpt-4", "anthropic/claude-3-5-sonnet"]),
    "image_analysis": ("medium", ["openai/gpt-4v", "google/gemini-2.0-vision"]),
    "image_generation_quality": (None, ["openai/dall-e-3"]),
    "image_generation_bulk": (None, ["local/stable-diffusion", "openai/dall-e-3"]),
    "code_generation": ("medium", ["openai/gpt-4", "ollama/qwen2.5", "google/gemini-2.0-pro"]),
    "translation": ("simple", ["google/gemini-2.0-pro", "openai/gpt-3.5-turbo", "ollama/llama3.2"]),
    "embeddings": (None, ["openai/text-embedding-3-small", "google/gemini-embedding"]),
}


def test_task_table_matches_the_seed(policy):
    assert set(policy.tasks) == set(SEED_TABLE)
    for name, (complexity, chain) in SEED_TABLE.items():
        task = policy.tasks[name]
        assert (task.complexity.value if task.complexity else None) == complexity, name
        assert task.chain == chain, name


def test_seed_numbers(policy):
    w = policy.weights
    assert (w.complexity, w.cost, w.speed, w.quality) == (0.40, 0.30, 0.20, 0.10)
    assert policy.speed_classes[SpeedClass.REALTIME].max_latency_s == 3
    assert policy.speed_classes[SpeedClass.STANDARD].max_latency_s == 10
    assert policy.speed_classes[SpeedClass.BATCH].max_latency_s is None
    assert policy.retry.max_retries == 3 and policy.retry.backoff_s == [1, 2, 4]
    assert [policy.retry.backoff(i) for i in range(4)] == [1, 2, 4, 4]
    assert policy.cache.ttl_static_s == 24 * 3600 and policy.cache.ttl_dynamic_s == 3600
    assert policy.cache_ttl_s("chat") == 3600 and policy.cache_ttl_s("trend_analysis") == 3600
    assert policy.cache_ttl_s("copywriting_standard") == 86400
    assert policy.cache_ttl_s("image_generation_bulk") is None
    assert policy.exploration.rate == 0.05
    assert policy.budget.alert_threshold == 0.80
    assert policy.chain.local_last_resort
    low = policy.budget_tiers[BudgetTier.LOW]
    assert str(low.monthly_usd.min) == "0" and str(low.monthly_usd.max) == "50"
    assert low.occasional.models == ["google/gemini-2.0-pro"] and low.occasional.when == "complex_tasks"
    assert "anthropic/claude-3-opus" in policy.budget_tiers[BudgetTier.STANDARD].avoid
    assert policy.budget_tiers[BudgetTier.PREMIUM].avoid == []
    assert policy.complexity_levels[Complexity.COMPLEX] > policy.complexity_levels[Complexity.MEDIUM]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = shipped_policy_path().read_text(encoding="utf-8")
    assert old in text, f"fixture text not found: {old!r}"
    path = tmp_path / "routing.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_unknown_model_in_a_chain(tmp_path, catalog):
    path = _broken(
        tmp_path,
        "fallbacks: [family/gpt-4, family/gemini-pro]\n    expected_output_tokens: 500\n    typical_input_tokens: 500",
        "fallbacks: [openai/gpt-4, gpt-5]\n    expected_output_tokens: 500\n    typical_input_tokens: 500",
    )
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    line = _line_of(path, "fallbacks: [openai/gpt-4, gpt-5]")
    assert str(info.value) == f"{path}:{line}: tasks.copywriting_standard.fallbacks[1]: unknown model 'gpt-5'"


def test_weights_must_sum_to_one(tmp_path, catalog):
    path = _broken(tmp_path, "quality: 0.10", "quality: 0.20")
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    assert f"{path}:{_line_of(path, 'weights:')}: weights: weights must sum to 1 (they sum to 1.1)" == str(info.value)


def test_chain_model_must_have_the_capability(tmp_path, catalog):
    path = _broken(tmp_path, "fallbacks: [family/gemini-vision]", "fallbacks: [google/gemini-2.0-flash]")
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    assert "tasks.image_analysis.fallbacks[0]: model 'google/gemini-2.0-flash' cannot do vision" in str(info.value)
    assert f":{_line_of(path, 'fallbacks: [google/gemini-2.0-flash]')}:" in str(info.value)


def test_a_family_must_exist_and_have_a_member_for_the_task(tmp_path, catalog):
    path = _broken(tmp_path, "fallbacks: [family/gemini-vision]", "fallbacks: [family/gemini-flash]")
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    line = _line_of(path, "fallbacks: [family/gemini-flash]")
    assert str(info.value) == (
        f"{path}:{line}: tasks.image_analysis.fallbacks[0]: family 'family/gemini-flash' has no member"
        " that can do vision (task 'image_analysis' needs it)"
    )
    path = _broken(tmp_path, "avoid: [family/claude-opus]", "avoid: [family/claude-opuz]")
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    assert "budget_tiers.standard.avoid[0]: unknown family 'family/claude-opuz' (known: family/claude-opus," in str(
        info.value
    )


def test_unknown_key_and_bad_enum(tmp_path, catalog):
    path = _broken(
        tmp_path,
        "    cache: dynamic\n    defaults: {speed: realtime}",
        "    cache: dynamic\n    defaults: {speed: warp}\n    colour: red",
    )
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    text = str(info.value)
    assert f"{path}:{_line_of(path, 'colour: red')}: tasks.chat.colour: unknown key 'colour'" in text
    assert f"{path}:{_line_of(path, 'speed: warp')}: tasks.chat.defaults.speed:" in text and "'warp'" in text


def test_yaml_syntax_error_has_a_line(tmp_path, catalog):
    path = _broken(tmp_path, "  cost: 0.30", "  cost: [0.30")
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    assert str(info.value).startswith(f"{path}:")
    assert "invalid YAML" in str(info.value)
    assert info.value.line is not None and info.value.line >= _line_of(path, "cost: [0.30")


def test_store_keeps_the_last_good_policy(tmp_path, catalog, sparklio_home):
    user = sparklio_home / "policy.yaml"
    good = shipped_policy_path().read_text(encoding="utf-8").replace("rate: 0.05", "rate: 0.10")
    user.write_text(good, encoding="utf-8")
    store = PolicyStore(catalog)
    assert store.error is None and store.policy.exploration.rate == 0.10

    user.write_text(good.replace("rate: 0.10", "rate: lots"), encoding="utf-8")
    error = store.reload()
    assert error is not None and "exploration.rate" in str(error)
    assert store.policy.exploration.rate == 0.10  # still the last good one

    # A fresh start with the broken file also runs on the last good copy.
    fresh = PolicyStore(catalog)
    assert fresh.error is not None and fresh.policy.exploration.rate == 0.10


def test_the_dispatch_watchdog_limits_have_defaults_and_bounds(tmp_path, catalog, policy):
    assert policy.dispatch.stream_idle_timeout_s == 20
    limits = policy.dispatch.first_token_timeout_s
    assert [limits.for_speed(s) for s in SpeedClass] == [10, 30, 120]
    assert policy.dispatch.ollama_load_allowance_s == 60
    for old, new, field in (
        ("stream_idle_timeout_s: 20", "stream_idle_timeout_s: 0", "dispatch.stream_idle_timeout_s"),
        ("standard: 30, batch: 120}", "standard: 1e308, batch: 120}", "dispatch.first_token_timeout_s.standard"),
        ("ollama_load_allowance_s: 60", "ollama_load_allowance_s: -1", "dispatch.ollama_load_allowance_s"),
    ):
        path = _broken(tmp_path, old, new)
        with pytest.raises(ConfigError) as info:
            load_policy(path, catalog)
        assert f"{path}:" in str(info.value) and field in str(info.value)


# -- bounds: what validates is what the router and dispatcher can use --------------------------------------------


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("  simple: 6.5", "  simple: 0", "complexity_levels.simple"),  # the complexity score divides by it
        ("  simple: 6.5", "  simple: 11", "complexity_levels.simple"),
        ("  simple: 6.5", "  simple: .nan", "complexity_levels.simple"),
        ("backoff_s: [1, 2, 4]", "backoff_s: [1, 2, 1.0e+308]", "retry.backoff_s[2]"),  # waited forever
        ("backoff_s: [1, 2, 4]", "backoff_s: [.inf]", "retry.backoff_s[0]"),
        ("backoff_s: [1, 2, 4]", "backoff_s: []", "retry.backoff_s"),
        ("max_retry_after_s: 60", "max_retry_after_s: 1.0e+308", "retry.max_retry_after_s"),
        ("timeout_s: 90}", "timeout_s: 1.0e+308}", "speed_classes.standard.timeout_s"),
        ("timeout_s: 90}", "timeout_s: .inf}", "speed_classes.standard.timeout_s"),
        ("max_latency_s: 3,", "max_latency_s: .nan,", "speed_classes.realtime.max_latency_s"),
        ("score_reference_s: 1.5,", "score_reference_s: 1.0e-320,", "speed_classes.realtime.score_reference_s"),
        ('cost_reference_usd: "0.001"', 'cost_reference_usd: "1e-400"', "budget_tiers.low.cost_reference_usd"),
        ('cost_reference_usd: "0.001"', "cost_reference_usd: .inf", "budget_tiers.low.cost_reference_usd"),
        (
            'monthly_usd: {min: "50", max: "200"}',
            'monthly_usd: {min: "50", max: "20"}',
            "budget_tiers.standard.monthly_usd",
        ),
        (
            "    expected_output_tokens: 300",
            "    expected_output_tokens: 1000000000000000000000000000000",
            "tasks.chat.expected_output_tokens",
        ),
        ("    typical_input_tokens: 200", "    typical_input_tokens: -1", "tasks.chat.typical_input_tokens"),
        ("output_input_ratio: 1.1", "output_input_ratio: .inf", "tasks.translation.output_input_ratio"),
        ("ttl_static_s: 86400", "ttl_static_s: 99999999999999999999", "cache.ttl_static_s"),
        ("rate: 0.05", "rate: .nan", "exploration.rate"),
        ("anomaly_multiple: 3", "anomaly_multiple: .inf", "budget.anomaly_multiple"),
        ("prior_votes: 20", "prior_votes: 100000000000000000000", "ratings.prior_votes"),
        ("  complexity: 0.40", "  complexity: .nan", "weights.complexity"),
    ],
)
def test_every_number_has_bounds(tmp_path, catalog, old, new, field):
    path = _broken(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_policy(path, catalog)
    line = _line_of(path, new.strip().split("\n")[0])
    assert f"{path}:{line}: {field}:" in str(info.value), str(info.value)


def test_a_cache_ttl_of_zero_means_not_cached(tmp_path, catalog):
    """``ttl_dynamic_s: 0`` validated, then the cache refused a TTL of 0 after the paid call."""
    policy = load_policy(_broken(tmp_path, "ttl_dynamic_s: 3600", "ttl_dynamic_s: 0"), catalog)
    assert policy.cache_ttl_s("chat") is None
    assert policy.cache_ttl_s("copywriting_standard") == 86400


@pytest.mark.parametrize(
    "damage",
    [
        "zzz: &r [*r]\n",
        "lol: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"lol{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
        "deep: " + "[" * 100_000 + "\n",
    ],
)
def test_hostile_yaml_in_the_user_policy_keeps_the_last_good_one(catalog, sparklio_home, damage):
    user = sparklio_home / "policy.yaml"
    good = shipped_policy_path().read_text(encoding="utf-8").replace("rate: 0.05", "rate: 0.10")
    user.write_text(good, encoding="utf-8")
    assert PolicyStore(catalog).error is None

    user.write_text(good + damage, encoding="utf-8")
    store = PolicyStore(catalog)
    assert store.error is not None and str(store.error).startswith(f"{user}:")
    assert store.error.line is not None and store.error.line > good.count("\n")
    assert store.policy.exploration.rate == 0.10


def test_a_policy_that_fails_its_bounds_is_never_kept_as_last_good(catalog, sparklio_home):
    user = sparklio_home / "policy.yaml"
    good = shipped_policy_path().read_text(encoding="utf-8").replace("rate: 0.05", "rate: 0.10")
    user.write_text(good, encoding="utf-8")
    PolicyStore(catalog)
    user.write_text(good.replace("  simple: 6.5", "  simple: 0"), encoding="utf-8")
    store = PolicyStore(catalog)
    assert "complexity_levels.simple" in str(store.error)
    assert PolicyStore.last_good_path().read_text(encoding="utf-8") == good
    from sparklio_desktop.core.routing.router import RouteRequest, route

    assert route(RouteRequest("chat"), catalog, store.policy).chain  # the policy in force routes
