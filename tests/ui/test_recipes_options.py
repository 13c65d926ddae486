"""The Recipes page's run options against the loopback servers: a budget tier re-plans at
once (the models, the prices and the total the CLI's ``estimate --budget`` gives), a
brand voice reaches every text step's request and no image step's, the chosen output
folder is where the run writes and what Open folder opens."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from sparklio_desktop.ui.views.recipes_view import OWN_CHOICE, RecipesView, create, total_text
from tests.test_cli_dispatch import sparklio
from tests.ui.conftest import run
from tests.ui.test_recipes_view import BRIEF, select, settle


@pytest.fixture
def page(qtbot, qloop, openai_server, anthropic_server, make_ctx, sparklio_home):
    openai_server.reply_text = "Five post ideas for the autumn menu."
    anthropic_server.reply_text = "1. **Maple latte** season starts today."
    (sparklio_home / "brand_voices.yaml").write_text(
        "voices:\n  bean:\n    tone: warm and playful\n    avoid: [synergy]\n", encoding="utf-8"
    )
    ctx = make_ctx()
    view = create(ctx.services, executor=ctx.executor, events=ctx.events)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()  # the first show loads the recipes and the brand voices
    settle(qloop, view, lambda: view.recipe_list.count() >= 4)
    yield view, openai_server, anthropic_server
    run(qloop, view.vm.aclose())


def replan(qloop, view: RecipesView, change) -> None:
    """Make ``change`` (a click's worth) and wait for the plan it asks for."""
    before = view.vm.plan_view
    change()
    settle(qloop, view, lambda: view.vm.plan_view is not before)


def reload(qloop, view: RecipesView) -> None:
    """Read the recipes and the voices again, and wait for the plan that asks for."""

    async def load() -> None:
        await view.vm.load()
        await view.vm.wait_idle()

    run(qloop, load())


def models_shown(view: RecipesView) -> list[str]:
    return [view.plan_table.item(r, 2).text() for r in range(view.plan_table.rowCount())]


def test_the_options_offer_the_composers_choices_and_start_at_the_recipes_own(page):
    view, *_ = page
    for option, combo in view.option_combos.items():
        shown = [combo.itemText(i) for i in range(combo.count())]
        assert shown == [OWN_CHOICE, *view.vm.option_choices()[option]]
        assert combo.currentData() is None
    assert view.vm.option_choices()["budget"] == ("low", "standard", "premium")
    assert [view.voice_combo.itemText(i) for i in range(view.voice_combo.count())] == ["None", "bean"]
    assert view.voice_combo.currentData() is None


def test_a_budget_tier_replans_at_once_as_the_cli_estimates(qloop, page):
    view, openai, anthropic = page
    select(qloop, view, "sns_post_set", brief=BRIEF)
    own = view.vm.plan_view
    assert own is not None and own.total_usd is not None
    own_text, own_models = view.total.text(), models_shown(view)

    replan(qloop, view, lambda: view.set_option("budget", "premium"))
    premium = view.vm.plan_view
    assert premium is not None and premium.error is None and premium.total_usd is not None
    assert view.vm.options["budget"] == "premium"
    assert premium.total_usd == own.tiers["premium"] != own.total_usd  # the total moved, to the tier's figure
    assert view.total.text() == total_text(premium) and view.total.text() != own_text
    estimate = sparklio(
        "recipe", "estimate", "sns_post_set", "--input", f"brief={BRIEF}", "--budget", "premium", "--json",
        env_extra=dict(os.environ),
    )  # fmt: skip
    assert estimate.returncode == 0, estimate.stderr
    cli = json.loads(estimate.stdout)
    assert premium.total_usd == Decimal(cli["total_usd"])
    assert [r.model for r in premium.rows] == [s["model"] for s in cli["steps"]]
    assert [r.cost_usd for r in premium.rows] == [Decimal(s["cost_usd"]) for s in cli["steps"]]
    assert models_shown(view) != own_models  # the table names the new per-step models
    table, bar = view.plan_table.geometry(), view.run_button.geometry()
    assert bar.top() > table.bottom()  # the total and Run sit under the plan, never over it

    assert view.run_button.isEnabled()
    replan(qloop, view, lambda: view.set_option("speed", "realtime"))  # no image model is realtime here
    assert view.vm.plan_view.total_usd is None and "no model fits" in view.total.text()
    assert not view.run_button.isEnabled() and "budget, speed or quality" in view.run_button.toolTip()
    replan(qloop, view, lambda: view.set_option("speed", None))
    replan(qloop, view, lambda: view.set_option("budget", None))  # back to each step's own
    assert view.vm.plan_view.total_usd == own.total_usd and models_shown(view) == own_models
    assert view.run_button.isEnabled()
    assert openai.requests == [] and anthropic.requests == []  # planning sends nothing


def test_the_brand_voice_reaches_every_text_steps_request(qloop, page):
    view, openai, anthropic = page
    select(qloop, view, "sns_post_set", brief=BRIEF)
    plain = {r.id: r.input_tokens for r in view.vm.plan_view.rows}
    replan(qloop, view, lambda: view.voice_combo.setCurrentIndex(view.voice_combo.findData("bean")))
    assert view.vm.brand_voice == "bean"
    voiced = {r.id: r.input_tokens for r in view.vm.plan_view.rows}
    assert voiced["captions"] > plain["captions"] + 10  # the voice's paragraph is priced
    assert voiced["images"] == plain["images"]  # not on an image step

    view.run_button.click()
    settle(qloop, view, lambda: view.vm.last_run is not None, timeout=60)
    assert view.vm.last_run is not None and view.vm.last_run.status == "done", view.vm.last_run
    preamble = "Write in the brand voice 'bean'."
    chats = [r for r in openai.requests if r.path.endswith("/chat/completions")]
    images = [r for r in openai.requests if r.path.endswith("/images/generations")]
    assert len(chats) == 2 and len(anthropic.requests) == 1 and len(images) == 5  # one request an image
    for request in [*chats, *anthropic.requests]:  # the analysis, the hashtags, the captions
        assert preamble in json.dumps(request.body) and "synergy" in json.dumps(request.body)
    assert not any(preamble in json.dumps(r.body) for r in images)  # a tone means nothing to an image model


def test_the_chosen_output_folder_is_where_the_run_writes(qloop, qtbot, page, tmp_path):
    view, *_ = page
    select(qloop, view, "sns_post_set", brief=BRIEF)
    assert "recipe-runs" in view.out_edit.text() and not view.default_folder.isEnabled()
    assert not view.open_folder.isEnabled()  # nothing written yet
    folder = tmp_path / "autumn posts"
    folder.mkdir()

    view.choose_folder.click()
    dialog = view.findChild(QFileDialog, "recipes-out-dialog")
    assert dialog is not None and dialog.testOption(QFileDialog.Option.DontUseNativeDialog)
    qtbot.waitUntil(dialog.isVisible)
    dialog.setDirectory(str(tmp_path))
    dialog.selectFile(str(folder))
    dialog.accept()
    assert view.vm.out_dir == str(folder) and view.out_edit.text() == str(folder)
    assert view.default_folder.isEnabled()

    view.run_button.click()
    settle(qloop, view, lambda: view.vm.last_run is not None, timeout=60)
    ended = view.vm.last_run
    assert ended is not None and ended.status == "done" and Path(ended.out_dir) == folder
    written = sorted(p.name for p in folder.iterdir())
    assert "captions.md" in written and "images-1.png" in written
    assert all(Path(f).parent == folder for card in view.cards.values() for f in card.progress.files)

    opened: list[QUrl] = []

    class Handler(QObject):
        @Slot(QUrl)
        def open(self, url: QUrl) -> None:
            opened.append(url)

    handler = Handler()
    QDesktopServices.setUrlHandler("file", handler, "open")
    try:
        assert view.open_folder.isEnabled()
        view.open_folder.click()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(u.toLocalFile()) for u in opened] == [folder]

    view.default_folder.click()  # back to each run's own folder
    assert view.vm.out_dir == "" and "recipe-runs" in view.out_edit.text()


