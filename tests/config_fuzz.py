"""A seeded mutator for the policy and the user catalog, and the worker that loads each mutant.

The policy and catalogs are files a person edits and may copy from anywhere, so every
kind of damage must end in one located error with the last good file still in force,
or in a valid file that routes. :func:`mutants` derives damaged files from a good one
(hostile numbers, wrong types, deleted and repeated keys, aliases, deep nesting,
truncation, random bytes); the same seed gives the same files.

The worker (``python -m tests.config_fuzz``) runs in its own process so a hang or a
runaway allocation cannot take the test run down with it: the test feeds it one mutant
per line and waits for each answer with a deadline. For each mutant it starts the app's
workspace the way a command does, checks the outcome, and routes every task of the
policy in force and prices its chain.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

USER_CATALOG = """\
# My models.
version: 1
models:
  - id: ollama/qwen2.5-coder:7b
    name: Qwen 2.5 Coder
    provider: ollama
    api_name: qwen2.5-coder:7b
    capabilities: [text]
    complex_capable: false
    local: true
    vram_gb: 5.5
    price: {input_per_mtok: "0", output_per_mtok: "0", as_of: 2026-01-01, source: local}
    speed: {seconds: [4, 9], per: output_500}
    context_tokens: 32768
    quality: 7.5
    tokenizer: {method: scaled, encoding: cl100k_base, factor: 1.05}
  - id: openrouter/mixtral
    name: Mixtral (OpenRouter)
    provider: openrouter
    api_name: mistralai/mixtral-8x7b-instruct
    base_url: https://openrouter.example/api/v1
    capabilities: [text]
    price: {input_per_mtok: "0.24", output_per_mtok: "0.24", as_of: 2026-01-01, source: openrouter}
    speed: {seconds: [2, 5], per: output_500}
    context_tokens: 32000
    quality: 7
  - id: openai/gpt-4
    name: GPT-4 (my contract)
    provider: openai
    api_name: gpt-4
    capabilities: [text]
    complex_capable: true
    price: {input_per_mtok: "25", output_per_mtok: "50", as_of: 2026-01-01, source: my contract}
    speed: {seconds: [3, 7], per: output_500}
    context_tokens: 8000
    quality: 9
  - id: openai/gpt-image-1
    name: GPT Image
    provider: openai
    api_name: gpt-image-1
    capabilities: [image_generation]
    price: {per_image: {"1024x1024": 0.04, "*": 0.08}, as_of: 2026-01-01, source: openai}
    speed: {seconds: [8, 20], per: image}
    quality: 8.5
  - id: local/nomic-embed
    name: Nomic Embed
    provider: local
    api_name: nomic-embed-text
    capabilities: [embedding]
    local: true
    vram_gb: 0.5
    embedding_dimensions: 768
    price: {input_per_mtok: "0", as_of: 2026-01-01, source: local}
    speed: {seconds: [0.1, 0.3], per: input_512}
    quality: 6
