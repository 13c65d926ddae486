"""Structured output on the wire: each provider's own mode, against its loopback fake.

OpenAI ``response_format`` (json_schema, strict where the schema allows), Gemini
``responseMimeType`` + ``responseSchema`` (the OpenAPI subset), Anthropic a forced tool
call whose streamed input is the answer, Ollama ``format`` with the schema. The fakes
refuse a malformed mode as the real APIs do, so a client that sent one would fail here.
"""

from __future__ import annotations

import json
from typing import Any

from sparklio_desktop.core.providers.anthropic_client import AnthropicClient
from sparklio_desktop.core.providers.base import ChatRequest, Endpoint, Message, TextDelta
from sparklio_desktop.core.providers.gemini_client import GeminiClient, gemini_schema
from sparklio_desktop.core.providers.ollama_client import OllamaClient
from sparklio_desktop.core.providers.openai_client import OpenAIClient
from sparklio_desktop.core.structured_output import JsonOutput, validate_answer
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.gemini_server import GeminiServer
from tests.fakes.ollama_server import OllamaServer
from tests.fakes.openai_server import OpenAIServer
from tests.providers.stream_contract import collect, drive_client

CLOSED = {
    "type": "object",
    "properties": {"hashtags": {"type": "array", "items": {"type": "string"}}},
    "required": ["hashtags"],
    "additionalProperties": False,
}
OPEN = {"type": "object", "properties": {"title": {"type": "string"}, "n": {"type": "integer"}}, "required": ["title"]}
ANSWER = '{"hashtags": ["coffee", "morning"]}'


def request(endpoint: Endpoint, schema: dict[str, Any] = CLOSED) -> ChatRequest:
    return ChatRequest(
        endpoint,
        (Message("system", "Suggest hashtags."), Message("user", "Topic: coffee")),
        max_output_tokens=100,
        json_output=JsonOutput("hashtag_set", schema, "Hashtags for a post."),
    )


def text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_openai_sends_a_strict_json_schema_when_every_object_is_closed() -> None:
    with OpenAIServer() as server:
        server.reply_text = ANSWER
        ep = Endpoint("openai", "gpt-4o", server.api_url, "sk-test-0123456789abcdef")
        got = drive_client(lambda: OpenAIClient(), lambda c: collect(c, request(ep)))
        body = server.requests[-1].body
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "hashtag_set", "schema": CLOSED, "strict": True, "description": "Hashtags for a post."},
    }
    assert validate_answer(text(got), CLOSED) == {"hashtags": ["coffee", "morning"]}


def test_openai_sends_strict_false_for_a_schema_strict_mode_refuses() -> None:
    with OpenAIServer() as server:
        server.reply_text = '{"title": "x"}'
        ep = Endpoint("openai", "gpt-4o", server.api_url, "sk-test-0123456789abcdef")
        drive_client(lambda: OpenAIClient(), lambda c: collect(c, request(ep, OPEN)))
        body = server.requests[-1].body
    assert body["response_format"]["json_schema"]["strict"] is False  # strict: true would be a 400


def test_openai_sends_no_response_format_for_a_plain_request() -> None:
    with OpenAIServer() as server:
        ep = Endpoint("openai", "gpt-4o", server.api_url, "sk-test-0123456789abcdef")
        drive_client(lambda: OpenAIClient(), lambda c: collect(c, ChatRequest(ep, (Message("user", "hi"),))))
        assert "response_format" not in server.requests[-1].body


def test_anthropic_forces_a_tool_call_and_streams_its_input_as_the_answer() -> None:
    with AnthropicServer() as server:
        server.reply_text = ANSWER
        ep = Endpoint("anthropic", "claude-3-5-sonnet-latest", server.base_url, "sk-ant-test-0123456789")
        got = drive_client(lambda: AnthropicClient(), lambda c: collect(c, request(ep)))
        body = server.requests[-1].body
    assert body["tool_choice"] == {"type": "tool", "name": "hashtag_set"}
    assert body["tools"] == [{"name": "hashtag_set", "description": "Hashtags for a post.", "input_schema": CLOSED}]
    assert body["system"] == "Suggest hashtags."
    assert json.loads(text(got)) == {"hashtags": ["coffee", "morning"]}


def test_gemini_asks_for_json_with_a_response_schema_in_its_subset() -> None:
    with GeminiServer(reply_text=ANSWER) as server:
        ep = Endpoint("google", "gemini-2.5-flash", server.base_url, "test-key")
        got = drive_client(lambda: GeminiClient(), lambda c: collect(c, request(ep)))
        config = server.requests[-1].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"]["hashtags"]["items"]["type"].lower() == "string"
    assert "additionalProperties" not in config["responseSchema"]  # not in Gemini's Schema: a 400 there
    assert validate_answer(text(got), CLOSED) == {"hashtags": ["coffee", "morning"]}


def test_gemini_schema_keeps_the_subset_recursively() -> None:
    schema = {
        "type": "object",
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "additionalProperties": False,
        "properties": {"items": {"type": "array", "items": {"type": "object", "additionalProperties": False}}},
    }
    assert gemini_schema(schema) == {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "object"}}},
    }


def test_ollama_sends_the_schema_as_format() -> None:
    with OllamaServer(reply_text=ANSWER, installed=["llama3.2:3b"]) as server:
        ep = Endpoint("ollama", "llama3.2:3b", server.base_url)
        got = drive_client(OllamaClient, lambda c: collect(c, request(ep)))
        body = server.requests[-1].body
    assert body["format"] == CLOSED
    assert json.loads(text(got)) == {"hashtags": ["coffee", "morning"]}


def test_the_fakes_queue_an_invalid_then_a_valid_answer() -> None:
    with OpenAIServer() as server:
        server.replies = ['{"hashtags": "not a list"}', ANSWER]
        ep = Endpoint("openai", "gpt-4o", server.api_url, "sk-test-0123456789abcdef")
        first = drive_client(lambda: OpenAIClient(), lambda c: collect(c, request(ep)))
        second = drive_client(lambda: OpenAIClient(), lambda c: collect(c, request(ep)))
    assert text(first) == '{"hashtags": "not a list"}'
    assert text(second) == ANSWER
