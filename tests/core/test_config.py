"""settings.json: dotted get/set, parsing, validation, atomic writes, errors with lines."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sparklio_desktop.core.errors import ConfigError, ConfigErrors, UnknownNameError
from sparklio_desktop.core.settings.config import (
    Settings,
    effective_base_url,
    format_value,
    get_setting,
    load_settings,
    load_settings_lenient,
    set_setting,
    setting_keys,
    settings_path,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    # A folder of its own: the atomic-write test checks that nothing else is left in it.
    folder = tmp_path / "config"
    folder.mkdir()
    return folder / "settings.json"


def written(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_defaults_without_a_file(path: Path) -> None:
    settings = load_settings(path)
    assert settings == Settings()
    assert settings.budget.monthly_usd == Decimal("50")
    assert settings.budget.at_cap == "local_only"
    assert settings.budget.alert_threshold is None  # None: the policy's threshold applies
    assert settings.providers.ollama.host is None
    assert settings.user.profile  # the OS user
    assert settings.defaults.speed is None
    assert settings.cache.enabled is True and settings.cache.ttl_static_s is None
    assert settings.gpu.vram_gb == 12
    assert settings.local.sd_weight_dirs == []
    assert settings.ui.theme == "system"
    assert not path.exists()  # reading never creates the file


def test_default_path_follows_sparklio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLIO_HOME", str(tmp_path / "home"))
    assert settings_path() == tmp_path / "home" / "settings.json"
    set_setting("ui.theme", "dark")
    assert load_settings().ui.theme == "dark"
    assert get_setting("ui.theme") == "dark"


def test_keys_cover_the_documented_settings() -> None:
    assert {
        "budget.monthly_usd", "budget.at_cap", "budget.alert_threshold",
        "providers.openai.base_url", "providers.anthropic.base_url", "providers.google.base_url",
        "providers.ollama.host", "user.profile", "defaults.budget", "defaults.speed",
        "defaults.quality", "cache.enabled", "cache.ttl_static_s", "cache.ttl_dynamic_s",
        "policy.path", "gpu.vram_gb", "local.sd_weight_dirs", "ui.theme",
    } <= set(setting_keys())  # fmt: skip


@pytest.mark.parametrize(
    ("key", "text", "value", "stored"),
    [
        ("budget.monthly_usd", "12.50", Decimal("12.50"), "12.50"),
        ("budget.at_cap", "stop", "stop", "stop"),
        ("budget.alert_threshold", "0.9", 0.9, 0.9),
        ("providers.openai.base_url", "https://proxy.example/v1", "https://proxy.example/v1", None),
        ("providers.ollama.host", "gpu-box:11434", "gpu-box:11434", None),
        ("user.profile", " agency ", "agency", "agency"),
        ("defaults.speed", "realtime", "realtime", None),
        ("cache.enabled", "no", False, False),
        ("cache.enabled", "1", True, True),
        ("cache.ttl_static_s", "86400", 86400, 86400),
        ("policy.path", "/etc/sparklio/policy.yaml", Path("/etc/sparklio/policy.yaml"), None),
        ("gpu.vram_gb", "24", 24.0, 24.0),
        ("local.sd_weight_dirs", "/models/a, /models/b", [Path("/models/a"), Path("/models/b")], None),
        ("local.sd_weight_dirs", '["/m/x,y"]', [Path("/m/x,y")], ["/m/x,y"]),
        ("ui.theme", "dark", "dark", "dark"),
    ],
)
def test_set_parses_validates_and_persists(path: Path, key: str, text: str, value: object, stored: object) -> None:
    returned = set_setting(key, text, path)
    assert get_setting(key, returned) == value
    assert get_setting(key, path=path) == value
    node = written(path)
    for part in key.split("."):
        node = node[part]
    assert node == (stored if stored is not None else json.loads(json.dumps(value, default=str)))


def test_only_set_values_are_written(path: Path) -> None:
    set_setting("budget.monthly_usd", "20", path)
    set_setting("ui.theme", "light", path)
    # Defaults (and the OS user) stay out, so a changed default reaches this user later.
    assert written(path) == {"budget": {"monthly_usd": "20"}, "ui": {"theme": "light"}}


@pytest.mark.parametrize("clear", ["none", "NULL", None])
def test_none_clears_back_to_default(path: Path, clear: str | None) -> None:
    set_setting("providers.ollama.host", "http://gpu-box:11434", path)
    set_setting("budget.monthly_usd", "5", path)
    set_setting("providers.ollama.host", clear, path)
    settings = set_setting("budget.monthly_usd", clear, path)
    assert settings.providers.ollama.host is None
    assert settings.budget.monthly_usd == Decimal("50")
    assert written(path) == {}


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("budget.at_cap", "never", "valid values: local_only, stop"),
        ("ui.theme", "blue", "valid values: system, light, dark"),
        ("defaults.quality", "best", "valid values: draft, standard, production"),
        ("budget.monthly_usd", "-1", "greater than or equal to 0"),
        ("budget.monthly_usd", "lots", "decimal"),
        ("budget.alert_threshold", "1.5", "less than or equal to 1"),
        ("cache.enabled", "maybe", "true/false"),
        ("cache.ttl_dynamic_s", "soon", "integer"),
        ("providers.openai.base_url", "proxy.example", "http"),
        ("local.sd_weight_dirs", "[1, ", "invalid JSON list"),
        ("gpu.vram_gb", "inf", "finite"),
    ],
)
def test_invalid_values_name_file_field_and_problem(path: Path, key: str, text: str, expected: str) -> None:
    set_setting("ui.theme", "light", path)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as err:
        set_setting(key, text, path)
    assert err.value.path == str(path) and err.value.field == key
    assert expected in str(err.value)
    assert str(err.value).startswith(f"{path}: {key}: ")
    assert path.read_bytes() == before


def test_unknown_key_lists_valid_keys(path: Path) -> None:
    with pytest.raises(UnknownNameError) as err:
        set_setting("budget.monthly", "3", path)
    assert "budget.monthly_usd" in str(err.value) and "ui.theme" in str(err.value)
    with pytest.raises(UnknownNameError):
        get_setting("nope", Settings())


@pytest.mark.parametrize(
    "key", ["providers.openai.api_key", "providers.anthropic.key", "github.token", "oauth.client_secret", "apikey"]
)
def test_secret_looking_keys_are_refused(path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match="sparklio keys set") as err:
        set_setting(key, "sk-proj-abcdefghijklmnop1234", path)
    assert "sk-proj-abcdefghijklmnop1234" not in str(err.value)
    assert not path.exists()


def test_a_key_pasted_into_the_wrong_setting_is_not_echoed(path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        set_setting("providers.openai.base_url", "sk-proj-abcdefghijklmnop1234", path)
    assert "sk-proj-abcdefghijklmnop1234" not in str(err.value)
    assert "[REDACTED]" in str(err.value)


def test_secret_in_the_file_is_reported_with_its_line(path: Path) -> None:
    path.write_text('{\n  "providers": {\n    "openai": {\n      "api_key": "sk-x"\n    }\n  }\n}\n')
    with pytest.raises(ConfigError, match="sparklio keys set") as err:
        load_settings(path)
    assert (err.value.line, err.value.field) == (4, "providers.openai.api_key")
    assert "sk-x" not in str(err.value)


def test_get_returns_sections_and_format_value_round_trips(path: Path) -> None:
    settings = set_setting("local.sd_weight_dirs", "/a,/b", path)
    assert get_setting("budget", settings) == settings.budget
    assert format_value(get_setting("local.sd_weight_dirs", settings)) == '["/a", "/b"]'
    assert format_value(None) == "null" and format_value(False) == "false"
    assert format_value(Decimal("12.50")) == "12.50"
    assert json.loads(format_value(settings.budget))["at_cap"] == "local_only"
    # What get prints, set accepts back.
    set_setting("local.sd_weight_dirs", format_value(settings.local.sd_weight_dirs), path)
    assert load_settings(path).local.sd_weight_dirs == [Path("/a"), Path("/b")]


# -- broken files ---------------------------------------------------------------------


def test_bad_json_names_the_line(path: Path) -> None:
    path.write_text('{\n  "ui": {\n    "theme": "dark",\n  }\n}\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.line == 4
    assert str(err.value).startswith(f"{path}:4: invalid JSON")


def test_invalid_field_names_line_and_field(path: Path) -> None:
    path.write_text(
        '{\n  "ui": {"theme": "dark"},\n  "budget": {\n    "monthly_usd": 10,\n    "at_cap": "never"\n  }\n}\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert (err.value.line, err.value.field) == (5, "budget.at_cap")
    assert str(err.value) == f"{path}:5: budget.at_cap: 'never' is not valid; valid values: local_only, stop"


def test_unknown_field_in_file_and_several_errors(path: Path) -> None:
    path.write_text('{\n  "gpu": {"vram_gb": -2},\n  "ui": {\n    "colour": "red"\n  }\n}\n')
    with pytest.raises(ConfigErrors) as err:
        load_settings(path)
    found = [(e.line, e.field) for e in err.value.errors]
    assert found == [(2, "gpu.vram_gb"), (4, "ui.colour")]
    assert "unknown setting; valid: ui.onboarding_done, ui.theme" in str(err.value)


@pytest.mark.parametrize("text", ["[1, 2]", '"text"'])
def test_non_object_file(path: Path, text: str) -> None:
    path.write_text(text)
    with pytest.raises(ConfigError, match="JSON object"):
        load_settings(path)


def test_broken_file_gives_defaults_and_the_error(path: Path) -> None:
    path.write_text('{"budget": {"monthly_usd": "ten"}}')
    settings, error = load_settings_lenient(path)
    assert settings == Settings()
    assert error is not None and error.field == "budget.monthly_usd" and error.line == 1
    assert load_settings_lenient(path.with_name("absent.json")) == (Settings(), None)


def test_set_on_a_file_with_bad_json_refuses_to_overwrite(path: Path) -> None:
    path.write_text('{"ui": ')
    with pytest.raises(ConfigError, match="invalid JSON"):
        set_setting("ui.theme", "dark", path)
    assert path.read_text() == '{"ui": '


def test_set_can_fix_the_invalid_field_itself(path: Path) -> None:
    path.write_text('{"budget": {"at_cap": "never"}}')
    assert set_setting("budget.at_cap", "stop", path).budget.at_cap == "stop"


def test_empty_file_means_defaults(path: Path) -> None:
    path.write_text("\n")
    assert load_settings(path) == Settings()


# -- atomic writes ----------------------------------------------------------------------


def test_write_is_atomic_and_leaves_no_temp_files(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_setting("ui.theme", "light", path)
    before = path.read_bytes()
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def failing_replace(src: str, dst: str) -> None:
        replaced.append((str(src), str(dst)))
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        set_setting("ui.theme", "dark", path)
    assert path.read_bytes() == before  # the old file, whole
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]
    # The temporary file was in the same folder, so os.replace is a rename, not a copy.
    assert Path(replaced[0][0]).parent == path.parent and replaced[0][1] == str(path)

    monkeypatch.setattr(os, "replace", real_replace)
    set_setting("ui.theme", "dark", path)
    assert written(path) == {"ui": {"theme": "dark"}}
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_save_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "settings.json"
    set_setting("gpu.vram_gb", "8", target)
    assert written(target) == {"gpu": {"vram_gb": 8.0}}


# -- endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "key", "env"),
    [
        ("openai", "providers.openai.base_url", "OPENAI_BASE_URL"),
        ("anthropic", "providers.anthropic.base_url", "ANTHROPIC_BASE_URL"),
        ("google", "providers.google.base_url", "GOOGLE_GEMINI_BASE_URL"),
        ("ollama", "providers.ollama.host", "OLLAMA_HOST"),
    ],
)
def test_effective_base_url(path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, key: str, env: str) -> None:
    monkeypatch.delenv(env, raising=False)
    assert effective_base_url(provider, Settings()) is None
    monkeypatch.setenv(env, "http://from-env:1234")
    assert effective_base_url(provider, Settings()) == "http://from-env:1234"
    settings = set_setting(key, "http://from-settings:99", path)
    assert effective_base_url(provider, settings) == "http://from-settings:99"


def test_effective_base_url_for_providers_without_a_setting() -> None:
    assert effective_base_url("openrouter", Settings()) is None
    assert effective_base_url("model_fields", Settings()) is None
