"""genai-prices as the catalog's price source: its cache in the data dir, and its update.

The update is tested against a loopback HTTP server that serves genai-prices' data JSON
(no internet here): a newer price in that JSON is used from then on; no network, an
error status or data that is not genai-prices' leave the prices as they were and say why.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.policy import price_source
from sparklio_desktop.core.policy.catalog import Price


class _Served(http.server.BaseHTTPRequestHandler):
    body = b""
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def data_server() -> Iterator[tuple[str, type[_Served]]]:
    handler = type("Handler", (_Served,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data.json", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _fresh_update_state(monkeypatch):
    monkeypatch.setattr(price_source, "_loaded_update", None)


def _data_with_gpt4o_input(price: str) -> bytes:
    """genai-prices-shaped data: one provider (openai), one model (gpt-4o)."""
    model = {"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "prices": {"input_mtok": price, "output_mtok": "10"}}
    provider = {
        "id": "openai",
        "name": "OpenAI",
        "api_pattern": "https://api\\.openai\\.com",
        "models": [model],
    }
    return json.dumps([provider]).encode()


def test_the_conversion_keeps_tiers_cache_rates_and_batch_variants():
    info = price_source.find_model("anthropic", "claude-sonnet-4-5-20250929")
    fields = price_source.convert(info)
    price = Price.model_validate(fields)
    assert (price.input_per_mtok, price.cache_read_per_mtok, price.cache_write_per_mtok) == (
        Decimal(3),
        Decimal("0.3"),
        Decimal("3.75"),
    )
    assert [t.above_input_tokens for t in price.tiers] == [200_000]
    assert price.tiers[0].input_per_mtok == Decimal(6) and price.tiers[0].output_per_mtok == Decimal("22.5")
    assert price.batch is not None and price.batch.input_per_mtok == Decimal("1.5")
    assert price.batch.tiers[0].output_per_mtok == Decimal("11.25")


def test_a_rate_finer_than_a_picodollar_a_token_is_refused_not_rounded():
    class _Info:
        prices = None
        price_variants = None

        def get_prices(self, when, context=None):
            from genai_prices.types import ModelPrice

            return ModelPrice(input_mtok=Decimal("0.0833333333333333"), output_mtok=Decimal(1))

    with pytest.raises(price_source.PriceConversionError, match="more than 6 decimals"):
        price_source.convert(_Info())
    assert price_source.to_price(_Info()) is None  # unpriced: never routed, never free


def test_prices_are_cached_in_the_data_dir_so_a_later_start_skips_the_import(sparklio_home: Path):
    first = price_source.genai_prices_for([("openai/gpt-4o", "openai", "gpt-4o"), ("x/y", "openai", "no-such-model")])
    assert first["openai/gpt-4o"] is not None and first["x/y"] is None
    assert (sparklio_home / price_source.CACHE_FILE).is_file()
    # A new process with the same data dir answers from the cache, without genai_prices.
    code = (
        "import sys\n"
        "from sparklio_desktop.core.policy import price_source\n"
        "wanted = [('openai/gpt-4o', 'openai', 'gpt-4o'), ('x/y', 'openai', 'no-such-model')]\n"
        "found = price_source.genai_prices_for(wanted)\n"
        "print(found['openai/gpt-4o']['input_per_mtok'], found['x/y'], 'genai_prices' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == [first["openai/gpt-4o"]["input_per_mtok"], "None", "False"]


def test_update_fetches_newer_data_and_uses_it_from_then_on(sparklio_home: Path, data_server):
    url, handler = data_server
    before = price_source.list_price("openai", "gpt-4o")
    assert before is not None and before["input_per_mtok"] == "2.5"
    handler.body = _data_with_gpt4o_input("2.25")
    outcome = price_source.update_prices(5, url)
    assert (outcome.status, outcome.ok) == ("updated", True) and "1 providers" in outcome.message
    assert (sparklio_home / price_source.DATA_FILE).read_bytes() == handler.body
    after = price_source.list_price("openai", "gpt-4o")  # the cache is keyed by the data's hash
    assert after is not None and after["input_per_mtok"] == "2.25"
    assert "updated data" in after["source"]
    assert price_source.update_prices(5, url).status == "unchanged"


def test_update_without_network_or_with_bad_data_keeps_the_prices(sparklio_home: Path, data_server):
    url, handler = data_server
    handler.status = 503
    failed = price_source.update_prices(5, url)
    assert (failed.status, failed.ok) == ("failed", False) and "503" in failed.message
    handler.status, handler.body = 200, b'{"not": "providers"}'
    bad = price_source.update_prices(5, url)
    assert bad.status == "failed" and "not genai-prices data" in bad.message
    offline = price_source.update_prices(2, "http://127.0.0.1:9/data.json")  # nothing listens on port 9
    assert offline.status == "failed" and offline.message.startswith("price update: no network")
    assert not (sparklio_home / price_source.DATA_FILE).exists()
    assert price_source.list_price("openai", "gpt-4o")["input_per_mtok"] == "2.5"
