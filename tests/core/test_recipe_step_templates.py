"""A recipe step that names a prompt template (core/recipes/step_templates.py): written
out when the file loads, checked like any step, and run with the template's system prompt
and JSON schema (issue 17: recipes use the same templates)."""

from __future__ import annotations

import json

import pytest

from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.policy.yaml_source import parse_yaml
from sparklio_desktop.core.recipes import parse_recipe
from sparklio_desktop.core.recipes.plan import step_prompt
from tests.test_cli_dispatch import sparklio
from tests.test_cli_recipe import fakes  # noqa: F401 - the loopback OpenAI and Anthropic servers

RECIPE = """\
name: launch
title: Launch
inputs:
  - name: product
  - name: audience
    required: false
steps:
  - id: caption
    template: product_caption
    vars:
      product: "{product}"
      audience: "{audience}"
  - id: tags
    template: hashtag_set
    vars:
      topic: "{steps.caption.output}"
"""


def errors_of(text: str) -> list[ConfigError]:
    with pytest.raises(ConfigError) as caught:
        parse_recipe(parse_yaml(text, "launch.yaml"), {"copywriting_standard", "chat"})
    return list(getattr(caught.value, "errors", [caught.value]))


def test_a_templated_step_is_written_out_with_the_template_s_parts() -> None:
    recipe = parse_recipe(parse_yaml(RECIPE, "launch.yaml"), {"copywriting_standard", "chat"})
    caption, tags = recipe.steps
    assert (caption.template, caption.task) == ("product_caption", "copywriting_standard")
    assert caption.system == "Write one caption. Reply with the caption only."
    assert caption.output_schema is None
    # vars are recipe syntax (live placeholders); defaults are literal text
    assert caption.prompt == "Product: {product}\nTone: friendly\nAudience: {audience}\nPlatform: Instagram"
    assert tags.budget is not None and tags.budget.value == "low"  # the template's route option
    assert tags.output_schema is not None and tags.output_schema["required"] == ["hashtags"]
    prompt = step_prompt(recipe, tags, None, {}, {"caption": "Oat {latte} time"}, None)  # type: ignore[arg-type]
    assert prompt == "Topic: Oat {latte} time\nPlatform: Instagram\nCount: 10"


def test_a_step_s_own_options_win_over_the_template_s() -> None:
    text = RECIPE.replace(
        "    template: hashtag_set\n", "    template: hashtag_set\n    budget: premium\n    task: chat\n"
    )
    recipe = parse_recipe(parse_yaml(text, "launch.yaml"), {"copywriting_standard", "chat"})
    tags = recipe.steps[1]
    assert (tags.task, tags.budget.value if tags.budget else None) == ("chat", "premium")


@pytest.mark.parametrize(
    ("change", "line", "field", "words"),
    [
        (("template: product_caption", "template: product_captions"), 9, "steps[0].template", "product_caption"),
        (('      audience: "{audience}"\n', '      colour: "red"\n'), 12, "steps[0].vars.colour",
         "has no variable 'colour'"),
        (('      product: "{product}"\n', ""), 10, "steps[0].vars", "needs the variable 'product'"),
        (("    template: hashtag_set\n", "    template: hashtag_set\n    prompt: hi\n"), 15, "steps[1].prompt",
         "not both"),
        (('      topic: "{steps.caption.output}"', '      topic: "{steps.nope.output}"'), 15, "steps[1].vars",
         "no step 'nope'"),
    ],
)  # fmt: skip
def test_mistakes_are_located(change, line, field, words) -> None:
    (error,) = errors_of(RECIPE.replace(*change))
    assert (error.line, error.field) == (line, field) and words in error.message, error


def test_a_templated_recipe_runs_with_the_system_prompt_and_the_schema(fakes, sparklio_home) -> None:  # noqa: F811
    openai, anthropic, env = fakes
    (sparklio_home / "recipes").mkdir()
    (sparklio_home / "recipes" / "launch.yaml").write_text(RECIPE, encoding="utf-8")
    openai.reply_text = json.dumps({"hashtags": ["oat", "latte"]})
    anthropic.reply_text = json.dumps({"hashtags": ["oat", "latte"]})
    result = sparklio("recipe", "run", "launch", "--input", "product=oat latte", "--budget", "low", "--json",
                      env_extra=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    bodies = [r.body for r in openai.requests if r.path.endswith("/chat/completions")]
    bodies += [r.body for r in anthropic.requests]
    assert len(bodies) == 2
    sent = json.dumps(bodies)
    assert "Write one caption. Reply with the caption only." in sent
    assert "Suggest relevant hashtags" in sent
    # the JSON step asks in the provider's structured-output mode
    assert any("json_schema" in json.dumps(b.get("response_format", {})) or b.get("tool_choice") for b in bodies)
