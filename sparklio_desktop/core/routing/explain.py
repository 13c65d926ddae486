"""The decision in plain words, for a creator rather than an engineer.

The structured trace (candidates, scores, rules) sits next to this text. The text leads
with one sentence that answers "why this model" (:func:`lead_sentence`), saying so when
the best total score did not win because the task table chose another; then it
names what it should cost, what happens if it fails,
and the exclusions a person would ask about: models the task table wanted but could
not have, and anything the budget cap removed. Money is written in the one display form
(core/money.py). The router builds this text only when a decision's ``explanation`` is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.naming import task_words
from sparklio_desktop.core.routing.decision import Candidate, Estimate, ResolvedOptions, Rule

_RULE_WORDS = {rule.value: rule.text for rule in Rule}
_PLACES = 4  # a stored trace keeps totals to 4 places: the live decision compares them the same way


class Pick(NamedTuple):
    """What the lead sentence reads of a candidate: from a live
    :class:`~sparklio_desktop.core.routing.decision.Candidate` or a stored trace's dict alike,
    so a past request leads with the sentence its decision led with."""

    id: str
    name: str
    role: str
    total: float
    excluded: str = ""  # the rule's words when the candidate was left out

    @classmethod
    def of(cls, candidate: Candidate) -> Pick:
        rule = candidate.excluded_by
        return cls(candidate.id, candidate.name, candidate.role, candidate.scores.total, rule.text if rule else "")

    @classmethod
    def of_dict(cls, candidate: Mapping[str, Any]) -> Pick:
        rule = candidate.get("excluded_by")
        total = (candidate.get("scores") or {}).get("total") or 0.0
        words = _RULE_WORDS.get(rule, str(rule).replace("_", " ")) if rule else ""
        model_id = str(candidate.get("id") or "")
        return cls(model_id, str(candidate.get("name") or model_id), str(candidate.get("role") or ""), total, words)


def lead_sentence(task: str, chain: Sequence[Pick], best: Pick | None, table_first: Pick | None) -> str:
    """One sentence: why the chain's first model answers. ``task``: the task in words
    (lower case); ``best``: the eligible candidate with the best total score; ``table_first``:
    the task table's first choice (when it is a candidate).

    "Claude 3.5 Sonnet: the task table's first choice for copywriting." /
    "Claude 3.5 Sonnet leads on total score (0.81) but the task table puts GPT-4 first for
    translation." / "GPT-4o Mini: the best total score (0.82) for chat that fits your options."
    """
    if not chain:
        return f"No model fits this {task} request."
    first = chain[0]
    out = its = ""  # why the task table's first choice is out; ``its``: after the table was just named
    if table_first is not None and table_first.id != first.id and table_first.excluded:
        why = f"{table_first.name}, is out: {table_first.excluded})"
        out, its = f" (the task table's first choice, {why}", f" (its first choice, {why}"
    beaten = best is not None and best.id != first.id and round(best.total, _PLACES) > round(first.total, _PLACES)
    lead_by = _score(best.total, first.total) if best is not None else ""
    if first.role == "primary":
        if beaten and best is not None:
            return (
                f"{best.name} leads on total score ({lead_by}) but the task table puts {first.name} first for {task}."
            )
        return f"{first.name}: the task table's first choice for {task}."
    if first.role == "fallback":
        if beaten and best is not None:
            return (
                f"{best.name} leads on total score ({lead_by}) but the task table puts "
                f"{first.name} next for {task}{its}."
            )
        return f"{first.name}: next in the task table's chain for {task}{its}."
    if first.role == "fill-in":
        if beaten and best is not None:  # the chain puts cloud fill-ins before local ones
            return (
                f"{first.name}: the best total score among cloud models ({_score(first.total, best.total)}) "
                f"for {task}; local models such as {best.name} ({lead_by}) go last{out}."
            )
        return f"{first.name}: the best total score ({first.total:.2f}) for {task} that fits your options{out}."
    if first.role == "last resort":
        return f"{first.name}: a local model, the only kind left for {task}{out}."
    if first.role == "exploration":
        usual = f" instead of {chain[1].name}" if len(chain) > 1 else ""
        why = "a small share of requests tries an alternative"
        return f"{first.name}: an A/B exploration pick for {task}{usual} ({why})."
    if first.role == "rated":
        ahead = f"ahead of {table_first.name}, " if table_first is not None and table_first.id != first.id else ""
        return f"{first.name}: creators' ratings put it {ahead}the task table's first choice for {task}."
    return f"{first.name}: it fits this {task} request."


def _score(best: float, other: float) -> str:
    """The best total as few places as tell it apart from ``other`` ("0.81", else "0.812")."""
    for places in (2, 3):
        if f"{best:.{places}f}" != f"{other:.{places}f}":
            return f"{best:.{places}f}"
    return f"{best:.{_PLACES}f}"


def lead_from_trace(trace: Mapping[str, Any], table: Sequence[str] = ()) -> str:
    """:func:`lead_sentence` of a stored trace (``RoutingDecision.to_dict()``). ``table``: the
    task table's model ids, family references resolved (the trace's ``families`` resolve
    them: see :func:`table_of_trace`)."""
    options = trace.get("options") or {}
    candidates = [Pick.of_dict(c) for c in trace.get("candidates") or []]
    by_id = {c.id: c for c in candidates}
    chain = [by_id.get(m) or Pick(m, m, "", 0.0) for m in trace.get("chain") or []]
    eligible = [c for c in candidates if not c.excluded]
    best = max(eligible, key=lambda c: c.total, default=None)
    first = by_id.get(table[0]) if table else None
    return lead_sentence(task_words(None, str(options.get("task") or "")).lower(), chain, best, first)


def table_of_trace(trace: Mapping[str, Any], chain: Sequence[str]) -> list[str]:
    """A task table's chain (model ids and family references) as the trace resolved it."""
    refs = {f.get("ref"): f.get("model") for f in trace.get("families") or [] if isinstance(f, Mapping)}
    return [str(refs.get(m) or m) for m in chain]


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown time"
    return f"about {value:.1f} s" if value < 10 else f"about {value:.0f} s"


