"""The GUI's composition root: QApplication, the qasync loop, the services, the window.

Why everything is built here and nowhere else: the view-models receive the core's
services (ledger, dispatcher, key store, budget guard) ready-made, so they can be
tested with other ones, and the start-up path stays visible in one file. Nothing on
this path imports torch, diffusers, a provider SDK, pyqtgraph or numpy (the dispatcher
loads SDKs on first use, a worker thread warms them once the window has painted, numpy
comes with the first ratings), and the core is imported before PySide6, whose import
hook reads every module imported after it: launch-to-window aims at issue 10's 1.0 s.

``SPARKLIO_EXIT_WHEN_READY=1`` makes :func:`run_app` print the seconds from launch
(``SPARKLIO_LAUNCH_T0``, an epoch time the caller sets, else the process start time)
to a shown, idle window and exit: ``benchmarks/bench_gui_startup.py`` uses it.

The window (issue 12) is a Chat page (conversation sidebar, thread with the composer under
it, route panel) and pages reached from a rail and the menu bar (main_window.py); the
conversations live in their own store (core/conversations), which the sidebar and the
thread read through the serial executor.

What reads the ledger or the budget (the spend panel, the status bar, the inspector's
history, the leaderboard) refreshes from one signal, ``ctx.events.ledgerChanged``, which
every writer (composer, compare, images, settings) emits after a request, a rating, a
vote or a settings change (ui/viewmodels/ledger_events.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sparklio_desktop.core.errors import SparklioError

if TYPE_CHECKING:  # the start-up path imports these where it builds them
    import asyncio
    from collections.abc import Callable
    from types import TracebackType

    from sparklio_desktop.core.budget import BudgetGuard
    from sparklio_desktop.core.cache import CacheBackend
    from sparklio_desktop.core.conversations import ConversationStore
    from sparklio_desktop.core.dispatch import Dispatcher
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.routing.planner import RoutePlanner
    from sparklio_desktop.core.services import Services
    from sparklio_desktop.core.settings.config import Settings
    from sparklio_desktop.core.settings.secrets import KeyStore
    from sparklio_desktop.core.workspace import Workspace
    from sparklio_desktop.ui.viewmodels import (
        ComposerViewModel,
        InspectorViewModel,
        SerialExecutor,
        SettingsViewModel,
        SpendViewModel,
        ViewModel,
    )
    from sparklio_desktop.ui.viewmodels.catalog import CatalogViewModel
    from sparklio_desktop.ui.viewmodels.conversations import ConversationsViewModel, ThreadViewModel
    from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
    from sparklio_desktop.ui.viewmodels.payloads import LedgerChange, RunSummary
    from sparklio_desktop.ui.viewmodels.seams import LocalImages
    from sparklio_desktop.ui.viewmodels.status import StatusViewModel
    from sparklio_desktop.ui.viewmodels.team_history import TeamHistoryViewModel
    from sparklio_desktop.ui.views.main_window import MainWindow

# The screenshots, in order: the Chat page with a conversation ("workspace"), then each view.
VIEW_ORDER = (
    "workspace",
    "composer",
    "inspector",
    "spend",
    "settings",
    "images",
    "compare",
    "leaderboard",
    "recipes",
    "models",
)


# A deleted conversation can be restored (`sparklio conversations restore`) for this long.
DELETED_KEPT_DAYS = 30


class _CurrentSettings:
    """The workspace's settings as they are now: the dispatcher reads base URLs from it,
    and the settings panel replaces ``workspace.settings`` when the user edits them."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def __getattr__(self, name: str) -> Any:
        return getattr(self._workspace.settings, name)


