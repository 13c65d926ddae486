"""Prompt templates: the file format's located errors, the loader (shipped, user, override,
broken files skipped), safe rendering, and the JSON Schema checks of structured output.
Real YAML files in temporary folders; nothing mocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparklio_desktop.core.errors import ConfigError, SparklioError, UnknownNameError
from sparklio_desktop.core.structured_output import (
    InvalidOutputError,
    schema_problem,
    strict_allowed,
    validate_answer,
)
from sparklio_desktop.core.templates import (
    TemplateVariableError,
    find_template,
    load_template_file,
    load_templates,
    render_template,
    shipped_templates_dir,
    system_tokens,
)

TASKS = {"chat", "copywriting_standard", "translation"}
GOOD = """\
name: caption
task: copywriting_standard
description: One caption.
system: Write one caption.
prompt: |-
  Product: {product}
  Tone: {tone}
variables:
  product:
    description: The product.
  tone:
    default: friendly
route:
  budget: low
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, name: str = "caption") -> str:
    with pytest.raises(ConfigError) as info:
        load_template_file(write(tmp_path, name, text), TASKS)
    return str(info.value)


# -- the format ---------------------------------------------------------------------
def test_a_good_template_loads_with_its_variables_in_order(tmp_path: Path) -> None:
    template = load_template_file(write(tmp_path, "caption", GOOD), TASKS)
    assert template.variable_names() == ["product", "tone"]
    assert template.variable("tone").default == "friendly" and template.route.budget is not None
    assert template.output.format == "plain" and template.json_output is None
    assert system_tokens(template) == 4


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("task: copywriting_standard", "task: poetry"), ":2: task: unknown task 'poetry' (the policy has: chat,"),
        (("  tone:\n    default", "  tones:\n    default"), ":11: variables.tones: 'tones' is not used in the prompt"),
        (("Tone: {tone}", "Tone: {tone"), ":5: prompt: a lone '{' at character"),
        (("Tone: {tone}", "Tone: {steps.a.output}"), ":5: prompt: '{steps.a.output}': steps belong to recipes"),
        (("budget: low", "budget: cheap"), ":14: route.budget: Input should be 'low', 'standard' or 'premium'"),
        (("description: One caption.", "descripton: One caption."), ":3: descripton: unknown key 'descripton'"),
    ],
)
def test_mistakes_are_located_by_file_line_and_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    message = error_of(tmp_path, GOOD.replace(*change))
    assert "caption.yaml" in message and expected in message, message


def test_json_output_needs_an_object_schema_that_is_valid(tmp_path: Path) -> None:
    base = GOOD + "output:\n  format: json\n"
    assert "output.format: format 'json' needs a 'schema'" in error_of(tmp_path, base)
    assert "output.schema: the schema's top must be 'type: object'" in error_of(
        tmp_path, base + "  schema: {type: array}\n"
    )
    assert ":17: output.schema: not a valid JSON Schema" in error_of(
        tmp_path, base + "  schema:\n    type: object\n    required: 3\n"
    )
    plain = GOOD + "output:\n  format: markdown\n  schema: {type: object}\n"
    assert "output.schema: a schema needs format 'json' (not 'markdown')" in error_of(tmp_path, plain)


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    assert "the template is named 'caption' but its file 'other.yaml'" in error_of(tmp_path, GOOD, "other")


# -- the loader ----------------------------------------------------------------------
def test_every_shipped_template_loads_against_the_shipped_policy(raw_policy) -> None:
    book = load_templates(set(raw_policy.tasks), user=Path("/nonexistent"))
    assert book.errors == []
    by_task: dict[str, list[str]] = {}
    for name, loaded in book.templates.items():
        by_task.setdefault(loaded.template.task, []).append(name)
        assert loaded.shipped and loaded.path.parent == shipped_templates_dir()
    assert all(len(names) >= 2 for names in by_task.values()), by_task
    text_tasks = {t for t, spec in raw_policy.tasks.items() if spec.system_prompt}
    assert text_tasks <= set(by_task)  # every task with a built-in system prompt has templates


def test_a_user_template_replaces_the_shipped_one_and_a_broken_one_is_skipped(tmp_path: Path) -> None:
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    write(shipped, "caption", GOOD)
    write(shipped, "other", GOOD.replace("name: caption", "name: other"))
    write(user, "caption", GOOD.replace("Write one caption.", "Mine."))
    write(user, "other", "name: other\ntask: chat\nprompt: 'hi {x'\n")  # broken: the shipped one stays
    book = load_templates(TASKS, shipped=shipped, user=user)
    assert book.templates["caption"].template.system == "Mine." and not book.templates["caption"].shipped
    assert book.templates["caption"].overrides == shipped / "caption.yaml"
    assert book.templates["other"].shipped and book.templates["other"].overrides is None
    assert [e.path for e in book.errors] == [str(user / "other.yaml")]
    loaded, skipped = find_template("other", TASKS, shipped=shipped, user=user)
    assert loaded.shipped and [e.path for e in skipped] == [str(user / "other.yaml")]
    assert find_template("caption", TASKS, shipped=shipped, user=user)[0].template.system == "Mine."
    with pytest.raises(UnknownNameError, match="unknown template 'nope'; valid: caption, other"):
        find_template("nope", TASKS, shipped=shipped, user=user)
    with pytest.raises(UnknownNameError):
        find_template("../shipped/caption", TASKS, shipped=shipped, user=user)  # a name, never a path


