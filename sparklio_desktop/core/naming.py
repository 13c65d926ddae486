"""Plain words for what the app shows a person: model names, task names, the fallback
chain and what a run actually did.

Why one module: ids ("anthropic/claude-3-5-sonnet", "copywriting_standard") are the
contract of the JSON, the ledger and the policy, but a creator reads names ("Claude 3.5
Sonnet", "Copywriting"). Every front end (the inspector, the route panel, the composer's
result line, the CLI's text) asks here, so a model or a task reads the same everywhere
and an id never leaks into a sentence because one view forgot to look it up.

Qt-free and free of the dispatcher's modules: a run's attempts reach
:func:`outcome_sentence` as :class:`Try` values, built by the caller from whatever holds
them (a finished run's ``AttemptInfo``, the ledger's ``AttemptRecord``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from sparklio_desktop.core.policy.catalog import ModelSpec
    from sparklio_desktop.core.policy.routing_policy import Policy

__all__ = [
    "provider_name",
    "Try",
    "chain_words",
    "error_words",
    "fallback_words",
    "model_name",
    "outcome_sentence",
    "outcome_words",
    "readable_id",
    "task_description",
    "task_words",
    "times",
]

NameOf = Callable[[str], str]

# The shipped tasks' names in words; a task a user adds reads as its id in words.
_TASK_WORDS = {
    "chat": "Chat",
    "brief_questions": "Brief questions",
    "copywriting_standard": "Copywriting",
    "copywriting_premium": "Premium copywriting",
    "strategy_planning": "Strategy and planning",
    "template_generation": "Templates",
    "trend_analysis": "Trend analysis",
    "image_analysis": "Image analysis",
    "image_generation_quality": "Image generation",
    "image_generation_bulk": "Bulk image generation",
    "code_generation": "Code generation",
    "translation": "Translation",
    "embeddings": "Embeddings",
}


PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "ollama": "Ollama"}


def provider_name(provider: str) -> str:
    """A provider as people write it ("OpenAI"), the id itself for one we do not know."""
    return PROVIDER_NAMES.get(provider, provider)


def readable_id(model_id: str) -> str:
    """A model id in the form a person can read when the catalog does not name it: the
    provider's model name without the provider ("openai/gpt-4o" -> "gpt-4o"); never empty."""
    text = (model_id or "").strip()
    if not text:
        return "an unknown model"
    _, _, rest = text.partition("/")
    return rest.strip() or text


def model_name(catalog: Mapping[str, ModelSpec], model_id: str) -> str:
    """The catalog's name of the model ("Claude 3.5 Sonnet"), else :func:`readable_id` (a model
    the catalog no longer lists, say one a past request used); never empty."""
    model = catalog.get(model_id) if model_id else None
    return model.name if model is not None else readable_id(model_id)