@dataclass
class GuiContext:
    """The services and view-models of one app instance (tests build their own)."""

    workspace: Workspace
    services: Services
    ledger: LedgerStore
    local_images: LocalImages | None
    cache: CacheBackend  # SQLite, or a team's Redis
    keys: KeyStore
    budget: BudgetGuard
    dispatcher: Dispatcher
    planner: RoutePlanner  # the preview's and the runs' live state and routes
    executor: SerialExecutor
    events: LedgerEvents  # ledgerChanged: after any request, rating, vote or settings change
    composer: ComposerViewModel
    inspector: InspectorViewModel
    spend: SpendViewModel
    settings: SettingsViewModel
    status: StatusViewModel
    conversation_store: ConversationStore
    conversations: ConversationsViewModel  # the sidebar
    thread: ThreadViewModel  # the open conversation

    extra_view_models: list[ViewModel] = field(default_factory=list)  # compare, leaderboard, models
    # The Models panel's Catalog tab; built with the app: the daily refresh runs without the panel.
    catalog: CatalogViewModel | None = None
    # Settings → Team: this machine's history from before team mode (active in team mode only).
    team_history: TeamHistoryViewModel | None = None

    def view_models(self) -> list[ViewModel]:
        own = [
            self.composer,
            self.inspector,
            self.spend,
            self.settings,
            self.status,
            self.thread,
            self.conversations,
        ]
        optional = [vm for vm in (self.catalog, self.team_history) if vm is not None]
        return [*own, *optional, *self.extra_view_models]

    async def wait_idle(self) -> None:
        """Until no view-model has work: one's result may start another's (a written answer
        reloads the sidebar)."""
        while True:
            for vm in self.view_models():
                await vm.wait_idle()
            if all(t.done() for vm in self.view_models() for t in vm._tasks):
                return

    async def warm_up(self) -> None:
        """Import, in a worker thread, what the first request would otherwise import on
        the loop thread: the SDKs of providers that have a key, and the token counter.

        Why: importing a provider SDK takes up to a second here (PySide6's import hook
        reads each new module's source), which would freeze the window at the first
        Send; pyqtgraph would freeze the first visit to the spend panel. Done once after
        the window is shown, it costs the user nothing.
        """
        import asyncio

        # Let the window paint first: the imports hold the GIL most of the time, and
        # started at once they delayed the first frame by up to 0.2 s.
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _import_for_first_request, self.workspace)
        # What start-up built (modules, SDK types, Qt signatures: most of the heap) lives as
        # long as the app: freeze it out of the collector's full passes, which otherwise
        # scanned it all and stalled the window 150-350 ms mid-stream (bench_thread.py).
        import gc

        gc.freeze()
        # Conversations deleted more than DELETED_KEPT_DAYS ago go for good (docs/conversations.md).
        from datetime import timedelta

        try:
            await self.executor.call(self.conversation_store.purge_deleted, timedelta(days=DELETED_KEPT_DAYS))
        except SparklioError as exc:  # a damaged file says so once, where the sidebar reads it
            print(f"sparklio: {exc}", file=sys.stderr)

    async def aclose(self) -> None:
        for vm in self.view_models():
            close = getattr(vm, "aclose", None)
            if close is not None:
                await close()  # the model manager cancels a running pull
            else:
                vm.shutdown()
        await self.wait_idle()
        await self.dispatcher.aclose()
        await self.executor.call(self.conversation_store.close)  # on the thread that uses it
        self.executor.shutdown()
        self.services.close()


def _import_for_first_request(workspace: Workspace) -> None:
    import importlib

    from sparklio_desktop.core import tokens
    from sparklio_desktop.core.provider_table import ROWS
    from sparklio_desktop.core.providers.registry import import_sdk
    from sparklio_desktop.core.settings.key_index import has_key_fast

    tokens.count_text("warm up the encoding")
    try:  # the thread's first code block would import Pygments' lexers on the loop thread
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name

        get_lexer_by_name("python")
        HtmlFormatter(noclasses=True)
    except ImportError:
        pass
    try:
        importlib.import_module("pyqtgraph")  # 0.3 s+: the spend panel's first show would pay it
    except ImportError:
        pass
    for provider, row in ROWS.items():  # local SDKs always; a cloud SDK only where a key is set
        if row.sdk_modules and (row.local or has_key_fast(provider)):
            import_sdk(provider)


def build_context(
    workspace: Workspace | None = None,
    ledger_path: Path | None = None,
    keys: KeyStore | None = None,
    http_client: Any = None,
) -> GuiContext:
    """Open the core's services (the same composition as the CLI's) and build the view-models.
    ``http_client``: an ``httpx.AsyncClient`` the provider clients share (tests)."""
    from sparklio_desktop.core.conversations import ConversationStore
    from sparklio_desktop.core.services import open_services
    from sparklio_desktop.core.workspace import Workspace
    from sparklio_desktop.ui.viewmodels import (
        ComposerViewModel,
        InspectorViewModel,
        SerialExecutor,
        SettingsViewModel,
        SpendViewModel,
    )
    from sparklio_desktop.ui.viewmodels.conversations import ConversationsViewModel, ThreadViewModel, model_name
    from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
    from sparklio_desktop.ui.viewmodels.status import StatusViewModel

    workspace = workspace or Workspace()
    # A view of the workspace's settings that follows the settings panel's edits: it answers
    # every attribute a Settings has, so the dispatcher and the planner read it as one.
    current = cast("Settings", _CurrentSettings(workspace))
    services = open_services(workspace, http_client=http_client, keys=keys, ledger_path=ledger_path, settings=current)
    planner = services.planner
    executor = SerialExecutor()
    events = LedgerEvents()
    ledger, dispatcher, budget, keys = services.ledger, services.dispatcher, services.budget, services.keys
    try:
        store = ConversationStore.open_default(current)
    except BaseException:
        services.close()
        raise
    composer = ComposerViewModel(workspace, dispatcher, ledger, planner, executor, events=events)
    conversations = ConversationsViewModel(store, executor, model_name=partial(model_name, workspace))
    ctx = GuiContext(
        workspace=workspace,
        services=services,
        ledger=ledger,
        local_images=services.local_images,
        cache=services.cache,
        keys=keys,
        budget=budget,
        dispatcher=dispatcher,
        planner=planner,
        executor=executor,
        events=events,
        composer=composer,
        inspector=InspectorViewModel(workspace, ledger, executor),
        spend=SpendViewModel(workspace, ledger, budget, executor),
        settings=SettingsViewModel(workspace, keys, budget, planner, executor, events=events),
        status=StatusViewModel(workspace, budget, executor, cache=services.cache),
        conversation_store=store,
        conversations=conversations,
        thread=ThreadViewModel(store, executor, composer, workspace, sidebar=conversations),
    )
    from sparklio_desktop.core.speed import measure
    from sparklio_desktop.ui.viewmodels.catalog import CatalogViewModel

    ctx.catalog = CatalogViewModel(
        executor,
        workspace,
        keys=keys,
        reload=partial(catalog_changed, ctx),
        speeds=lambda: measure(ledger.speed_rows()),
    )
    from sparklio_desktop.ui.viewmodels.team_history import TeamHistoryViewModel

    ctx.team_history = TeamHistoryViewModel(ledger.target, budget.member, events=events)
    ctx.team_history.copied.connect(conversations.refresh)  # the copied conversations join the sidebar
    events.ledgerChanged.connect(partial(ledger_changed, ctx))
    return ctx


