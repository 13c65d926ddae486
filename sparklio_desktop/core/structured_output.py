"""Structured output: the JSON Schema a template (or a request) asks the answer to follow.

Why here and not in each provider: every provider has its own structured-output mode
(OpenAI ``response_format``, Gemini ``responseSchema``, Anthropic a forced tool call,
Ollama ``format``), but none of them is a guarantee (Gemini and Ollama only steer the
sampler; a model may still stop early). So the dispatcher checks every answer here, the
same way whichever provider wrote it, and a failure is retried once on the same model
with the validation error, then the chain moves on (docs/templates.md).

``jsonschema`` (the reference, and the words of every error) and ``fastjsonschema`` (a
compiled check that passes valid answers quickly) are imported on first use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sparklio_desktop.core.errors import SparklioError

__all__ = ["InvalidOutputError", "JsonOutput", "schema_problem", "strict_allowed", "validate_answer"]

MAX_ERROR_CHARS = 300


class InvalidOutputError(SparklioError):
    """An answer that is not JSON, or not JSON that follows the schema (one line)."""


@dataclass(frozen=True)
class JsonOutput:
    """Ask for one JSON object that follows ``schema`` (a JSON Schema whose top is an object).

    ``name`` names the schema where a provider wants one (OpenAI's ``json_schema.name``,
    Anthropic's tool): letters, digits, ``_`` and ``-``, 64 at most."""

    name: str
    schema: Mapping[str, Any] = field(hash=False)
    description: str = ""

    @property
    def strict(self) -> bool:
        """Whether OpenAI's strict mode can take the schema (see :func:`strict_allowed`)."""
        return strict_allowed(self.schema)

    def key(self) -> str:
        """A stable text of the request for the answer cache's key."""
        return json.dumps({"name": self.name, "schema": self.schema}, sort_keys=True, default=str)


def schema_problem(schema: object) -> str | None:
    """Why ``schema`` cannot be used (not a valid JSON Schema, or its top is not an object), or None."""
    if not isinstance(schema, Mapping):
        return "the schema is a mapping (a JSON Schema)"
    if schema.get("type") != "object":
        return "the schema's top must be 'type: object' (every provider's mode returns an object)"
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"not a valid JSON Schema{f' at {where}' if where else ''}: {_short(exc.message)}"
    return None


# The keywords OpenAI's strict mode accepts (its Structured Outputs guide, "Supported schemas").
_STRICT_KEYS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "description",
        "anyOf",
        "const",
        "title",
        "minItems",
        "maxItems",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    }
)


def strict_allowed(schema: Mapping[str, Any]) -> bool:
    """OpenAI's strict mode needs every object closed (``additionalProperties: false``) with
    all its properties required, and only the keywords it supports; otherwise the schema
    is sent with ``strict: false`` (a hint the model follows, checked here afterwards)."""
    if not set(schema) <= _STRICT_KEYS:
        return False
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema.get("required", ())) != set(props):
            return False
        if not all(isinstance(p, Mapping) and strict_allowed(p) for p in props.values()):
            return False
    items = schema.get("items")
    if isinstance(items, Mapping) and not strict_allowed(items):
        return False
    any_of = schema.get("anyOf")
    return not (isinstance(any_of, list) and not all(isinstance(s, Mapping) and strict_allowed(s) for s in any_of))


def validate_answer(text: str, schema: Mapping[str, Any]) -> Any:
    """The answer parsed, when it is JSON that follows ``schema``; :class:`InvalidOutputError` otherwise.

    A fenced block (```json ... ```) around the object is accepted: some models add one
    even in JSON mode, and the object inside is what was asked for."""
    body = _unfenced(text.strip())
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidOutputError(f"the answer is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if _compiled(schema)(data):
        return data  # the common case, in microseconds
    from jsonschema.exceptions import best_match

    # jsonschema is the reference and words the error; the compiled check only speeds up
    # the answers that pass.
    error = best_match(_validator(schema).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise InvalidOutputError(f"the answer does not follow the schema at {where}: {_short(error.message)}")
    return data


# Checkers by schema object (a template's schema is the same object on every request), kept
# with the schema so that its id is never reused while the entry lives.
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Any]] = {}
_COMPILED: dict[int, tuple[Mapping[str, Any], Callable[[Any], bool]]] = {}
_MAX_KEPT = 256


def _validator(schema: Mapping[str, Any]) -> Any:
    kept = _VALIDATORS.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    from jsonschema import Draft202012Validator

    if len(_VALIDATORS) >= _MAX_KEPT:
        _VALIDATORS.clear()
    validator = Draft202012Validator(schema)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


# Keywords that mean the same in draft-07 (fastjsonschema) and 2020-12 (jsonschema).
_COMMON_KEYS = _STRICT_KEYS | {"minLength", "maxLength", "minProperties", "maxProperties", "uniqueItems", "default"}


def _common(schema: object) -> bool:
    if not isinstance(schema, Mapping) or not set(schema) <= _COMMON_KEYS:
        return False
    subs = list(schema.get("properties", {}).values()) + list(schema.get("anyOf", []))
    if "items" in schema:
        subs.append(schema["items"])
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping):
        subs.append(additional)
    return all(_common(sub) for sub in subs)


def _compiled(schema: Mapping[str, Any]) -> Callable[[Any], bool]:
    """The schema compiled to Python by ``fastjsonschema`` (tens of times faster than
    ``jsonschema`` on a valid answer: issue 17's 1 ms per request), as a yes/no check; a
    schema it cannot compile is always "no", so ``jsonschema`` decides."""
    kept = _COMPILED.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    import fastjsonschema

    try:
        if not _common(schema):  # a keyword whose meaning differs by draft: jsonschema alone
            raise fastjsonschema.JsonSchemaDefinitionException("not in the common subset")
        validate = fastjsonschema.compile(dict(schema))
    except fastjsonschema.JsonSchemaException:

        def check(data: Any) -> bool:
            return False
    else:

        def check(data: Any) -> bool:
            try:
                validate(data)
            except fastjsonschema.JsonSchemaException:
                return False
            return True

    if len(_COMPILED) >= _MAX_KEPT:
        _COMPILED.clear()
    _COMPILED[id(schema)] = (schema, check)
    return check


def _unfenced(text: str) -> str:
    if text.startswith("```") and text.endswith("```") and "\n" in text:
        return text[text.index("\n") + 1 : -3].strip()
    return text


def _short(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"