"""

HOSTILE_TEXT = [
    "0",
    "-1",
    "1e308",
    "1.0e+308",
    "-1.0e+308",
    ".inf",
    "-.inf",
    ".nan",
    "99999999999999999999999999999",
    "9" * 5000,
    "1.0e-400",
    "0.0000001",
    "'x'",
    "''",
    "null",
    "true",
    "[]",
    "{}",
    "0x7fffffffffffffff",
    "-0.0",
    "1:30",
    "2025-02-30",
    "~",
    "!!binary aGVsbG8=",
    "!!python/object:os.system {}",
    "*nowhere",
    "&a [*a]",
    "[1e308]",
    "{a: 1}",
    '"\\u0000"',
    "'\x1b[31mred'",
]
HOSTILE_VALUES = [
    0,
    -1,
    1,
    1e308,
    -1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    10**30,
    2**63,
    -(10**30),
    1e-320,
    "x",
    "",
    None,
    True,
    False,
    [],
    {},
    [1e308],
    {"x": 1},
    "0.0000001",
    "1e400",
    [[[[[]]]]],
    "\x1b]0;title\x07",
]
_NUMBER = re.compile(r"(?<![\w.\-/:])-?\d+(?:\.\d+)?(?![\w.\-/:])")
_VALUE = re.compile(r"^(?P<head>\s*(?:- )?[\w.\-]+:\s+)(?P<value>[^#\n]+)$", re.M)
_BLOCK_KEY = re.compile(r"^(?P<head>\s*[\w.\-]+:)\s*$", re.M)


def _paths(data, here=()) -> Iterator[tuple]:
    yield here
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, here + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, here + (index,))


def _structural(rng: random.Random, text: str) -> tuple[str, str]:
    """Change the parsed data (a value, a key, a type) and write valid YAML back."""
    from sparklio_desktop.core.policy import safe_yaml

    data = safe_yaml.safe_load(text)  # bounded: an earlier mutation may have planted a bomb
    path = rng.choice([p for p in _paths(data) if p])
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    op = rng.choice(["value", "value", "value", "delete", "wrap", "deep", "rename"])
    if op == "value":
        parent[last] = rng.choice(HOSTILE_VALUES)
    elif op == "delete":
        del parent[last]
    elif op == "wrap":
        parent[last] = [parent[last]]
    elif op == "deep":
        value = parent[last]
        for _ in range(rng.randint(20, 200)):
            value = [value]
        parent[last] = value
    elif op == "rename" and isinstance(parent, dict):
        parent[str(last) + "_x"] = parent.pop(last)
    return f"{op} {'.'.join(map(str, path))}", yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _textual(rng: random.Random, text: str) -> tuple[str, str]:
    """Damage the text itself."""
    lines = text.splitlines(keepends=True)
    op = rng.choice(
        [
            "number",
            "number",
            "number",
            "value",
            "delete",
            "duplicate",
            "truncate",
            "bytes",
            "recursive",
            "laughs",
            "nest",
            "alias",
            "indent",
        ]
    )
    if op == "number":
        found = list(_NUMBER.finditer(text))
        m = rng.choice(found)
        new = rng.choice(HOSTILE_TEXT)
        return f"number@{m.start()}->{new[:20]}", text[: m.start()] + new + text[m.end() :]
    if op == "value":
        found = list(_VALUE.finditer(text))
        m = rng.choice(found)
        new = rng.choice(HOSTILE_TEXT)
        return f"value@{m.start()}->{new[:20]}", text[: m.start("value")] + new + text[m.end("value") :]
    index = rng.randrange(len(lines))
    if op == "delete":
        del lines[index : index + rng.randint(1, 3)]
        return f"delete line {index + 1}", "".join(lines)
    if op == "duplicate":
        lines.insert(index, lines[index])
        return f"duplicate line {index + 1}", "".join(lines)
    if op == "indent":
        lines[index] = (" " + lines[index]) if rng.random() < 0.5 else lines[index][1:]
        return f"indent line {index + 1}", "".join(lines)
    if op == "truncate":
        cut = rng.randrange(len(text))
        return f"truncate at {cut}", text[:cut]
    if op == "bytes":
        at = rng.randrange(len(text))
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))).decode("latin-1")
        return f"bytes at {at}", text[:at] + junk + text[at:]
    if op == "recursive":
        return "recursive alias", text + "zzz: &r [*r]\n"
    if op == "laughs":
        bomb = "lol: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
        )
        return "billion laughs", text + bomb
    if op == "nest":
        depth = rng.choice([100, 1000, 100_000])
        return f"nest {depth}", text + "deep: " + "[" * depth + "]" * depth + "\n"
    # alias: anchor a block mapping and use it where a scalar was
    blocks = list(_BLOCK_KEY.finditer(text))
    values = list(_VALUE.finditer(text))
    b, v = rng.choice(blocks), rng.choice(values)
    if b.start() < v.start():
        text = text[: v.start("value")] + "*anc" + text[v.end("value") :]
        text = text[: b.end("head")] + " &anc" + text[b.end("head") :]
        return f"alias {b['head'].strip()} -> {v['head'].strip()}", text
    return f"undefined alias at {v.start()}", text[: v.start("value")] + "*anc" + text[v.end("value") :]


def mutants(base: str, seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` damaged versions of ``base``: (what was done, the file's bytes)."""
    rng = random.Random(seed)
    for _ in range(count):
        text, done = base, []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            try:
                what, text = (_structural if rng.random() < 0.45 else _textual)(rng, text)
            except Exception:  # noqa: BLE001 - the text is already too broken for this operation
                what, text = "bytes", text + "\x00"
            done.append(what)
        raw = text.encode("utf-8", "surrogateescape") if rng.random() < 0.9 else text.encode("latin-1", "replace")
        yield "; ".join(done), raw


# -- the worker ------------------------------------------------------------------------------------------------------


