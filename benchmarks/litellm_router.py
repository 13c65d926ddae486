"""LiteLLM's side of the routing benchmark: one ``Router.async_get_available_deployment``
over 10 deployments of one model name, the call LiteLLM makes to pick a deployment.

Run by ``bench_routing.py`` with the interpreter named in ``SPARKLIO_BENCH_LITELLM_PYTHON``
(LiteLLM lives in its own virtual environment, never in Sparklio's); prints one JSON
line: ``{"version": ..., "deployments": 10, "median_us": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch at import


async def main(rounds: int) -> None:
    import importlib.metadata

    import litellm  # noqa: F401  (imported for its side effects before the router)
    from litellm import Router

    warnings.simplefilter("ignore")  # the method is deprecated in favour of Router.select; we time it as named
    deployments = 10
    router = Router(
        model_list=[
            {
                "model_name": "gpt-3.5-turbo",
                "litellm_params": {
                    "model": "openai/gpt-3.5-turbo",
                    "api_key": f"sk-bench-{i:02d}",
                    "api_base": f"http://127.0.0.1:{9000 + i}/v1",
                },
            }
            for i in range(deployments)
        ]
    )
    messages = [{"role": "user", "content": "Write a caption for an autumn coffee launch."}]
    for _ in range(200):
        await router.async_get_available_deployment(model="gpt-3.5-turbo", messages=messages, request_kwargs={})
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await router.async_get_available_deployment(model="gpt-3.5-turbo", messages=messages, request_kwargs={})
        samples.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "version": importlib.metadata.version("litellm"),
                "deployments": deployments,
                "median_us": statistics.median(samples) * 1e6,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
