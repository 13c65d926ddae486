"""The routing options ``route``, ``run`` and ``compare`` share, and the task names.

They live with the commands rather than in ``cli.py`` so that a command never imports the
entry point that imports it (the import-linter layers contract in ``pyproject.toml``).
"""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._args import SQLITE_INT_MAX, int_in

TASKS = (
    "chat",
    "brief_questions",
    "copywriting_standard",
    "copywriting_premium",
    "strategy_planning",
    "template_generation",
    "trend_analysis",
    "image_analysis",
    "image_generation_quality",
    "image_generation_bulk",
    "code_generation",
    "translation",
    "embeddings",
)
COMPLEXITIES = ("simple", "medium", "complex")
BUDGETS = ("low", "standard", "premium")
SPEEDS = ("realtime", "standard", "batch")
QUALITIES = ("draft", "standard", "production")


def add_route_options(parser: argparse.ArgumentParser, task_required: bool = True) -> None:
    """The routing options shared by ``route``, ``run`` and ``compare``."""
    # Not argparse choices: a user policy may add task types, and the policy (loaded by the
    # command) is what knows them; an unknown name is refused there with the list.
    parser.add_argument(
        "--task",
        required=task_required,
        metavar="TASK",
        help="task type from the policy's task table: " + ", ".join(TASKS) + ", or one your policy adds",
    )
    parser.add_argument("--complexity", choices=COMPLEXITIES)
    parser.add_argument("--budget", choices=BUDGETS)
    parser.add_argument("--speed", choices=SPEEDS)
    parser.add_argument("--quality", choices=QUALITIES)
    parser.add_argument("--seed", type=int_in(0, SQLITE_INT_MAX), metavar="N", help="seed the A/B exploration draw")
    parser.add_argument("--no-explore", action="store_true", help="never make an A/B exploration pick")
