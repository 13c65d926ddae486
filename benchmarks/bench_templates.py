"""What a template adds to a request: rendering its variables and checking a JSON answer
against its schema (issue 17: at most 1 ms per request, median and p95).

Reports, over N runs each (default 2,000), median and p95 in microseconds:
- render: ``render_template`` of the shipped ``product_caption`` (four variables, two
  from defaults) and of ``translate_with_glossary`` with a 2,000-word text;
- validate: ``validate_answer`` of a 10-hashtag answer against ``hashtag_set``'s schema
  and of a 6-phase answer against ``campaign_plan``'s (nested objects);
- render + validate: both, as one JSON request pays them (the target);
- load: ``find_template`` (reading and checking the YAML file), paid once per ``sparklio
  run --template``, reported apart; and the first check of a schema (``fastjsonschema``
  compiles it), paid once per schema per process.

Run: python benchmarks/bench_templates.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-templates-")

from sparklio_desktop.core.structured_output import validate_answer  # noqa: E402
from sparklio_desktop.core.templates import find_template, render_template  # noqa: E402


def timed(label: str, runs: int, body: Callable[[], object]) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        body()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    median, p95 = statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<44} median {median:8.1f} µs   p95 {p95:8.1f} µs")
    return median, p95


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    caption = find_template("product_caption")[0].template
    glossary = find_template("translate_with_glossary")[0].template
    hashtags = find_template("hashtag_set")[0].template
    campaign = find_template("campaign_plan")[0].template
    assert hashtags.output.json_schema is not None and campaign.output.json_schema is not None
    hashtag_answer = json.dumps({"hashtags": [f"tag{i}" for i in range(10)]})
    campaign_answer = json.dumps(
        {
            "phases": [
                {"name": f"phase {i}", "channels": ["Instagram", "TikTok", "email"], "measure": "CTR"} for i in range(6)
            ]
        }
    )
    text = " ".join(f"word{i}" for i in range(2000))

    start = time.perf_counter()
    validate_answer(hashtag_answer, hashtags.output.json_schema)
    print(
        f"{'first check of a schema (compiles it)':<44} {1000 * (time.perf_counter() - start):8.1f} ms, once per schema"
    )

    timed("load: find_template('product_caption')", max(runs // 10, 50), lambda: find_template("product_caption"))
    timed("render: product_caption", runs, lambda: render_template(caption, {"product": "Maple latte, oat milk"}))
    timed(
        "render: translate_with_glossary (2,000 words)",
        runs,
        lambda: render_template(glossary, {"language": "French", "glossary": "Sparklio=Sparklio", "text": text}),
    )
    timed("validate: hashtag_set (10 tags)", runs, lambda: validate_answer(hashtag_answer, hashtags.output.json_schema))
    timed(
        "validate: campaign_plan (6 nested phases)",
        runs,
        lambda: validate_answer(campaign_answer, campaign.output.json_schema),
    )

    def both() -> None:
        render_template(hashtags, {"topic": "morning coffee"})
        validate_answer(campaign_answer, campaign.output.json_schema)

    median, p95 = timed("render + validate (the target: <= 1 ms)", runs, both)
    print(f"target {'met' if p95 <= 1000 else 'MISSED'}: p95 {p95 / 1000:.3f} ms per request")


if __name__ == "__main__":
    main()