def test_tab_goes_down_the_page_through_the_options(qloop, page):
    """Keyboard only: from the recipe list, Tab reaches the inputs, the three pickers, the
    voice, the folder's buttons and Run, in the order the page reads."""
    view, *_ = page
    select(qloop, view, "sns_post_set", brief=BRIEF)
    order: list[object] = []
    widget = view.recipe_list
    for _ in range(200):
        widget = widget.nextInFocusChain()
        if widget is view.recipe_list:
            break
        order.append(widget)
    wanted = [
        view._fields["brief"],
        *view.option_combos.values(),
        view.voice_combo,
        view.out_edit,
        view.choose_folder,
        view.run_button,
    ]
    assert all(w in order for w in wanted)
    positions = [order.index(w) for w in wanted]
    assert positions == sorted(positions)


def test_a_recipe_whose_own_voice_is_missing_says_so(qloop, page, sparklio_home):
    """A recipe of yours that names a voice: picked when brand_voices.yaml has it; an error
    under the plan when it does not (as `sparklio recipe estimate` says), nothing sent."""
    view, openai, anthropic = page
    source = Path(view.vm.listing.recipes[0].path).parent / "sns_post_set.yaml"
    folder = sparklio_home / "recipes"
    folder.mkdir(exist_ok=True)
    text = source.read_text(encoding="utf-8").replace("name: sns_post_set", "name: voiced\nbrand_voice: bean")
    (folder / "voiced.yaml").write_text(text, encoding="utf-8")
    reload(qloop, view)
    select(qloop, view, "voiced", brief=BRIEF)
    assert view.vm.brand_voice == "bean" and view.voice_combo.currentData() == "bean"
    assert view.vm.plan_view.error is None

    (folder / "voiced.yaml").write_text(text.replace("brand_voice: bean", "brand_voice: gone"), encoding="utf-8")
    reload(qloop, view)
    select(qloop, view, "voiced", brief=BRIEF)
    assert view.plan_error.isVisibleTo(view) and "gone" in view.plan_error.text()
    view.run_button.click()
    settle(qloop, view, lambda: view.run_error.isVisibleTo(view))
    assert "gone" in view.run_error.text()
    assert openai.requests == [] and anthropic.requests == []
