"""Families (core/policy/families.py): the policy names a line of models and gets its newest
usable member; retired members never route; measured speed replaces the catalog's figure
after 20 calls (core/speed.py). Real catalog files, real ledger files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.policy.catalog import load_catalog
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.speed import MIN_CALLS, measure
from sparklio_desktop.core.workspace import Workspace

TASK = "copywriting_standard"
OLD_SONNET = "anthropic/claude-3-5-sonnet"
NEW_SONNET = "anthropic/claude-sonnet-4-5-20250929"

NEW_MEMBER = """\
version: 1
models:
  - id: anthropic/claude-sonnet-4-5-20250929
    name: Claude Sonnet 4.5
    provider: anthropic
    api_name: claude-sonnet-4-5-20250929
    capabilities: [text]
    family: claude-sonnet
    released: 2025-09-29
    price: {input_per_mtok: "3", output_per_mtok: "15", as_of: 2026-12-01, source: test}
"""


def _catalog_file(home: Path, text: str) -> Path:
    path = home / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _planner(live: LiveState | None = None) -> RoutePlanner:
    return RoutePlanner(Workspace(), probe=lambda: live or LiveState())


def test_a_new_member_takes_the_familys_quality_and_speed_and_leads_its_chains(sparklio_home):
    _catalog_file(sparklio_home, NEW_MEMBER)
    workspace = Workspace()
    new = workspace.catalog[NEW_SONNET]
    family = workspace.catalog.families["claude-sonnet"]
    assert (new.quality, new.speed) == (family.quality, family.speed)
    assert [m.id for m in workspace.catalog.members("claude-sonnet")] == [NEW_SONNET, OLD_SONNET]

    decision = _planner().plan(RouteRequest(TASK, explore=False))
    assert decision.chain[0] == NEW_SONNET and OLD_SONNET not in decision.chain[:3]
    [sonnet, *_] = decision.families
    assert sonnet.ref == "family/claude-sonnet" and sonnet.model_id == NEW_SONNET
    assert sonnet.why == "Claude Sonnet → claude-sonnet-4-5-20250929, the newest Sonnet your key can use"
    # The lead sentence (why this model) comes first, then how the family resolved.
    assert decision.explanation.startswith(decision.summary + " " + sonnet.why + ".")
    assert decision.to_dict()["families"][0]["model"] == NEW_SONNET


def test_a_member_the_key_cannot_use_passes_to_the_next_one(sparklio_home):
    _catalog_file(sparklio_home, NEW_MEMBER)
    live = LiveState(unavailable={NEW_SONNET: (Rule.UNAVAILABLE, "model not found")})
    decision = _planner(live).plan(RouteRequest(TASK, explore=False))
    assert decision.chain[0] == OLD_SONNET
    sonnet = decision.families[0]
    assert sonnet.model_id == OLD_SONNET and sonnet.skipped == (
        (NEW_SONNET, "unavailable this session: model not found"),
    )
    assert "claude-sonnet-4-5-20250929: unavailable this session" in sonnet.why


def test_a_session_failure_re_resolves_the_family_at_once(sparklio_home):
    _catalog_file(sparklio_home, NEW_MEMBER)
    planner = _planner()
    assert planner.plan(RouteRequest(TASK, explore=False)).chain[0] == NEW_SONNET
    planner.session.model_missing(NEW_SONNET, "404 model not found")
    assert planner.plan(RouteRequest(TASK, explore=False)).chain[0] == OLD_SONNET
    successor = planner.family_successor(NEW_SONNET, "text", [NEW_SONNET])
    assert successor is not None and successor.model_id == OLD_SONNET


def test_a_retired_member_is_never_routed_even_with_everything_available(sparklio_home):
    _catalog_file(
        sparklio_home,
        NEW_MEMBER + "retired:\n  - {id: anthropic/claude-3-5-sonnet, since: 2026-10-22, reason: gone from the list}\n",
    )
    workspace = Workspace()
    decision = _planner().plan(RouteRequest(TASK, explore=False))
    assert OLD_SONNET not in decision.chain
    old = decision.candidate(OLD_SONNET)
    assert old.excluded_by is Rule.RETIRED and old.exclusion_detail == "since 2026-10-22: gone from the list"
    # Without the new member the family stands on its retired one, which shows why it cannot run.
    _catalog_file(sparklio_home, "version: 1\nretired:\n  - {id: anthropic/claude-3-5-sonnet, since: 2026-10-22}\n")
    workspace = Workspace()
    from sparklio_desktop.core.routing.router import route

    decision = route(RouteRequest(TASK, explore=False), workspace.catalog, workspace.policy)
    assert OLD_SONNET not in decision.chain
    assert decision.candidate(OLD_SONNET).excluded_by is Rule.RETIRED


def test_a_budget_tier_that_avoids_a_family_avoids_every_member(sparklio_home):
    _catalog_file(
        sparklio_home,
        NEW_MEMBER.replace("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805")
        .replace("Claude Sonnet 4.5", "Claude Opus 4.1")
        .replace("family: claude-sonnet", "family: claude-opus"),
    )
    decision = _planner().plan(RouteRequest(TASK, budget="standard", explore=False))
    new_opus = decision.candidate("anthropic/claude-opus-4-1-20250805")
    assert new_opus.excluded_by is Rule.AVOIDED_BY_TIER  # standard avoids family/claude-opus


def test_a_user_entry_that_replaces_a_shipped_one_stays_in_its_family(sparklio_home):
    _catalog_file(
        sparklio_home,
        """\
