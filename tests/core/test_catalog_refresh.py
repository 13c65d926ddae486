"""The catalog refresh's pieces in process: ``user_catalog.retire`` (idempotent, persisted,
safe from worker threads), the once-a-day rule, a provider that never answers, and the
price summaries every view shows."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from sparklio_desktop.core import catalog_refresh
from sparklio_desktop.core.catalog_view import catalog_rows, price_summary
from sparklio_desktop.core.errors import UnknownNameError
from sparklio_desktop.core.policy import user_catalog
from sparklio_desktop.core.policy.catalog import Price, load_catalog
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer

TODAY = dt.date(2026, 3, 1)


class Keys:
    def __init__(self, **keys: str) -> None:
        self.keys = keys

    def get(self, provider: str) -> str | None:
        return self.keys.get(provider)


def test_retire_persists_once_and_keeps_the_first_record(sparklio_home: Path):
    path = sparklio_home / "catalog.yaml"
    first = user_catalog.retire("openai/gpt-4", "model not found (404)", since=TODAY)
    assert first is not None and first.since == TODAY
    again = user_catalog.retire("openai/gpt-4", "another reason", since=TODAY + dt.timedelta(days=3))
    assert again == first  # idempotent: the first date and reason stay
    assert load_catalog(user=path).retired["openai/gpt-4"].reason == "model not found (404)"
    assert yaml.safe_load(path.read_text())["retired"] == [
        {"id": "openai/gpt-4", "since": "2026-03-01", "reason": "model not found (404)"}
    ]
    assert user_catalog.unretire("openai/gpt-4") is True
    assert "openai/gpt-4" not in load_catalog(user=path).retired
    assert user_catalog.unretire("openai/gpt-4") is False


def test_retire_never_retires_a_local_model_and_refuses_unknown_ids(sparklio_home: Path):
    assert user_catalog.retire("ollama/qwen2.5", "not installed") is None
    assert not (sparklio_home / "catalog.yaml").exists()
    with pytest.raises(UnknownNameError, match="unknown model 'openai/gpt-99'"):
        user_catalog.retire("openai/gpt-99", "model not found")


def test_retire_from_many_worker_threads_loses_no_record(sparklio_home: Path):
    ids = [
        "openai/gpt-4",
        "openai/gpt-4-turbo",
        "openai/gpt-3.5-turbo",
        "anthropic/claude-3-opus",
        "google/gemini-2.0-pro",
    ]
    errors: list[BaseException] = []

    def worker(model_id: str) -> None:
        try:
            user_catalog.retire(model_id, "model not found (404)")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in ids * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(load_catalog(user=sparklio_home / "catalog.yaml").retired) == set(ids)


def test_refresh_is_due_once_a_day(tmp_path: Path):
    state = tmp_path / "catalog-refresh.json"
    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert catalog_refresh.refresh_due(now, state)  # never refreshed
    catalog_refresh._write_state(state, [], now)
    assert not catalog_refresh.refresh_due(now + dt.timedelta(hours=23), state)
    assert catalog_refresh.refresh_due(now + dt.timedelta(days=1), state)
    assert catalog_refresh.refresh_due(now - dt.timedelta(hours=1), state)  # the clock went back
    state.write_text("{not json", encoding="utf-8")
    assert catalog_refresh.refresh_due(now, state)


@pytest.mark.timeout(120)
def test_a_provider_that_never_answers_times_out_and_reports_without_the_key(sparklio_home: Path, monkeypatch):
    key = "sk-timeout-test-0123456789abcdefghij"
    with OpenAIServer() as server:
        server.script(Fault(no_answer=True))
        monkeypatch.setenv("OPENAI_BASE_URL", server.api_url)
        report = asyncio.run(
            catalog_refresh.refresh_catalog(keys=Keys(openai=key), providers=["openai", "anthropic"], timeout_s=0.5)
        )
    openai, anthropic = report.providers
    assert openai.error == "no answer within 0.5 s" and openai.listed is None
    assert anthropic.skipped is not None and "no key" in anthropic.skipped
    assert report.as_json() == {"added": [], "retired": [], "repriced": [], "unpriced": []}
    state = (sparklio_home / "catalog-refresh.json").read_text()
    assert key not in state and "no answer within 0.5 s" in state


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"input_per_mtok": "2.5", "output_per_mtok": "10"}, "$2.50/$10.00 per 1M"),
        ({"input_per_mtok": "0.075", "output_per_mtok": "0.30"}, "$0.075/$0.30 per 1M"),
        ({"input_per_mtok": "0.02"}, "$0.02 per 1M in"),
        ({"per_image": {"1024x1024": "0.040", "*": "0.08"}}, "$0.08/image, $0.04/image 1024x1024"),
        ({"input_per_mtok": "0", "output_per_mtok": "0"}, "free"),
    ],
)
def test_price_summaries(fields, text):
    assert price_summary(Price.model_validate({**fields, "as_of": TODAY, "source": "test"})) == text
    assert price_summary(None) == "unpriced"


def test_catalog_rows_by_family_newest_first_with_list_price_differences(catalog):
    rows = {row.id: row for row in catalog_rows(catalog)}
    assert [m.id for m in rows["gemini-pro"].members] == ["google/gemini-2.0-pro"]
    assert [m.id for m in rows["gemini-vision"].members] == ["google/gemini-2.0-vision"]
    flash = rows["gemini-flash"].members[0]
    assert flash.price == "$0.075/$0.30 per 1M" and flash.list_price == "$0.10/$0.40 per 1M"
    assert flash.price_as_of == dt.date(2025, 11, 13) and flash.price_source.startswith("seed policy")
    assert rows["gpt-4-turbo"].members[0].list_price is None  # the same price as genai-prices'
    assert Decimal("0.075") == catalog["google/gemini-2.0-flash"].price.input_per_mtok
    assert rows[""].name == "no family" and "local/stable-diffusion" in {m.id for m in rows[""].members}


def test_a_per_image_price_is_not_a_difference_from_genai_prices_token_rates():
    """NanoBanana is billed per image here; genai-prices prices the same model per token:
    two kinds of price, not a difference to highlight."""
    from sparklio_desktop.core.catalog_view import catalog_rows
    from sparklio_desktop.core.policy.catalog import load_catalog

    catalog = load_catalog(user="/nonexistent/catalog.yaml")
    rows = {m.id: m for group in catalog_rows(catalog, family="gemini-image") for m in group.members}
    assert rows["google/nano-banana"].list_price is None
    flash = {m.id: m for group in catalog_rows(catalog, family="gemini-flash") for m in group.members}
    assert flash["google/gemini-2.0-flash"].list_price == "$0.10/$0.40 per 1M"