def ledger_changed(ctx: GuiContext, change: LedgerChange) -> None:
    """A request ended, an answer was rated, a vote was cast or a setting saved: refresh
    what shows the month's spend, the budget and the history (the leaderboard, built
    when its tab is first opened, follows the same signal: see :func:`build_window`)."""
    ctx.spend.load(ctx.spend.month)
    ctx.status.refresh()
    if change.kind in ("request", "rating", "import"):
        ctx.inspector.refresh_history()


def catalog_changed(ctx: GuiContext) -> None:
    """The user's catalog changed in the running app (Models -> Add to catalog): read it
    again, forget the live state drawn from the old one, and redraw what shows it."""
    ctx.workspace.reload_catalog()
    ctx.planner.invalidate()
    ctx.composer.schedule_preview()
    ctx.status.refresh()
    ctx.settings.refresh()  # the settings panel shows the catalog's state


def file_problems(workspace: Workspace) -> str | None:
    """One notice for the user's files that are not in force (catalog, policy, settings),
    shown when the window opens: their located errors otherwise sit deep in Settings."""
    problems = [
        (workspace.catalog_error, "catalog", "the last good catalog is in force"),
        (workspace.policy_error, "routing policy", "the last valid policy is in force"),
        (getattr(workspace, "settings_error", None), "settings", "the faulty values use their defaults"),
    ]
    found = [
        f"Problem in your {what} ({str(error).splitlines()[0]}); {instead}."
        for error, what, instead in problems
        if error is not None
    ]
    return " ".join(found) + " Details and fixes: Settings." if found else None


