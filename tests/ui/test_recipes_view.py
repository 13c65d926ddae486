"""The Recipes page against the loopback OpenAI and Anthropic servers: the shipped recipes
are listed, the plan's total is the CLI estimate's for the same inputs, a run shows each
step's progress and its outputs, Cancel stops a run and Resume finishes it, the rail's
Ctrl+4 reaches the page, Edit a copy writes a loadable copy in the user's folder."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit

from sparklio_desktop.app import build_window
from sparklio_desktop.core.settings.paths import ledger_path
from sparklio_desktop.ui.views import recipes_view
from sparklio_desktop.ui.views.recipes_view import RecipesView, create, total_text
from sparklio_desktop.ui.widgets.format import usd_text
from tests.fakes.loopback import Fault
from tests.test_cli_dispatch import sparklio
from tests.ui.conftest import run, until

SHIPPED = {"brand_analysis", "sns_post_set", "blog_post", "video_30s"}
BRIEF = "Autumn menu: pumpkin bread and maple lattes"


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def page(qtbot, qloop, openai_server, anthropic_server, make_ctx):
    openai_server.reply_text = "Five post ideas for the autumn menu."
    anthropic_server.reply_text = "1. **Maple latte** season starts today."
    ctx = make_ctx()
    events: list[object] = []
    ctx.events.ledgerChanged.connect(events.append)
    view = create(ctx.services, executor=ctx.executor, events=ctx.events)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()  # the first show loads the recipes
    settle(qloop, view, lambda: view.recipe_list.count() >= 4)
    yield view, openai_server, anthropic_server, events
    run(qloop, view.vm.aclose())


def names(view: RecipesView) -> set[str]:
    return {view.recipe_list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(view.recipe_list.count())}


def settle(qloop, view: RecipesView, condition, timeout: float = 15.0) -> None:
    """Wait for ``condition`` and for the page's tasks in one run of the loop: a plan left
    running when the loop stops would be stepped outside it (tests/ui/conftest.py)."""

    async def go() -> None:
        await until(condition, timeout)
        await view.vm.wait_idle()

    run(qloop, go(), timeout + 5)


def select(qloop, view: RecipesView, name: str, **values: str) -> None:
    view.select(name)
    for key, value in values.items():
        view.set_value(key, value)
    view.ask_plan()
    settle(qloop, view, lambda: view.vm.plan_view is not None and view.vm.plan_view.recipe == name)


def test_lists_the_shipped_recipes_and_plans_as_the_cli_estimates(qloop, page):
    view, openai, anthropic, _ = page
    assert names(view) == SHIPPED
    assert view.vm.listing.problems == ()
    select(qloop, view, "sns_post_set", brief=BRIEF)
    assert list(view._fields) == ["brief"]
    plan = view.vm.plan_view
    assert plan is not None and plan.error is None and plan.total_usd is not None
    estimate = sparklio(
        "recipe", "estimate", "sns_post_set", "--input", f"brief={BRIEF}", "--json", env_extra=dict(os.environ)
    )
    assert estimate.returncode == 0, estimate.stderr
    cli = json.loads(estimate.stdout)
    assert plan.total_usd == Decimal(cli["total_usd"])
    assert [r.model for r in plan.rows] == [s["model"] for s in cli["steps"]]
    assert plan.tiers == {k: (Decimal(v) if v is not None else None) for k, v in cli["alternatives"]["budget"].items()}
    # The table: names, not ids; the total prominently, with the premium tier's.
    assert view.plan_table.rowCount() == 4
    models = [view.plan_table.item(r, 2).text() for r in range(4)]
    assert "Claude 3.5 Sonnet" in models and not any("/" in m for m in models)
    assert view.plan_table.item(1, 1).text() == "Copywriting"
    assert view.total.text().startswith("This run: ~$") and view.total.text() == total_text(plan)
    assert openai.requests == [] and anthropic.requests == []  # a plan sends nothing


def test_a_wrong_input_is_one_line_under_the_plan_and_run_sends_nothing(qloop, page, tmp_path):
    view, openai, anthropic, _ = page
    select(qloop, view, "brand_analysis", brand="Bean & Leaf", logo=str(tmp_path / "missing.png"))
    assert view.plan_error.isVisibleTo(view) and "cannot read it" in view.plan_error.text()
    assert isinstance(view._fields["logo"], recipes_view.PathPicker)  # an image input: a path and Browse…
    assert isinstance(view._fields["brand"], QLineEdit)  # a short text: one line
    view.select("sns_post_set")
    settle(qloop, view, lambda: True)
    view.run_button.click()  # the brief is required
    settle(qloop, view, lambda: view.run_error.isVisibleTo(view))
    assert "needs --input brief" in view.run_error.text() or "brief" in view.run_error.text()
    assert openai.requests == [] and anthropic.requests == []


def test_run_shows_each_step_and_ends_with_outputs(qloop, page, monkeypatch):
    view, openai, anthropic, events = page
    announced: list[tuple[str, str]] = []  # the notifier itself is tested in test_notifier.py
    monkeypatch.setattr(recipes_view, "notify_done", lambda w, title, message: announced.append((title, message)))
    select(qloop, view, "sns_post_set", brief=BRIEF)
    started: list[str] = []
    view.vm.stepStarted.connect(lambda p: started.append((p.id, p.model_name)))
    view.run_button.click()
    settle(qloop, view, lambda: view.vm.last_run is not None, timeout=60)
    ended = view.vm.last_run
    assert ended is not None and ended.status == "done", ended
    planned = {row.id: row.model_name for row in view.vm.plan_view.rows}
    assert started == [(step, planned[step]) for step, _ in started]  # named as the plan named them
    # The images read only the brief: they start beside its analysis; each later step after the one it reads.
    assert [s[0] for s in started] == ["brief_analysis", "images", "captions", "hashtags"]
    assert list(view.cards) == ["brief_analysis", "captions", "images", "hashtags"]
    statuses = [card.progress.status for card in view.cards.values()]
    assert statuses == ["done"] * 4
    captions = view.cards["captions"]
    assert captions.progress.model_name == "Claude 3.5 Sonnet"
    assert "Maple latte" in captions.output.toPlainText() and captions.output.isVisibleTo(view)
    assert "**" not in captions.output.toPlainText()  # rendered as Markdown
    images = view.cards["images"]
    assert images.thumbnails.isVisibleTo(view) and len(images.progress.files) == 5
    thumbnails = images.thumbnails.findChildren(QLabel)
    assert len(thumbnails) == 5 and all(not label.pixmap().isNull() for label in thumbnails)  # the PNGs read back
    assert "finished" in view.run_status.text() and ended.out_dir in view.run_status.text()
    assert ended.cost_usd > 0 and ended.cost_usd == sum(c.progress.cost_usd for c in view.cards.values())
    assert len(events) >= 4  # the ledger hub heard of every step
    assert view.run_button.isEnabled() and not view.cancel_button.isEnabled()
    assert announced == [("Recipe finished", f"sns_post_set: finished, {usd_text(ended.cost_usd)}")]


def test_cancel_stops_the_run_and_resume_finishes_it(qloop, page):
    view, openai, anthropic, _ = page
    anthropic.script(Fault(no_answer=True))  # the captions never come
    select(qloop, view, "sns_post_set", brief=BRIEF)
    view.run_button.click()
    enabled: list[bool] = []

    async def cancel_during_the_captions() -> None:  # one run of the loop: nothing is left half-stepped
        await until(lambda: "captions" in view.cards and view.cards["captions"].progress.status == "running")
        await until(lambda: view.cards["images"].progress.status == "done")  # they ran beside the analysis
        await asyncio.sleep(0.2)  # the request is on the wire (the server holds it)
        enabled.append(view.cancel_button.isEnabled())
        view.cancel_button.click()
        await until(lambda: view.vm.last_run is not None)
        await view.vm.wait_idle()

    run(qloop, cancel_during_the_captions(), timeout=30)
    assert enabled == [True] and len(anthropic.requests) == 1
    ended = view.vm.last_run
    assert ended is not None and ended.status == "cancelled"
    assert view.cards["brief_analysis"].progress.status == "done"
    # The images (they read only the brief) ran beside its analysis; the hashtags wait for the captions.
    assert [view.cards[i].progress.status for i in ("images", "hashtags")] == ["done", "pending"]
    assert "waiting" in view.cards["hashtags"].header.text()
    captions = view.cards["captions"]
    assert captions.progress.status == "cancelled" and "Resume" in captions.error.text()
    with sqlite3.connect(ledger_path()) as db:  # the attempt in flight is in the ledger as cancelled
        outcomes = dict(db.execute("SELECT request_id, outcome FROM llm_usage").fetchall())
    assert all(request_id.startswith(ended.run_id) for request_id in outcomes)
    assert sorted(outcomes.values()) == ["cancelled", "ok", "ok"], outcomes  # the analysis, the images
    assert captions.error.isVisibleTo(view)
    images_sent = [r for r in openai.requests if r.path.endswith("/images/generations")]
    assert [r.run_id for r in view.vm.unfinished] == [ended.run_id]
    assert view.resume_button.isVisibleTo(view) and view.resume_button.isEnabled()
    chats = sum(1 for r in openai.requests if r.path.endswith("/chat/completions"))

    view.vm.last_run = None
    view.resume_button.click()
    settle(qloop, view, lambda: view.vm.last_run is not None, timeout=60)
    assert view.vm.last_run is not None and view.vm.last_run.status == "done"
    assert view.vm.last_run.run_id == ended.run_id
    # The analysis was not sent again: only the hashtags went to a chat model after it.
    assert sum(1 for r in openai.requests if r.path.endswith("/chat/completions")) == chats + 1
    assert [r for r in openai.requests if r.path.endswith("/images/generations")] == images_sent  # nor the images
    assert [c.progress.status for c in view.cards.values()] == ["done"] * 4
    assert view.vm.unfinished == []


def test_a_failed_step_shows_its_error_under_it_and_the_run_can_resume(qloop, page):
    view, openai, anthropic, _ = page
    openai.script(Fault(status=400, error_type="content_policy_violation", path_contains="/images"))
    select(qloop, view, "sns_post_set", brief=BRIEF)
    view.run_button.click()
    settle(qloop, view, lambda: view.vm.last_run is not None, timeout=60)
    ended = view.vm.last_run
    assert ended is not None and ended.status == "stopped" and ended.error
    images = view.cards["images"]
    assert images.progress.status == "failed" and images.error.isVisibleTo(view)
    assert images.error.text() == ended.error and "failed" in images.header.text()
    assert view.cards["hashtags"].progress.status == "pending"
    assert "stopped" in view.run_status.text() and "Resume" in view.run_status.text()
    assert [r.run_id for r in view.vm.unfinished] == [ended.run_id] and view.resume_button.isEnabled()


def test_edit_a_copy_writes_a_loadable_recipe(qloop, page):
    view, *_ = page

    async def copy() -> str | None:
        path = await view.vm.make_copy("blog_post")
        await view.vm.wait_idle()
        return path

    path = run(qloop, copy())
    assert path is not None and path.endswith("blog_post_copy.yaml")
    assert "name: blog_post_copy" in Path(path).read_text(encoding="utf-8")
    assert names(view) == SHIPPED | {"blog_post_copy"}
    assert any("(yours)" in view.recipe_list.item(r).text() for r in range(view.recipe_list.count()))
    second = run(qloop, copy())
    assert second is not None and second.endswith("blog_post_copy2.yaml")


def test_a_broken_user_recipe_is_reported_and_the_rest_load(qloop, page, sparklio_home):
    view, *_ = page
    select(qloop, view, "sns_post_set", brief=BRIEF)
    folder = sparklio_home / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.yaml").write_text("name: broken\nsteps: 3\n", encoding="utf-8")

    async def load() -> None:
        await view.vm.load()
        await view.vm.wait_idle()

    run(qloop, load())
    assert names(view) == SHIPPED
    assert len(view.vm.listing.problems) == 1 and "broken.yaml" in view.vm.listing.problems[0]
    assert view.problems.isVisibleTo(view) and "broken.yaml" in view.problems.text()
    assert view.vm.selected == "sns_post_set" and view.values() == {"brief": BRIEF}  # a reload keeps what was typed


def test_the_rail_reaches_the_page_with_ctrl_4(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() == "recipes"
    holder = window.views["recipe_list"]  # the Recipes tab of the Recipes and batches page
    panel = holder.ensure_built()
    assert isinstance(panel, RecipesView) and panel.vm in ctx.extra_view_models
    settle(qloop, panel, lambda: panel.recipe_list.count() >= 4)
    run(qloop, ctx.wait_idle())
    assert names(panel) == SHIPPED
    window.show_page("chat")
    run(qloop, ctx.wait_idle())