version: 1
models:
  - id: anthropic/claude-3-5-sonnet
    name: Claude 3.5 Sonnet
    provider: anthropic
    api_name: claude-3-5-sonnet-20241022
    capabilities: [text]
    price: {input_per_mtok: "3", output_per_mtok: "15", as_of: 2026-12-01, source: my invoice}
    quality: 9.0
""",
    )
    model = Workspace().catalog[OLD_SONNET]
    assert model.family == "claude-sonnet" and model.quality == 9.0 and model.api_name == "claude-3-5-sonnet-20241022"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("family: claude-sonnet", "models[0].family: unknown family 'claude-sonet'"),
        ("provider: anthropic", "family 'claude-sonnet' is anthropic's; this model is openai's"),
    ],
)
def test_a_bad_family_is_located(sparklio_home, change, message):
    text = NEW_MEMBER
    if change.startswith("family"):
        text = text.replace(change, "family: claude-sonet")
    else:
        text = text.replace("id: anthropic/", "id: openai/").replace(change, "provider: openai")
    path = _catalog_file(sparklio_home, text)
    with pytest.raises(ConfigError) as raised:
        load_catalog(user=path)
    assert f"{path}:" in str(raised.value) and message in str(raised.value)


def test_a_member_without_quality_needs_a_family(sparklio_home):
    path = _catalog_file(sparklio_home, NEW_MEMBER.replace("    family: claude-sonnet\n", ""))
    with pytest.raises(ConfigError, match="quality is required"):
        load_catalog(user=path)


# -- speed from measurement ------------------------------------------------------------------
def _calls(path: Path, model: str, n: int, latency: float, ttft: float, out: int, batch: str = "a") -> None:
    with LedgerStore.open(path) as ledger:
        for i in range(n):
            ledger.finish_attempt(
                AttemptRecord(
                    request_id=f"{model}-{batch}{i}",
                    attempt=1,
                    task_type=TASK,
                    model_id=model,
                    provider=model.split("/")[0],
                    outcome="ok",
                    input_tokens=100,
                    output_tokens=out,
                    cost_usd=Decimal("0.001"),
                    latency_s=latency,
                    ttft_s=ttft,
                )
            )


def test_twenty_calls_replace_the_catalogs_speed_with_the_measured_one(sparklio_home, tmp_path):
    ledger_path = tmp_path / "ledger.sqlite"
    _calls(ledger_path, OLD_SONNET, MIN_CALLS - 1, latency=2.5, ttft=0.5, out=250)

    def speeds():
        with LedgerStore.open(ledger_path) as ledger:
            return measure(ledger.speed_rows())

    planner = RoutePlanner(Workspace(), probe=LiveState, speeds=speeds)
    catalog_figure = planner.plan(RouteRequest(TASK, explore=False)).candidate(OLD_SONNET).latency_s
    assert catalog_figure == pytest.approx(6.0)  # the seed's 4-8 s per 500 tokens, 500 tokens out
    assert "measured" not in planner.plan(RouteRequest(TASK, explore=False)).explanation

    _calls(ledger_path, OLD_SONNET, 1, latency=2.5, ttft=0.5, out=250, batch="b")
    planner.invalidate()
    import asyncio

    asyncio.run(planner.refresh())
    decision = planner.plan(RouteRequest(TASK, explore=False))
    # (2.5 - 0.5) s for 250 tokens is 4 s per 500 after a 0.5 s first token: 4.5 s for 500.
    assert decision.candidate(OLD_SONNET).latency_s == pytest.approx(4.5)
    assert "measured 4.0 s per 500 tokens (first token 0.5 s) over 20 calls" in decision.explanation
    # The same figures keep the same catalog view: routing costs what it did.
    assert planner.catalog_view() is planner.catalog_view()


def test_measure_ignores_short_answers_for_the_rate_and_times_images_per_image():
    rows = [("m", 1.0, 0.9, 3, 0)] * 5 + [("m", 2.0, 0.5, 100, 0)] * 3 + [("img", 12.0, None, 0, 2)]
    found = measure(rows)
    assert found["m"].calls == 8 and found["m"].seconds_per_500 == pytest.approx(7.5)
    assert found["m"].first_token_s == pytest.approx(0.9)
    assert found["img"].seconds_per_image == pytest.approx(6.0) and found["img"].seconds_per_500 is None


# -- "model not found" ------------------------------------------------------------------------
def test_model_not_found_retires_the_model_and_its_family_moves_on_in_the_same_request(sparklio_home, monkeypatch):
    import asyncio

    from keyring.backends import null

    from sparklio_desktop.core.dispatch import Finished, RunRequest
    from sparklio_desktop.core.services import open_services
    from sparklio_desktop.core.settings.secrets import KeyStore
    from tests.fakes.anthropic_server import AnthropicServer
    from tests.fakes.loopback import Fault

    _catalog_file(sparklio_home, NEW_MEMBER)
    with AnthropicServer() as anthropic:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-families-test-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        anthropic.script(Fault(status=404, message="model: claude-sonnet-4-5-20250929", error_type="not_found_error"))
        workspace = Workspace()

        def only_anthropic() -> LiveState:
            return LiveState(
                unavailable={
                    m.id: (Rule.NO_API_KEY, "test") for m in workspace.catalog.values() if m.provider != "anthropic"
                }
            )

        services = open_services(workspace, keys=KeyStore(backend=null.Keyring()), probe=only_anthropic)
        try:
            request = RouteRequest(task=TASK, prompt="Three captions", explore=False)
            assert services.planner.plan(request).chain[0] == NEW_SONNET

            async def go():
                try:
                    async for event in services.dispatcher.stream(RunRequest(route=request, use_cache=False)):
                        if isinstance(event, Finished):
                            return event.result
                finally:
                    await services.dispatcher.aclose()

            result = asyncio.run(go())
        finally:
            services.close()
    # The same request went on to the family's next member, right after the missing one.
    assert [a.model for a in result.attempts] == [NEW_SONNET, OLD_SONNET] and result.model == OLD_SONNET
    # ... and the retirement is persisted in the user's catalog, not only for the session.
    text = (sparklio_home / "catalog.yaml").read_text(encoding="utf-8")
    assert "retired:" in text and NEW_SONNET in text
    catalog = Workspace().catalog
    assert NEW_SONNET in catalog.retired and "model not found" in catalog.retired[NEW_SONNET].reason
    decision = _planner().plan(RouteRequest(TASK, explore=False))
    assert decision.chain[0] == OLD_SONNET and decision.candidate(NEW_SONNET).excluded_by is Rule.RETIRED