def explain(
    options: ResolvedOptions,
    chain: Sequence[Candidate],
    wanted: Sequence[Candidate],
    capped: Sequence[Candidate],
    excluded: Sequence[Candidate],
    estimate: Estimate,
    notes: Sequence[str] = (),
    lead: str = "",
) -> str:
    """``chain``: the chain's candidates in order; ``wanted``: the task table's models that
    were excluded; ``capped``: a few others the budget cap removed; ``excluded``: when
    nothing fits, the excluded candidates; ``lead``: the :func:`lead_sentence` the text
    starts with (the router's; else the chain's first model and its role)."""
    exploration = bool(chain) and chain[0].role == "exploration"
    setting = f"{options.budget} budget, {options.speed} speed, {options.quality} quality"
    task = task_words(None, options.task).lower()
    if not chain:
        reasons = [f"{c.name} ({c.excluded_by.text})" for c in excluded if c.excluded_by][:6]
        text = f"No model fits this {task} request with {setting}."
        if reasons:
            text += " Ruled out: " + "; ".join(reasons) + "."
        return " ".join([text, *notes])
    lead = lead or lead_sentence(task, [Pick.of(c) for c in chain], None, None)
    parts = [lead, f"Options: {setting}."]
    work = f"{estimate.input_tokens:,} input"
    if estimate.output_tokens:
        work += f" and {estimate.output_tokens:,} output tokens"
    else:
        work += " tokens"
    if estimate.images and options.capability == "image_generation":
        work = f"{estimate.images} image" + ("s" if estimate.images != 1 else "")
    parts.append(f"Estimated {format_usd(estimate.cost_usd)} for {work}, {_seconds(estimate.latency_s)}.")
    if len(chain) > 1:
        rest = [c.name + (" (local)" if c.local else "") for c in chain[1:]]
        parts.append("If it fails: " + ", then ".join(rest) + ".")
    skipped = [
        f"{c.name} ({c.excluded_by.text if c.excluded_by else 'excluded'}: {c.exclusion_detail})"
        for c in [*wanted, *capped]
    ]
    if skipped:
        parts.append("Not used: " + "; ".join(skipped) + ".")
    if exploration:
        parts.append("This pick is an A/B exploration; your rating of it helps tune the routing.")
    parts.extend(notes)
    return " ".join(parts)