def build_window(ctx: GuiContext) -> MainWindow:
    """The main window over the context's view-models, wired to each other."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QTabWidget

    from sparklio_desktop.core.logs import logs_dir
    from sparklio_desktop.core.settings import paths
    from sparklio_desktop.ui.theme import apply_theme
    from sparklio_desktop.ui.views.chat_page import ChatPage
    from sparklio_desktop.ui.views.composer_view import ComposerView
    from sparklio_desktop.ui.views.conversation_sidebar import ConversationSidebar
    from sparklio_desktop.ui.views.inspector_view import InspectorView
    from sparklio_desktop.ui.views.main_window import MainWindow
    from sparklio_desktop.ui.views.settings_view import SettingsView
    from sparklio_desktop.ui.views.spend_view import SpendView
    from sparklio_desktop.ui.views.thread_view import ThreadView
    from sparklio_desktop.ui.widgets.lazy_tab import LazyTab

    composer_view = ComposerView(ctx.composer)
    inspector_view = InspectorView(ctx.inspector)
    sidebar = ConversationSidebar(ctx.conversations)
    thread_view = ThreadView(ctx.thread)
    chat = ChatPage(sidebar, thread_view, composer_view, inspector_view)
    window_ref: list[MainWindow] = []

    def register(name: str, view: Any) -> None:
        """Wire a panel the first time it is built (its page or tab is opened)."""
        ctx.extra_view_models.append(view.vm)
        view.vm.errorRaised.connect(window_ref[0].notify)
        if name == "compare":
            view.continueWith.connect(partial(continue_in_chat, ctx, window_ref))
        elif name == "leaderboard":
            view.vm.policyChanged.connect(lambda *_: ctx.composer.schedule_preview())
            ctx.events.ledgerChanged.connect(view.vm.ledger_changed)
        elif name == "models":
            view.vm.catalogAdded.connect(lambda _id: catalog_changed(ctx))
        elif name == "images":  # the inspector opens on the image's ledger record
            view.vm.requestCompleted.connect(ctx.inspector.open_request)
        elif name == "gallery":  # new images show; its settings go to the Images form
            ctx.events.ledgerChanged.connect(view.vm.ledger_changed)
            images: Any = lazy["images"].ensure_built()  # built, not shown: the GPU probe waits for the tab

            def use_settings(settings: Any) -> None:
                images.vm.use_settings(settings)
                images_page.setCurrentWidget(lazy["images"])

            def use_init(path: str) -> None:
                images.vm.use_init_image(path)
                images_page.setCurrentWidget(lazy["images"])

            view.vm.settingsChosen.connect(use_settings)
            view.vm.initImageChosen.connect(use_init)

    def build(name: str) -> Any:
        import importlib

        module = importlib.import_module(f"sparklio_desktop.ui.views.{name}_view")
        if name in ("images", "compare", "recipes", "batches"):  # their runs and votes go to the ledger
            return module.create(ctx.services, executor=ctx.executor, events=ctx.events)
        if name == "models":
            return module.create(ctx.services, executor=ctx.executor, catalog=ctx.catalog)
        return module.create(ctx.services, executor=ctx.executor)

    lazy = {
        name: LazyTab(partial(build, name), partial(register, name))
        for name in ("images", "gallery", "compare", "leaderboard", "recipes", "batches", "models")
    }
    # Images: the form that generates, and the gallery of what was generated, on one rail page.
    images_page = QTabWidget()
    images_page.setAccessibleName("Images")
    images_page.addTab(lazy["images"], "Create")
    images_page.addTab(lazy["gallery"], "Gallery")
    compare_page = QTabWidget()
    compare_page.setAccessibleName("Compare")
    compare_page.addTab(lazy["compare"], "Arena")
    compare_page.addTab(lazy["leaderboard"], "Leaderboard")
    # Recipes and batches: the jobs a creator runs again and again, on one rail page.
    jobs_page = QTabWidget()
    jobs_page.setAccessibleName("Recipes and batches")
    jobs_page.addTab(lazy["recipes"], "Recipes")
    jobs_page.addTab(lazy["batches"], "Batches")
    views: dict[str, Any] = {
        "chat": chat,
        "images": images_page,
        "compare": compare_page,
        "recipes": jobs_page,
        "spend": SpendView(ctx.spend),
        "models": lazy["models"],
        "settings": SettingsView(ctx.settings, team_history=ctx.team_history),
    }
    window = MainWindow(
        views,
        ctx.status,
        str(paths.data_dir() / "ui.ini"),
        route_panel=chat.route_panel,
        data_folder=str(paths.data_dir()),
        logs_folder=str(logs_dir()),
    )
    # The parts the tests and the screenshots reach by name.
    window.views.update(
        composer=composer_view,
        inspector=inspector_view,
        sidebar=sidebar,
        thread=thread_view,
        arena=lazy["compare"],
        leaderboard=lazy["leaderboard"],
        recipe_list=lazy["recipes"],
        batches=lazy["batches"],
        image_studio=lazy["images"],
        gallery=lazy["gallery"],
    )
    window_ref.append(window)
    for vm in ctx.view_models():
        vm.errorRaised.connect(window.notify)
    # The inspector opens on the decision being run, then on its ledger record once it is
    # over (what else depends on the ledger follows ctx.events: see ledger_changed).
    ctx.composer.routed.connect(ctx.inspector.show_decision)

    def alert_on_budget(result: RunSummary) -> None:
        if result.budget_alert:
            window.alert(result.budget_alert)

    ctx.composer.finished.connect(alert_on_budget)
    ctx.composer.requestCompleted.connect(ctx.inspector.open_request)
    ctx.settings.policyReloaded.connect(ctx.composer.schedule_preview)
    ctx.settings.keysChanged.connect(lambda _keys: ctx.status.refresh())
    ctx.settings.keysChanged.connect(lambda _keys: ctx.composer.schedule_preview())
    ctx.spend.alertRaised.connect(window.alert)
    ctx.settings.valuesChanged.connect(lambda values: apply_theme(values.get("ui.theme", "system")))

    # The conversations: the sidebar opens one in the thread; a written answer reloads the list.
    def open_conversation(conversation_id: str) -> None:
        ctx.thread.open(conversation_id)

    def new_conversation() -> None:
        window.show_page("chat")
        ctx.thread.new_conversation()
        sidebar.select(None)
        composer_view.prompt.setFocus()

    def export_open() -> None:
        if ctx.thread.conversation_id is None:
            window.notify("Open a conversation first: File → Export writes the open conversation.")
            return
        sidebar.export(ctx.thread.conversation_id)

    def inspect(request_id: str) -> None:
        window.set_route_panel_visible(True)
        ctx.inspector.open_request(request_id)

    def find() -> None:
        sidebar.search.setFocus()
        sidebar.search.selectAll()

    def retitle() -> None:  # a rename in the sidebar shows in the open thread's header
        row = ctx.conversations.row(ctx.thread.conversation_id or "")
        if row is not None:
            thread_view.title.setText(row.title)

    ctx.thread.follow_composer()
    ctx.conversations.listChanged.connect(retitle)
    sidebar.openRequested.connect(open_conversation)
    sidebar.newRequested.connect(new_conversation)
    sidebar.deletedConversation.connect(ctx.thread.forget)
    ctx.thread.threadChanged.connect(lambda contents: sidebar.select(contents.id))
    ctx.thread.inspectRequested.connect(inspect)

    def clear_prompt(_prompt: str, kind: str) -> None:
        if kind == "send":  # sent from the prompt box: it is ready for the next one
            composer_view.prompt.clear()

    ctx.thread.runStarted.connect(clear_prompt)
    window.newConversationRequested.connect(new_conversation)
    window.exportRequested.connect(export_open)
    window.findRequested.connect(find)

    def quick_switch() -> None:
        from sparklio_desktop.ui.views.quick_switcher import QuickSwitcher

        actions = [a for a in window.menu_actions() if a is not window.quick_action]
        switcher = QuickSwitcher(actions, list(ctx.conversations.model.rows), open_from_switcher, window)
        switcher.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.quick_switcher = switcher
        switcher.show()

    def open_from_switcher(conversation_id: str) -> None:
        window.show_page("chat")
        ctx.thread.open(conversation_id)

    window.quickSwitchRequested.connect(quick_switch)

    def guide(focus: str = "") -> None:  # Help → First-run guide…, the composer's Add a key / Start Ollama
        from sparklio_desktop.ui.views.onboarding_view import open_onboarding

        dialog = open_onboarding(ctx, window)
        if focus == "keys":
            dialog.focus_keys()
        elif focus == "local":
            dialog.focus_local()

    def composer_action(action: str) -> None:
        if action == "open_models":
            window.show_page("models")
        else:
            guide("keys" if action == "add_key" else "local")

    composer_view.prompt.setFocus()  # the keyboard lands in the prompt when the window shows
    window.guideRequested.connect(guide)
    if hasattr(composer_view, "actionRequested"):
        composer_view.actionRequested.connect(composer_action)
    window.inspectorRequested.connect(lambda: inspector_view.setFocus())
    return window


def continue_in_chat(ctx: GuiContext, window_ref: list[MainWindow], model_id: str, prompt: str, answer: str) -> None:
    """Compare → "Continue with this one": a new conversation in the Chat page goes on with that model."""
    ctx.thread.new_conversation()
    ctx.composer.continue_with(model_id, prompt, answer)
    window_ref[0].show_page("chat")


def start_loads(ctx: GuiContext) -> asyncio.Future[None]:
    """What each panel reads when the window opens (all off the loop thread); returns
    the warm-up task so that callers (benchmarks) can wait for it."""
    import asyncio

    ctx.status.refresh()
    ctx.settings.refresh()
    ctx.inspector.refresh_history()
    ctx.spend.load(ctx.spend.month)
    ctx.conversations.refresh()
    return asyncio.ensure_future(ctx.warm_up())


def _seconds_since_launch() -> float:
    t0 = os.environ.get("SPARKLIO_LAUNCH_T0")
    if t0:
        return time.time() - float(t0)
    try:  # Linux: the process start time, in clock ticks after boot
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


DEMO_TURNS = (
    ("user", "Write three captions for our autumn launch of the pumpkin spice cold brew."),
    (
        "assistant",
        "Here are three, from playful to polished:\n\n"
        "1. **Pumpkin season just got colder.** Our new cold brew is here.\n"
        "2. *Sip the season:* pumpkin spice, slow-steeped for 18 hours.\n"
        "3. Autumn in a glass — **limited run**, so don't wait.\n",
    ),
    ("user", "Give me the banner's CSS, warm orange on cream."),
    (
        "assistant",
        "A warm banner that keeps the text readable (contrast 4.8:1):\n\n"
        "```css\n.banner {\n  background: #fff4e0;\n  color: #7a3300;\n  border-left: 6px solid #e8731a;\n"
        "  padding: 16px 24px;\n  font: 600 1.25rem/1.4 system-ui, sans-serif;\n}\n```\n\n"
        "Swap `#e8731a` for your brand orange if you have one.",
    ),
)


def seed_demo_conversation(store: ConversationStore) -> str:
    """A short conversation with Markdown and a code block, for the workspace screenshot."""
    from decimal import Decimal

    conversation = store.create("copywriting_standard", title="Autumn launch captions")
    for n, (role, text) in enumerate(DEMO_TURNS):
        if role == "user":
            store.add_turn(conversation.id, role, text, task="copywriting_standard")
        else:
            store.add_turn(
                conversation.id,
                role,
                text,
                model="anthropic/claude-3-5-sonnet",
                request_id=f"demo-request-{n}",
                task="copywriting_standard",
                cost_usd=Decimal("0.0076") if n == 1 else Decimal("0.0041"),
                meta={"fallback": False, "retries": 1 if n == 3 else 0, "explored": False, "cached": False},
            )
    return conversation.id


async def take_screenshots(ctx: GuiContext, window: MainWindow, folder: Path) -> list[Path]:
    """Show each main view, wait until its view-model is idle, save ``<view>.png``.

    ``workspace.png`` is the Chat page on a conversation: the latest stored one, or (an
    empty data folder, as in tests) a short demo one that is seeded for the picture and
    deleted again afterwards; ``onboarding.png`` is the first-run guide, closed again
    without marking it done.
    """
    import asyncio

    from sparklio_desktop.ui.widgets.lazy_tab import LazyTab

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    ctx.composer.refresh_preview()  # do not wait for the debounce timer
    await ctx.wait_idle()
    store = ctx.conversation_store
    summaries = await ctx.executor.call(store.list, limit=50)
    demo = None if summaries else await ctx.executor.call(seed_demo_conversation, store)
    await ctx.conversations.refresh()
    # The latest conversation, pinned or not (the list puts pinned ones first).
    await ctx.thread.open(demo or max(summaries, key=lambda c: c.updated_at).id)

    async def settle() -> None:
        for _ in range(3):  # let layouts settle and lazily built parts (the chart) draw
            # Waiting lets the Qt loop run; processEvents() here would step other tasks
            # from inside this one, which asyncio refuses.
            await asyncio.sleep(0.05)
            await ctx.wait_idle()

    def save(name: str, widget: Any) -> None:
        path = folder / f"{name}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        written.append(path)

    from PySide6.QtWidgets import QTabWidget

    compare_tabs = cast(QTabWidget, window.views["compare"])
    for name in VIEW_ORDER:
        page = {"workspace": "chat", "composer": "chat", "inspector": "chat", "leaderboard": "compare"}.get(name, name)
        window.show_page(page)
        if name == "compare":
            compare_tabs.setCurrentWidget(window.views["arena"])
        elif name == "leaderboard":
            compare_tabs.setCurrentWidget(window.views["leaderboard"])
        await settle()
        # The composer and the inspector are parts of the Chat page: pictured on their own.
        save(name, window.views[name] if name in ("composer", "inspector") else window)
    jobs_tabs = cast(QTabWidget, window.views["recipes"])  # the Batches tab beside Recipes
    window.show_page("recipes")
    jobs_tabs.setCurrentWidget(window.views["batches"])
    await settle()
    save("batches", window)
    jobs_tabs.setCurrentWidget(window.views["recipe_list"])
    holder = window.views["models"]
    models = holder.ensure_built() if isinstance(holder, LazyTab) else holder
    catalog_tab = getattr(models, "catalog_tab", None)
    inner = getattr(models, "tabs", None)
    if catalog_tab is not None and inner is not None:  # the Models panel's Catalog tab
        window.show_page("models")
        inner.setCurrentWidget(catalog_tab)
        await settle()
        save("catalog", window)
    window.show_page("chat")
    if demo is not None:
        await ctx.executor.call(store.delete, demo)
        ctx.thread.forget(demo)
    from sparklio_desktop.ui.views.onboarding_view import onboarding_screenshot

    written.append(await onboarding_screenshot(ctx, folder, window))  # the first-run guide, not marked done
    # Grabbing shows widgets, which may start their first loads: let those finish too.
    await asyncio.sleep(0.05)
    await ctx.wait_idle()
    return written


def _offer_repair(exc: BaseException) -> bool:
    """A damaged ledger or conversations file at start-up: offer what ``sparklio doctor
    --repair`` does, so a creator without a terminal can recover. True when the file was
    mended (set aside and salvaged, or its search index rebuilt): start again on it."""
    from sparklio_desktop.core.conversations import ConversationsFileError
    from sparklio_desktop.core.ledger.engine import DatabaseFileError

    if not (isinstance(exc, DatabaseFileError) and exc.damaged):
        return False
    conversations = isinstance(exc, ConversationsFileError)
    if not conversations and exc.label != "ledger":
        return False
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QMessageBox

    what, holds, rows = (
        ("conversations file", "your conversations", "conversation and turn")
        if conversations
        else ("ledger", "your usage and spending history", "row")
    )
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        f"Sparklio Desktop: the {what} is damaged",
        f"Sparklio cannot read its {what} ({holds}):\n\n{exc.path}\n\n"
        f"{exc.detail}.\n\nRepair sets the damaged file aside (nothing is deleted) and copies every "
        f"{rows} that can still be read into a new one. Close other Sparklio windows and "
        "commands first.",
    )
    repair_button = box.addButton("Set aside and repair", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(repair_button)
    box.exec()
    if box.clickedButton() is not repair_button:
        return False
    from sparklio_desktop.core import doctor

    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        if conversations:
            mended = doctor.repair_conversations()
            done = [mended] if mended is not None else []
        else:
            done = doctor.repair([c for c in doctor.run_checks() if c.name == "ledger"])
    except (OSError, SparklioError) as err:
        QApplication.restoreOverrideCursor()
        QMessageBox.critical(None, "Sparklio Desktop: repair failed", f"The {what} could not be repaired: {err}")
        return False
    QApplication.restoreOverrideCursor()
    for line in (line for r in done for line in r.lines()):
        print(f"sparklio: {line}", file=sys.stderr)
    summary = _conversations_summary(done) if conversations else _repair_summary(done)
    QMessageBox.information(None, f"Sparklio Desktop: {what} repaired", summary)
    return bool(done)


def _conversations_summary(done: list[Any]) -> str:
    if not done:
        return "Nothing needed repair."
    repaired = done[0]
    if repaired.set_aside_as is None:
        return "The search index was rebuilt; every conversation is kept."
    recovered = {t.table: t.salvaged for t in repaired.tables if t.readable}
    return (
        f"Recovered {recovered.get('conversations', 0)} conversations and {recovered.get('turns', 0)} turns."
        f"\n\nThe damaged file is kept as {Path(repaired.set_aside_as).name} beside the new one."
    )


def _repair_summary(done: list[Any]) -> str:
    """What a creator needs to know after a repair: what was kept, what came back."""
    if not done:
        return "Nothing needed repair."
    repaired = done[0]
    recovered = {t.table: t.salvaged for t in repaired.tables if t.readable}
    usage = recovered.get("llm_usage", 0)
    if not recovered:
        found = "Nothing could be read from it: Sparklio starts with an empty ledger."
    else:
        found = (
            f"Recovered {usage} usage record{'s' if usage != 1 else ''} (calls and their costs), "
            f"{recovered.get('decisions', 0)} routing decisions and {recovered.get('votes', 0)} votes."
        )
    return f"{found}\n\nThe damaged file is kept as {Path(repaired.set_aside_as or '').name} beside the new ledger."


def _import_the_core_before_qt() -> None:
    """Import the core that :func:`build_context` opens, before PySide6 is loaded.

    Once PySide6 is imported, its import hook (``shibokensupport.feature``) reads the
    source of every module imported after it, to see whether the module uses PySide6.
    The core's composition (SQLAlchemy, numpy, pydantic, keyring and about 80 modules of
    our own) took about 0.3 s longer to import after Qt than before it, on the launch path.
    """
    import sparklio_desktop.core.budget
    import sparklio_desktop.core.cache
    import sparklio_desktop.core.cache_backend  # services picks the backend
    import sparklio_desktop.core.catalog_view  # the Catalog tab's rows (ui.viewmodels.payloads)
    import sparklio_desktop.core.compare
    import sparklio_desktop.core.conversations
    import sparklio_desktop.core.history_summary  # the composer's and the thread's view-models
    import sparklio_desktop.core.ledger.store
    import sparklio_desktop.core.local.sd.service
    import sparklio_desktop.core.logs  # Help → Open logs folder's path, the window's error hook
    import sparklio_desktop.core.ratings.state
    import sparklio_desktop.core.routing.live
    import sparklio_desktop.core.services
    import sparklio_desktop.core.settings.config
    import sparklio_desktop.core.settings.secrets
    import sparklio_desktop.core.team_budget  # services' budget guard asks it whether a team's terms apply
    import sparklio_desktop.core.team_history  # Settings → Team's view-model (light: its work imports lazily)
    import sparklio_desktop.core.workspace  # noqa: F401 - imported for the side effect of being loaded


def show_error(window: Any, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """The window's ``sys.excepthook``: what no code caught (an async slot's failure included).
    A :class:`SparklioError` is already one line for a person (e.g. the ledger is damaged); any
    other exception is a bug: its traceback goes to the log file, the user gets one line that
    says where (docs/operations.md)."""
    from sparklio_desktop.core import logs

    if isinstance(value, SparklioError):
        logging.getLogger("sparklio_desktop.app").warning("%s", value, extra={"file_only": True})
        print(f"sparklio: error: {value}", file=sys.stderr)
        window.notify(str(value))
        return
    line = logs.log_unhandled(kind, value, tb, where="the window")
    print(f"sparklio: error: {line}", file=sys.stderr)
    window.notify(line)


def _set_identity(app: Any) -> None:
    """The name, icon and desktop-file name the OS shows (task bar, notifications, keyring
    prompts): "Sparklio". The icons come from ``resources/icons`` when they are there
    (``sparklio.svg`` and PNG sizes); a checkout without them starts with Qt's default."""
    from PySide6.QtGui import QGuiApplication, QIcon

    app.setApplicationName("Sparklio")
    app.setApplicationDisplayName("Sparklio")
    app.setOrganizationName("Sparklio")
    QGuiApplication.setDesktopFileName("sparklio")
    from sparklio_desktop.core.settings.paths import resources_dir

    folder = resources_dir() / "icons"
    files = sorted(folder.glob("sparklio*.png")) + sorted(folder.glob("sparklio.svg")) if folder.is_dir() else []
    if files:
        icon = QIcon()
        for path in files:
            icon.addFile(str(path))
        app.setWindowIcon(icon)


