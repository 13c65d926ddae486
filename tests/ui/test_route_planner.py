"""The composer's preview shows the chain the run takes: both are routed by the one route
planner (core/routing/planner.py), with this session's failures and the ratings."""

from __future__ import annotations

from sparklio_desktop.core.settings import paths
from sparklio_desktop.ui.viewmodels.payloads import RoutePreview, RunSummary
from tests.core.test_planner import GPT4, SONNET, TASK, _vote_gpt4_over_sonnet
from tests.fakes.loopback import Fault
from tests.ui.conftest import run, wait_until


def _preview(qloop, composer) -> RoutePreview:
    previews: list[RoutePreview] = []
    composer.previewChanged.connect(previews.append)
    composer.schedule_preview()
    wait_until(qloop, lambda: bool(previews))
    composer.previewChanged.disconnect(previews.append)
    return previews[-1]


def _send(qloop, composer) -> tuple[dict, RunSummary]:
    routed: list[dict] = []
    finished: list[RunSummary] = []
    composer.routed.connect(routed.append)
    composer.finished.connect(finished.append)
    composer.new_conversation()  # route afresh, as a new message would
    run(qloop, composer.send())
    composer.routed.disconnect(routed.append)
    composer.finished.disconnect(finished.append)
    return routed[-1], finished[-1]


def _compose(ctx) -> None:
    composer = ctx.composer
    composer.set_task(TASK)
    composer.explore = False
    composer.set_prompt("Three captions for our autumn launch")


def test_after_a_401_the_preview_shows_the_chain_the_next_run_takes(qloop, openai_server, anthropic_server, make_ctx):
    anthropic_server.script(Fault(status=401, message="invalid x-api-key", error_type="authentication_error"))
    ctx = make_ctx()
    _compose(ctx)
    assert _preview(qloop, ctx.composer).chain[0] == SONNET
    _, first = _send(qloop, ctx.composer)
    assert first.ok and first.model == GPT4  # Sonnet's 401 moved the run on
    preview = _preview(qloop, ctx.composer)
    assert SONNET not in preview.chain
    routed, second = _send(qloop, ctx.composer)
    assert tuple(routed["chain"]) == preview.chain and second.model == preview.chain[0]


def test_votes_that_promote_a_model_move_the_preview_as_they_move_the_run(
    qloop, openai_server, anthropic_server, make_ctx
):
    _vote_gpt4_over_sonnet(paths.ledger_path(), 40)
    ctx = make_ctx()
    _compose(ctx)
    preview = _preview(qloop, ctx.composer)
    assert preview.chain[:2] == (GPT4, SONNET)
    routed, result = _send(qloop, ctx.composer)
    assert tuple(routed["chain"]) == preview.chain and result.model == GPT4
