"""LiteLLM's side of benchmarks/bench_dispatch.py, run by another interpreter.

LiteLLM and its dependencies live in their own virtual environment (they would pin the
app's own packages), so bench_dispatch.py runs this script with that environment's
Python (``SPARKLIO_BENCH_LITELLM_PYTHON``) against its loopback server. It imports
nothing of Sparklio. It reads one JSON object on standard input (``url``, ``key``,
``model``, ``messages``, ``max_tokens``, ``warm``, ``runs``) and prints one JSON object:
the time to first token of the bare OpenAI SDK and of ``litellm.acompletion``, measured
alternately in this process, so LiteLLM's overhead is compared with the SDK it wraps.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

# LiteLLM fetches its price map from GitHub at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "ERROR")


async def _first_token(stream: Any) -> float | None:
    first = None
    async for chunk in stream:
        choices = getattr(chunk, "choices", None) or ()
        if first is None and choices and getattr(choices[0].delta, "content", None):
            first = time.perf_counter()
    return first


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    import litellm
    import openai

    litellm.suppress_debug_info = True
    sdk = openai.AsyncOpenAI(base_url=spec["url"], api_key=spec["key"], max_retries=0)
    params = {
        "messages": spec["messages"],
        "max_tokens": spec["max_tokens"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def bare() -> float:
        start = time.perf_counter()
        first = await _first_token(await sdk.chat.completions.create(model=spec["model"], **params))
        assert first is not None
        return first - start

    async def through_litellm() -> float:
        start = time.perf_counter()
        stream = await litellm.acompletion(
            model=f"openai/{spec['model']}", api_base=spec["url"], api_key=spec["key"], num_retries=0, **params
        )
        first = await _first_token(stream)
        assert first is not None
        return first - start

    for _ in range(spec["warm"]):
        await bare()
        await through_litellm()
    bare_s: list[float] = []
    litellm_s: list[float] = []
    for _ in range(spec["runs"]):
        bare_s.append(await bare())
        litellm_s.append(await through_litellm())
    await sdk.close()
    from importlib.metadata import version

    return {"litellm": version("litellm"), "openai": version("openai"), "bare_s": bare_s, "litellm_s": litellm_s}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