def run_app(screenshot_dir: str | None = None) -> int:
    """Open the window and run the event loop until it closes; returns the exit status.

    A launch while a window of the same data folder runs hands over to it and returns 0
    (ui/single_instance.py; ``--screenshot``, ``SPARKLIO_EXIT_WHEN_READY=1`` and
    ``SPARKLIO_MULTI_INSTANCE=1`` are exempt)."""
    collector_was_on = _collector_off_for_start_up()
    try:
        return _run_app(screenshot_dir, shown=partial(_collector_back_on, collector_was_on))
    finally:
        _collector_back_on(collector_was_on)  # an early return (a second launch, an error) too


def _collector_off_for_start_up() -> bool:
    """Turn the cyclic garbage collector off until the window is shown; returns whether it was on.

    Why: start-up builds about 90,000 objects that live as long as the app (modules,
    classes, pydantic and SQLAlchemy types, Qt wrappers) and frees almost nothing (about
    1,000 objects of garbage in cycles). The collector still scanned that growing heap
    about 200 times, once or twice in full: 0.1-0.3 s of the launch on this machine, the
    most in the bundle (packaging/README.md, "Start-up"). :func:`_collector_back_on` freezes what start-up
    built, as the warm-up does after its imports (GuiContext.warm_up), and turns it on.
    """
    import gc

    was_on = gc.isenabled()
    gc.disable()
    return was_on


