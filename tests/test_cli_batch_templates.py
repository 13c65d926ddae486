"""``sparklio batch run FILE --template NAME``: the templates of ``run --template`` drive a
batch (issue 17: "recipes and batches use the same templates"), against the loopback
OpenAI server, with the real batches file and ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparklio_desktop.core.batches import BatchStore
from sparklio_desktop.core.settings import paths
from tests import test_cli_batch
from tests.fakes.openai_server import OpenAIServer
from tests.test_cli_batch import env_for, sparklio

openai = test_cli_batch.openai  # the loopback OpenAI server fixture, as the plain batch tests have it


def chats(server: OpenAIServer) -> list[dict]:
    return [r.body for r in server.requests if r.path.endswith("/chat/completions")]


def test_a_template_batch_sends_its_system_prompt_and_fills_variables_from_columns(tmp_path: Path, openai) -> None:
    source = tmp_path / "products.csv"
    source.write_text("product,audience\noat latte {limited},students\ncold brew,night owls\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = sparklio("batch", "run", str(source), "--template", "product_caption", "--var", "tone=playful",
                      "--no-explore", "--yes", "--json", "--out", str(out), env=env_for(openai))  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["total"], payload["done"]) == (2, 2)
    bodies = chats(openai)
    assert len(bodies) == 2
    users = sorted(b["messages"][-1]["content"] for b in bodies)
    # Columns fill their variables, --var the constant, the defaults the rest; a brace in a
    # value is the user's text, sent as it is.
    assert users == [
        "Product: cold brew\nTone: playful\nAudience: night owls\nPlatform: Instagram",
        "Product: oat latte {limited}\nTone: playful\nAudience: students\nPlatform: Instagram",
    ]
    assert all(b["messages"][0] == {"role": "system", "content": "Write one caption. Reply with the caption only."}
               for b in bodies)  # fmt: skip
    with BatchStore.open_default() as store:
        batch = store.get(payload["id"])
    assert batch.task == "copywriting_standard"  # the template's task
    assert batch.options["template_name"] == "product_caption"


def test_a_json_template_batch_asks_for_its_schema_and_takes_its_route_options(tmp_path: Path, openai) -> None:
    openai.reply_text = json.dumps({"hashtags": ["pumpkin", "latte"]})
    source = tmp_path / "topics.jsonl"
    source.write_text('{"topic": "autumn latte"}\n{"topic": "winter tea"}\n', encoding="utf-8")
    result = sparklio("batch", "run", str(source), "--template", "hashtag_set", "--no-explore", "--yes", "--json",
                      "--out", str(tmp_path / "out.jsonl"), env=env_for(openai))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["done"] == 2
    bodies = chats(openai)
    assert len(bodies) == 2
    formats = [b.get("response_format") or {} for b in bodies]
    assert all(f.get("type") == "json_schema" for f in formats), formats
    assert all(f["json_schema"]["schema"]["required"] == ["hashtags"] for f in formats)
    with BatchStore.open_default() as store:
        (batch,) = store.batches()
    assert batch.options["budget"] == "low"  # the template's route option, stored with the batch
    assert batch.options["json_output"]["name"] == "hashtag_set"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "template 'product_caption' needs 'product': it is not a column of rows.csv (columns: name, topic); "
             "add the column or give --var product=VALUE"),
        (("--var", "product=tea", "--var", "colour=red"),
         "--var colour: template 'product_caption' has no variable 'colour' (its variables: product, tone"),
        (("--var", "product=tea", "--prompt-template", "About {topic}"),
         "give --prompt-template TEXT or --template NAME (one of them)"),
    ],
)  # fmt: skip
def test_template_mistakes_are_one_line_before_anything_is_sent(tmp_path: Path, openai, extra, message) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("name,topic\na,b\n", encoding="utf-8")
    result = sparklio("batch", "run", str(source), "--template", "product_caption", *extra, "--yes",
                      env=env_for(openai))  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert chats(openai) == []
    assert not (paths.data_dir() / "batches.sqlite").exists()


def test_an_unknown_template_and_a_missing_prompt_are_usage_errors(tmp_path: Path, openai) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("name,topic\na,b\n", encoding="utf-8")
    unknown = sparklio("batch", "run", str(source), "--template", "product_captions", env=env_for(openai))
    assert unknown.returncode == 2 and "product_caption" in unknown.stderr  # the close name is offered
    neither = sparklio("batch", "run", str(source), "--task", "copywriting_standard", env=env_for(openai))
    assert neither.returncode == 2 and "give --prompt-template TEXT or --template NAME" in neither.stderr
    stray = sparklio("batch", "run", str(source), "--task", "copywriting_standard", "--prompt-template", "{topic}",
                     "--var", "a=b", env=env_for(openai))  # fmt: skip
    assert stray.returncode == 2 and "--var needs --template NAME" in stray.stderr
    assert chats(openai) == []
