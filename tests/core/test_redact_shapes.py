"""``has_key_shape``: the cheap test the ledger runs on every routing trace before it walks
it for keys must say yes exactly when ``redact`` would change the text, or a key-shaped
string would be stored unredacted (a miss) or every trace walked (a false alarm)."""

from __future__ import annotations

import json
import random
import string

import pytest

from sparklio_desktop.core.redact import REDACTED, has_key_shape, redact

SHAPES = [
    "sk-ant-abcdefgh1234",
    "sk-proj-ABCDEFGHIJKLMNOP12",
    "sk-abcdefghijklmnopqrst",
    "AIzaSyA12345678901234567890",
    "Authorization: Bearer abcdefgh123",
    "BEARER    abcdefgh123",
    "x-goog-api-key: abcdefgh1234",
    '{"api_key": "abcdef123456"}',
    "API-KEY=abcdefgh12",
    "X-Api-Key=zzzzzzzzzz",
    "apikey:'12345678'",
]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_key_shape_is_seen_wherever_it_sits(shape: str) -> None:
    rnd = random.Random(shape)
    for _ in range(100):
        before = "".join(rnd.choice(string.printable) for _ in range(rnd.randint(0, 300)))
        after = "".join(rnd.choice(string.printable) for _ in range(rnd.randint(0, 300)))
        text = before + rnd.choice([" ", "", "x", "="]) + shape + rnd.choice([" ", "", "x"]) + after
        assert has_key_shape(text) == (redact(text) != text), text


def test_agrees_with_redact_on_text_made_of_the_shapes_pieces() -> None:
    rnd = random.Random(16)
    pieces = ["sk-", "ant-", "proj-", "AIza", "aiza", "Bearer", "bearer", " ", "  ", "api", "API", "_", "-", "key",
              "KEY", "x-goog-", "x-", ":", "=", '"', "'", "abcd", "1234", "Zz9.", "/", "\n"]  # fmt: skip
    seen = 0
    for _ in range(20_000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40)))
        changed = redact(text) != text
        seen += changed
        assert has_key_shape(text) == changed, text
    assert seen > 100  # the alphabet does make keys: both answers were exercised


def test_a_trace_naming_the_missing_key_rule_holds_no_key() -> None:
    trace = json.dumps(
        {"excluded": [{"model": f"anthropic/m{i}", "rule": "no_api_key", "why": "no API key set"} for i in range(30)]}
    )
    assert not has_key_shape(trace)
    leaked = trace.replace("no API key set", "api_key=abcdefgh12345")
    assert has_key_shape(leaked) and REDACTED in redact(leaked)