def _collector_back_on(was_on: bool) -> None:
    """The start-up heap goes to the permanent generation (the collector's later passes skip
    it; its few cycles of garbage stay, as frozen objects do) and the collector resumes."""
    import gc

    if was_on and not gc.isenabled():
        gc.freeze()
        gc.enable()


def _run_app(screenshot_dir: str | None, shown: Callable[[], None]) -> int:
    _import_the_core_before_qt()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    _set_identity(app)
    from sparklio_desktop.core.settings import paths
    from sparklio_desktop.ui import qt_log, single_instance

    guard: single_instance.SingleInstance | None = None
    if not single_instance.exempt(screenshot_dir):  # a second launch brings the first window forward
        guard = single_instance.SingleInstance(single_instance.server_name(paths.data_dir()))
        if not guard.claim():
            print(
                f"sparklio: already running for the data folder {paths.data_dir()}: brought its window to the front",
                file=sys.stderr,
            )
            return 0
    restore_qt_log = qt_log.install()  # Qt's warnings go to the log file too
    try:
        return _run_window(app, screenshot_dir, guard, shown)
    finally:
        restore_qt_log()
        if guard is not None:
            guard.close()


def _run_window(app: Any, screenshot_dir: str | None, guard: Any, shown: Callable[[], None]) -> int:
    """:func:`run_app` once this launch is the window of its data folder (``guard``: the
    single-instance server, None for an exempt launch; ``shown``: called once the window
    is shown and its first loads are started)."""
    import asyncio

    from sparklio_desktop.ui.app_loop import AppLoop, release

    loop = AppLoop(app)
    asyncio.set_event_loop(loop)

    interactive = os.environ.get("SPARKLIO_EXIT_WHEN_READY") != "1" and not screenshot_dir
    while True:
        try:
            ctx = build_context()
            break
        except SparklioError as exc:  # a damaged ledger, a read-only data folder: say so, never a traceback
            print(f"sparklio: error: {exc}", file=sys.stderr)
            if interactive and _offer_repair(exc):
                continue  # repaired: start on the salvaged ledger
            if interactive:
                from PySide6.QtWidgets import QMessageBox

                QMessageBox.critical(None, "Sparklio Desktop cannot start", str(exc))
            release(loop)
            loop.close()
            return 1
    from sparklio_desktop.ui.single_instance import bring_to_front
    from sparklio_desktop.ui.theme import apply_theme

    apply_theme(ctx.workspace.settings.ui.theme)
    window = build_window(ctx)

    sys.excepthook = partial(show_error, window)
    if guard is not None:
        guard.activationRequested.connect(lambda: bring_to_front(window))
    done = asyncio.Event()
    app.aboutToQuit.connect(done.set)
    status = {"code": 0}
    window.show()
    warming = start_loads(ctx)
    shown()
    if interactive and ctx.catalog is not None:
        # The daily catalog refresh (when due and a cloud key is set), once the window has
        # painted and the first loads ran: never on the start-up path. SPARKLIO_BACKGROUND_REFRESH=0: off.
        from PySide6.QtCore import QTimer

        QTimer.singleShot(3000, ctx.catalog.refresh_if_due)
    notice = file_problems(ctx.workspace)
    if notice:
        window.notify(notice)
    from sparklio_desktop.core.dispatch import interrupts  # SIGTERM/SIGHUP: record what is in flight, then quit

    def quit_with(code: int) -> None:
        status.update(code=code)
        app.quit()

    interrupts.install(loop, on_exit=quit_with)

    async def ready() -> None:
        await asyncio.sleep(0)
        print(f"ready {_seconds_since_launch():.3f}", flush=True)
        done.set()

    async def screenshots() -> None:
        try:
            for path in await take_screenshots(ctx, window, Path(screenshot_dir or ".")):
                print(path)
        except Exception:  # noqa: BLE001 - report and fail the command
            traceback.print_exc()
            status["code"] = 1
        done.set()

    if os.environ.get("SPARKLIO_EXIT_WHEN_READY") == "1":
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, lambda: asyncio.ensure_future(ready()))
    elif screenshot_dir:
        asyncio.ensure_future(screenshots())
    with loop:
        loop.run_until_complete(done.wait())
        window.save_layout()
        loop.run_until_complete(asyncio.wait([warming]))
        loop.run_until_complete(ctx.aclose())
        release(loop)
    return status["code"]
