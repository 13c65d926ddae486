"""The stored decision trace: the chain, the top candidates and the exclusions per rule.

``to_dict()`` is what the ledger stores and the preview reads; its size must not grow with
the catalog. ``to_dict(all_candidates=True)`` (``sparklio route --json``) lists everything.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from decimal import Decimal

import pytest

from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.policy.catalog import Catalog
from sparklio_desktop.core.routing.decision import TRACE_CANDIDATES, Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import Router, RouteRequest
from tests.core.test_router_scoring import random_catalog


@pytest.fixture(scope="module")
def big(catalog):
    return random_catalog(catalog, random.Random(11), extra=400)


def test_the_stored_trace_keeps_the_chain_the_top_and_the_counts(big, policy):
    live = LiveState(
        unavailable=dict.fromkeys([m for m in big if m.startswith("anthropic/")][:40], (Rule.NO_API_KEY, "no key"))
    )
    decision = Router(big, policy).route(
        RouteRequest(task="copywriting_standard", input_tokens=3_000, explore=False), live
    )
    full = decision.to_dict(all_candidates=True)
    trace = decision.to_dict()
    everyone = full["candidates"]
    assert len(everyone) == full["candidate_count"] == trace["candidate_count"] == len(big.with_capability("text"))
    kept = trace["candidates"]
    ids = [c["id"] for c in kept]
    assert ids[: len(decision.chain)] == list(decision.chain)
    eligible = [c for c in kept if c["excluded_by"] is None and c["chain_position"] is None]
    excluded = [c for c in kept if c["excluded_by"] is not None]
    table = policy.task("copywriting_standard").chain
    wanted = [m for m in table if decision.candidate(m).excluded_by is not None]
    assert len(eligible) == TRACE_CANDIDATES
    assert TRACE_CANDIDATES <= len(excluded) <= TRACE_CANDIDATES + len(wanted)
    assert set(wanted) <= set(ids)
    # the kept ones are the best of the full list, in its order
    order = [c["id"] for c in everyone]
    assert sorted(ids, key=order.index) == ids
    best_eligible = [c["id"] for c in everyone if c["excluded_by"] is None and c["chain_position"] is None]
    assert [c["id"] for c in eligible] == best_eligible[:TRACE_CANDIDATES]
    best_excluded = [c["id"] for c in everyone if c["excluded_by"] is not None][:TRACE_CANDIDATES]
    assert set(best_excluded) <= set(ids)
    counts = Counter(c["excluded_by"] for c in everyone if c["excluded_by"])
    assert trace["excluded_counts"] == full["excluded_counts"] == dict(counts)
    assert counts["no_api_key"] >= 1 and sum(counts.values()) > len(excluded)
    for field in ("options", "chain", "estimate", "explanation", "exploration", "notes", "local_tags"):
        assert trace[field] == full[field]
    assert len(json.dumps(trace)) < len(json.dumps(full)) / 5
    assert [c.id for c in decision.top_candidates()] == ids and decision.candidate_count == len(everyone)
    assert [c.id for c in decision.top_candidates(3)][: len(decision.chain) + 3] == [
        *decision.chain,
        *[c["id"] for c in eligible[:3]],
    ]


def test_a_small_catalog_trace_holds_every_candidate(catalog, policy):
    router = Router(catalog, policy)
    for task in sorted(policy.tasks):
        decision = router.route(RouteRequest(task=task, explore=False))
        assert decision.to_dict() == decision.to_dict(all_candidates=True), task


def test_nothing_fits_keeps_reasons_for_the_kept_candidates(big, policy):
    at_cap = LiveState(spent_usd=Decimal(60), budget_usd=Decimal(50), at_cap="stop")
    decision = Router(big, policy).route(RouteRequest(task="strategy_planning", explore=False), at_cap)
    assert not decision.chain
    trace = decision.to_dict()
    assert trace["no_fit_reasons"] == [
        f"{c['name']}: {Rule(c['excluded_by']).text} ({c['exclusion_detail']})"
        for c in trace["candidates"]
        if c["excluded_by"]
    ]
    assert decision.no_fit_reasons == tuple(trace["no_fit_reasons"])
    full = decision.to_dict(all_candidates=True)["no_fit_reasons"]
    assert len(full) == sum(trace["excluded_counts"].values()) > len(trace["no_fit_reasons"])
    assert "No model fits" in trace["explanation"]


def test_the_ledger_stores_the_trace_and_reads_it_back(big, policy, tmp_path):
    decision = Router(big, policy).route(RouteRequest(task="chat", input_tokens=200, explore=False))
    with LedgerStore.open(tmp_path / "ledger.sqlite3") as store:
        store.record_decision("r1", prompt="hi", task_type="chat", trace=decision.to_dict())
        stored = store.decision("r1")
    assert stored is not None
    assert stored.trace == json.loads(json.dumps(decision.to_dict()))
    assert stored.trace["chain"] == list(decision.chain)


def test_a_candidate_is_read_by_id(catalog, policy):
    """``candidate()`` gives the same candidate as the full table, with the estimate's cost."""
    clones = [
        catalog["openai/gpt-3.5-turbo"].model_copy(update={"id": f"openai/c{i}", "name": f"C{i}"}) for i in range(200)
    ]
    big = Catalog([*catalog.values(), *clones])
    decision = Router(big, policy).route(RouteRequest(task="chat", input_tokens=100, explore=False))
    first = decision.candidate(decision.chain[0])
    assert first.role == "primary" and first.chain_position == 0
    assert first.cost_usd == decision.estimate.cost_usd
    assert decision.candidate("openai/c7") == next(c for c in decision.candidates if c.id == "openai/c7")
    with pytest.raises(KeyError):
        decision.candidate("openai/not-a-candidate")