def task_words(policy: Policy | None, task: str) -> str:
    """A task's name in words ("copywriting_standard" -> "Copywriting"): the shipped tasks from
    a small table, any other from its id ("social_threads" -> "Social threads")."""
    known = _TASK_WORDS.get(task)
    if known is not None:
        return known
    words = " ".join(task.replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else "Unknown task"


def task_description(policy: Policy | None, task: str) -> str:
    """The policy's one line about the task ("Captions, posts and product copy."), or ""."""
    if policy is None:
        return ""
    spec = policy.tasks.get(task)
    return spec.description if spec is not None else ""


def fallback_words(names: Sequence[str]) -> str:
    """What follows the first model, in words: "If it fails: GPT-4o → Qwen 2.5"; "" when nothing follows."""
    rest = [n for n in names[1:] if n]
    return "If it fails: " + " → ".join(rest) if rest else ""


def chain_words(catalog: Mapping[str, ModelSpec], chain: Sequence[str]) -> str:
    """:func:`fallback_words` of a chain of model ids, by their catalog names."""
    return fallback_words([model_name(catalog, m) for m in chain])


_OUTCOME_WORDS = {
    "ok": "answered",
    "error": "failed",
    "stalled": "went silent",
    "cancelled": "cancelled",
    "interrupted": "interrupted",
    "cache_hit": "from the cache",
    "in_flight": "unfinished",
}


def outcome_words(outcome: str) -> str:
    """How one attempt ended, in words ("ok" -> "answered", "cache_hit" -> "from the cache")."""
    return _OUTCOME_WORDS.get(outcome, outcome.replace("_", " "))


def times(count: int) -> str:
    """ "once", "twice", "3 times"."""
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


class Try(NamedTuple):
    """One attempt, as :func:`outcome_sentence` reads it (from a run's info or a ledger row)."""

    model_id: str
    outcome: str  # ok, error, stalled, cancelled, interrupted, cache_hit, in_flight
    error_class: str | None = None
    error: str | None = None
    status: int | None = None  # the HTTP status, when the run still knows it


_CLASS_WORDS = {
    "StreamBrokenError": "a broken stream",
    "AuthError": "a refused API key",
    "ModelNotFoundError": "\u201cmodel not found\u201d",
    "ContextLengthError": "a prompt too long for it",
    "InvalidRequestError": "a refusal of the request",
    "UnsupportedError": "a request it cannot do",
    "BudgetError": "the budget",
    "UnpricedModelError": "no price in the catalog",
}


def error_words(error_class: str | None, message: str | None = None, status: int | None = None) -> str:
    """A failure in words ("a server error (HTTP 500)", "a timeout"), from its class, the
    provider's message and the HTTP status where known (the ledger keeps no status)."""
    http = f" (HTTP {status})" if status else ""
    if error_class == "TransientError" or (error_class is None and status):
        text = (message or "").lower()
        if status == 429 or "rate limit" in text or "too many requests" in text:
            return "rate limiting" + http
        if status == 408 or "timed out" in text or "no response" in text or "timeout" in text:
            return "a timeout" + http
        if status is None and ("connection" in text or "not reachable" in text):
            return "a connection error"
        if status == 529 or "overloaded" in text:
            return "an overloaded server" + http
        return "a server error" + http
    if error_class in _CLASS_WORDS:
        return _CLASS_WORDS[error_class] + http
    if error_class:
        return "an error (" + error_class + ")" + http
    return "an error" + http


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _failures(tries: Iterable[Try], name: NameOf) -> list[str]:
    """Each model that failed, once, in order: "Claude 3.5 Sonnet failed 4 times with a server error"."""
    by_model: dict[str, list[Try]] = {}
    for t in tries:
        if t.outcome in ("error", "stalled", "in_flight", "interrupted"):
            by_model.setdefault(t.model_id, []).append(t)
    phrases = []
    for model_id, failed in by_model.items():
        last = failed[-1]
        who = name(model_id)
        if last.outcome == "stalled":
            phrases.append(f"{who} went silent {times(len(failed))}")
        elif last.outcome == "in_flight":
            phrases.append(f"{who} never finished (the app stopped during the call)")
        elif last.outcome == "interrupted":
            phrases.append(f"{who} was stopped by a signal")
        elif last.error_class == "BudgetError":
            phrases.append(f"{who} was held back by the budget")
        elif last.error_class == "UnpricedModelError":
            phrases.append(f"{who} was not called (no price in the catalog)")
        else:
            words = error_words(last.error_class, last.error, last.status)
            phrases.append(f"{who} failed {times(len(failed))} with {words}")
    return phrases


def outcome_sentence(
    tries: Sequence[Try],
    name: NameOf = readable_id,
    *,
    exploration: bool = False,
    usual: str | None = None,
    exploration_rate: float | None = None,
    error: str | None = None,
) -> str:
    """What actually happened to a request, in one or two sentences:

    "GPT-4 answered after Claude 3.5 Sonnet failed 4 times with a server error (HTTP 500).",
    "Answered from the cache (an earlier answer by Claude 3.5 Sonnet).",
    "Explored: Gemini 1.5 Pro was tried instead of the usual pick, Claude 3.5 Sonnet (A/B
    exploration, 5%)." ``usual``: the model id the route would have picked without the
    exploration; ``error``: why no model answered, when the run says so.
    """
    hit = next((t for t in tries if t.outcome == "cache_hit"), None)
    if hit is not None:
        return f"Answered from the cache (an earlier answer by {name(hit.model_id)})."
    sentences: list[str] = []
    if exploration and tries:
        rate = f", {exploration_rate:.0%}" if exploration_rate else ""
        instead = f"the usual pick, {name(usual)}" if usual else "the usual pick"
        sentences.append(f"Explored: {name(tries[0].model_id)} was tried instead of {instead} (A/B exploration{rate}).")
    answered = next((t for t in reversed(tries) if t.outcome == "ok"), None)
    failures = _failures(tries, name)
    cancelled = next((t for t in tries if t.outcome == "cancelled"), None)
    if answered is not None:
        who = name(answered.model_id)
        sentences.append(f"{who} answered after {_join(failures)}." if failures else f"{who} answered.")
    elif cancelled is not None:
        text = f"Cancelled while {name(cancelled.model_id)} was answering"
        sentences.append(text + (f", after {_join(failures)}." if failures else "."))
    elif failures:
        sentences.append(f"No model answered: {_join(failures)}.")
    elif error:
        sentences.append(error.rstrip(".") + ".")
    elif not tries:
        sentences.append("Nothing was sent.")
    return " ".join(sentences)