# -- rendering -----------------------------------------------------------------------
def test_render_fills_values_then_defaults(tmp_path: Path) -> None:
    template = load_template_file(write(tmp_path, "caption", GOOD), TASKS)
    rendered = render_template(template, {"product": "Maple latte"})
    assert rendered.prompt == "Product: Maple latte\nTone: friendly"
    assert (rendered.system, rendered.task, rendered.json_output) == (
        "Write one caption.",
        "copywriting_standard",
        None,
    )


def test_values_are_literal_never_read_as_a_template(tmp_path: Path) -> None:
    template = load_template_file(write(tmp_path, "caption", GOOD.replace("Tone: {tone}", "{{Tone}}: {tone}")), TASKS)
    value = "{tone} {0.__class__.__mro__} {{x}} }"
    rendered = render_template(template, {"product": value, "tone": "{product}"})
    assert rendered.prompt == f"Product: {value}\n{{Tone}}: {{product}}"


def test_a_missing_or_unknown_variable_is_one_line_naming_it(tmp_path: Path) -> None:
    template = load_template_file(write(tmp_path, "caption", GOOD), TASKS)
    with pytest.raises(TemplateVariableError) as missing:
        render_template(template, {})
    assert str(missing.value) == "template 'caption' needs the variable 'product' (give --var product=VALUE)"
    with pytest.raises(TemplateVariableError) as unknown:
        render_template(template, {"product": "x", "colour": "red"})
    assert str(unknown.value) == "template 'caption' has no variable 'colour' (its variables: product, tone)"


# -- structured output ---------------------------------------------------------------
CLOSED = {
    "type": "object",
    "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    "required": ["tags"],
    "additionalProperties": False,
}


def test_validate_answer_parses_json_that_follows_the_schema() -> None:
    assert validate_answer('{"tags": ["a"]}', CLOSED) == {"tags": ["a"]}
    assert validate_answer('```json\n{"tags": ["a"]}\n```', CLOSED) == {"tags": ["a"]}  # a fence is tolerated


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Here you go: #a", "the answer is not JSON: Expecting value at line 1 column 1"),
        ('{"tags": "a"}', "the answer does not follow the schema at tags: 'a' is not of type 'array'"),
        ('{"tags": []}', "at tags: [] should be non-empty"),
        ('{"tags": ["a"], "more": 1}', "at (top): Additional properties are not allowed ('more' was unexpected)"),
    ],
)
def test_invalid_answers_say_what_is_wrong_in_one_line(text: str, expected: str) -> None:
    with pytest.raises(InvalidOutputError) as info:
        validate_answer(text, CLOSED)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_strict_mode_only_where_every_object_is_closed_and_required() -> None:
    assert strict_allowed(CLOSED)
    assert not strict_allowed({**CLOSED, "additionalProperties": True})
    assert not strict_allowed({**CLOSED, "required": []})
    nested_open = {**CLOSED, "properties": {"tags": {"type": "object", "properties": {"a": {"type": "string"}}}}}
    assert not strict_allowed(nested_open)
    assert not strict_allowed({**CLOSED, "patternProperties": {}})


def test_schema_problem() -> None:
    assert schema_problem(CLOSED) is None
    assert "top must be 'type: object'" in (schema_problem({"type": "string"}) or "")
    assert "not a valid JSON Schema at properties/a" in (
        schema_problem({"type": "object", "properties": {"a": {"type": "strnig"}}}) or ""
    )


def test_a_keyword_outside_the_common_subset_is_still_enforced() -> None:
    # prefixItems is 2020-12 only: the compiled draft-07 check would ignore it, jsonschema decides.
    schema = {"type": "object", "properties": {"pair": {"type": "array", "prefixItems": [{"type": "integer"}]}}}
    assert validate_answer('{"pair": [1, "x"]}', schema) == {"pair": [1, "x"]}
    with pytest.raises(InvalidOutputError, match="at pair/0: 'x' is not of type 'integer'"):
        validate_answer('{"pair": ["x"]}', schema)
    with pytest.raises(InvalidOutputError, match="True is not of type 'integer'"):
        validate_answer('{"n": true}', {"type": "object", "properties": {"n": {"type": "integer"}}})


def test_every_shipped_system_prompt_is_shorter_than_its_tasks_built_in_one(raw_policy) -> None:
    from sparklio_desktop.core import tokens

    book = load_templates(set(raw_policy.tasks), user=Path("/nonexistent"))
    for name, loaded in book.templates.items():
        built_in = raw_policy.tasks[loaded.template.task].system_prompt
        if built_in:
            assert system_tokens(loaded.template) < tokens.count_text(built_in)[0], name


def test_save_user_template_writes_a_file_that_loads(tmp_path: Path) -> None:
    from sparklio_desktop.core.templates import TemplateExistsError, save_user_template

    path = save_user_template("mine", "chat", "Tell me about {topic}", system="Be brief.", folder=tmp_path)
    loaded = load_template_file(path, TASKS)
    assert (loaded.system, loaded.variable_names()) == ("Be brief.", ["topic"])
    with pytest.raises(TemplateExistsError, match="you already have a template named 'mine'"):
        save_user_template("mine", "chat", "other", folder=tmp_path)
    save_user_template("mine", "chat", "other", folder=tmp_path, replace=True)
    assert load_template_file(path).prompt == "other"
    with pytest.raises(ConfigError, match=r"bad\.yaml:3: prompt: a lone '\{'"):
        save_user_template("bad", "chat", "a { b", folder=tmp_path)
    assert not (tmp_path / "bad.yaml").exists() and sorted(p.name for p in tmp_path.glob("*.yaml")) == ["mine.yaml"]
    with pytest.raises(SparklioError, match="a template's name is letters"):
        save_user_template("../x", "chat", "hi", folder=tmp_path)