def _exercise(catalog, policy) -> None:
    """Use the policy and catalog in force the way a run does: route, price, wait, cache."""
    from decimal import Decimal

    from sparklio_desktop.core.ledger.money import to_picodollars
    from sparklio_desktop.core.policy import bounds
    from sparklio_desktop.core.pricing import expected_latency_s, worst_case_cost
    from sparklio_desktop.core.ratings._routing import blended_quality
    from sparklio_desktop.core.routing.live_state import LiveState
    from sparklio_desktop.core.routing.router import RouteRequest, route

    capped = LiveState(spent_usd=Decimal(60), budget_usd=Decimal(50), at_cap="local_only", alert_threshold=0.8)
    for name, task in policy.tasks.items():
        for request, live in (
            (RouteRequest(name, explore=False), LiveState()),
            (RouteRequest(name, prompt="Write a caption for a candle shop.", seed=3), LiveState()),
            (RouteRequest(name, budget="low", speed="realtime", quality="production", seed=1), capped),
        ):
            decision = route(request, catalog, policy, live)
            decision.to_dict()
            assert len(decision.candidates) >= len(decision.chain)
            for model_id in decision.chain:
                model = catalog[model_id]
                est = decision.estimate
                text_like = task.capability.value in ("text", "vision")
                max_out = max(1024, 2 * task.expected_output_tokens) if text_like else 0  # as the dispatcher
                if not model.unpriced:
                    to_picodollars(
                        worst_case_cost(
                            model, est.input_tokens, max_out, est.images, "1024x1024" if est.images else None
                        )
                    )
                latency = expected_latency_s(model, est.output_tokens, est.input_tokens, est.images)
                assert latency is None or math.isfinite(latency), latency
        ttl = policy.cache_ttl_s(name)
        if ttl is not None:
            assert ttl > 0
            datetime.now(UTC) + timedelta(seconds=ttl)
    for index in range(policy.retry.max_retries + 1):
        wait = policy.retry.backoff(index)
        assert 0 <= wait <= bounds.MAX_BACKOFF_S, wait
    for spec in policy.speed_classes.values():
        assert 0 < spec.timeout_s <= bounds.MAX_WAIT_S
    for model in catalog.values():
        assert math.isfinite(blended_quality(model.quality, 5.0, 3, policy.ratings.prior_votes))


def check(kind: str, raw: bytes, base_policy, base_catalog) -> str:
    """Load one mutant as the user's file, the way a command starts; returns the outcome.

    ``ok``: the mutant is valid and in force. ``rejected: <error>``: a located error and
    the last good file in force. Anything else raises.
    """
    from sparklio_desktop.core.errors import ConfigError
    from sparklio_desktop.core.settings import paths
    from sparklio_desktop.core.workspace import Workspace

    home = paths.data_dir()
    for name in ("policy.yaml", "catalog.yaml", "policy.last-good.yaml", "catalog.last-good.yaml"):
        (home / name).unlink(missing_ok=True)
    if kind == "policy":
        (home / "policy.last-good.yaml").write_bytes(paths.shipped_policy_path().read_bytes())
        user = home / "policy.yaml"
    else:
        (home / "catalog.last-good.yaml").write_text(USER_CATALOG, encoding="utf-8")
        user = home / "catalog.yaml"
    user.write_bytes(raw)

    workspace = Workspace()
    catalog, policy = workspace.catalog, workspace.policy
    error = workspace.policy_error if kind == "policy" else workspace.catalog_error
    other = workspace.catalog_error if kind == "policy" else workspace.policy_error
    assert other is None, f"the other file broke: {other}"
    outcome = "ok"
    if error is not None:
        assert isinstance(error, ConfigError), repr(error)
        text = str(error)
        assert text.startswith(f"{user}:"), f"error not located in {user}: {text}"
        assert error.line is not None, f"error without a line: {text}"
        assert "\n" not in text or all(line.startswith(f"{user}:") for line in text.splitlines()), text
        if kind == "policy":
            assert policy == base_policy, "the last good policy is not in force"
        else:
            assert dict(catalog) == base_catalog, "the last good catalog is not in force"
        outcome = f"rejected: {text.splitlines()[0]}"
    _exercise(catalog, policy)
    return outcome


def main() -> int:
    from sparklio_desktop.core.policy.catalog import load_catalog
    from sparklio_desktop.core.policy.routing_policy import load_policy
    from sparklio_desktop.core.settings import paths

    user_catalog = paths.data_dir() / "base-catalog.yaml"
    user_catalog.write_text(USER_CATALOG, encoding="utf-8")
    base_catalog = dict(load_catalog(user=user_catalog))
    base_policy = load_policy(paths.shipped_policy_path(), load_catalog(user=Path("/nonexistent")))
    for line in sys.stdin:
        job = json.loads(line)
        try:
            result = {"outcome": check(job["kind"], base64.b64decode(job["raw"]), base_policy, base_catalog)}
        except BaseException:  # noqa: BLE001 - every escape is the finding
            result = {"outcome": "failed", "traceback": traceback.format_exc(limit=-8)}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
