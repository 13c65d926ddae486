"""The live state: what is true right now, outside the policy, as the router reads it.

Kept apart from the router so that the scoring loop, the planner that builds it and the
probes that feed it can name it without importing the router (no import cycle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.ollama_hosts import OllamaHost


@dataclass(frozen=True)
class LiveState:
    """What is true right now, outside the policy.

    ``unavailable`` maps a model id to the availability rule that keeps it out (and an
    optional detail). ``spent_usd``/``budget_usd`` are this month's figures; with
    ``capped`` True paid models are excluded by the budget cap. ``quality`` maps model
    ids to the quality score to use for this task (ratings blended in); absent ids use
    the catalog's score.
    """

    unavailable: Mapping[str, tuple[Rule, str]] = field(default_factory=dict)
    spent_usd: Decimal | None = None
    budget_usd: Decimal | None = None
    at_cap: str = "local_only"
    alert_threshold: float = 0.8
    quality: Mapping[str, float] = field(default_factory=dict)
    # votes behind each blended quality; a model with enough of them can move ahead in the chain
    rating_votes: Mapping[str, int] = field(default_factory=dict)
    # local model id -> the installed Ollama tag it runs as (core.routing.live.resolve_ollama_tag)
    local_tags: Mapping[str, str] = field(default_factory=dict)
    # local model id -> the Ollama host that serves it, when several hosts are configured
    # (core.routing.ollama_hosts); empty with one host, whose models all run on it
    ollama_hosts: Mapping[str, OllamaHost] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        return self.budget_usd is not None and self.spent_usd is not None and self.spent_usd >= self.budget_usd

    @property
    def past_alert(self) -> bool:
        if self.budget_usd is None or self.spent_usd is None or self.budget_usd <= 0:
            return False
        return self.spent_usd >= self.budget_usd * Decimal(str(self.alert_threshold))


EVERYTHING_AVAILABLE = LiveState()
