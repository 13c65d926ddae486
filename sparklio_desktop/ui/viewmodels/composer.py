"""The composer's view-model: task options, a debounced route preview, a streamed run.

Why it looks like this: the view only edits values and presses buttons; everything
that touches the router, the dispatcher or the ledger happens here, on the one qasync
event loop, and comes back as signals. Blocking work (reading images, the ledger's
rating write, the live-state probe) goes to executors, so typing and streaming never
freeze the window. The preview and the run are routed by the same route planner
(core/routing/planner.py), on the same request value: the preview shows the chain the run takes.
Signals carry the typed values of :mod:`~sparklio_desktop.ui.viewmodels.payloads`; a run
and a rating are announced on the app's ``ledgerChanged`` hub (ledger_events.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from qasync import asyncSlot

from sparklio_desktop.core.dispatch import (
    AttemptFailed,
    AttemptStarted,
    Dispatcher,
    Event,
    Finished,
    Routed,
    RunRequest,
    RunResult,
    TextChunk,
)
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.history import HISTORY_TOKEN_LIMIT, ContextWindow, HistorySummary, fit_context
from sparklio_desktop.core.history_summary import history_words
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.naming import task_words
from sparklio_desktop.core.providers.base import IMAGE_MIME_TYPES, ImageInput, Message
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import (
    FailedAttempt,
    LedgerChange,
    RoutePreview,
    RunSummary,
    StartedAttempt,
    TaskOptions,
)
from sparklio_desktop.ui.viewmodels.template_picker import TemplatePickerViewModel

if TYPE_CHECKING:  # read when the options open, not at launch
    from sparklio_desktop.core.recipes.brand_voice import BrandVoice
    from sparklio_desktop.core.templates import RenderedPrompt

OPTION_CHOICES: dict[str, tuple[str, ...]] = {
    "complexity": ("simple", "medium", "complex"),
    "budget": ("low", "standard", "premium"),
    "speed": ("realtime", "standard", "batch"),
    "quality": ("draft", "standard", "production"),
}
# The attachable image files (core.providers.base), for the view's file dialog and drops.
IMAGE_TYPES = IMAGE_MIME_TYPES
PREVIEW_DEBOUNCE_MS = 250


def _value(option: object) -> str | None:
    return None if option is None else str(getattr(option, "value", option))


@dataclass(frozen=True)
class TaskInfo:
    """One row of the task table as the composer offers it."""

    name: str
    description: str
    system_prompt: str
    capability: str
    words: str = ""  # the task's name in words ("Copywriting"), what the task picker shows


class ComposerViewModel(ViewModel):
    """Composes a request, previews its route, streams the answer, rates it."""

    optionsChanged = Signal(object)  # TaskOptions
    previewChanged = Signal(object)  # RoutePreview
    previewFailed = Signal(str)
    imagesChanged = Signal(object)  # list of attached file names
    busyChanged = Signal(bool)
    requestStarted = Signal(str)  # request id
    routed = Signal(object)  # the decision actually used, as a dict
    tokenReceived = Signal(str)
    attemptChanged = Signal(object)  # AttemptUpdate: a StartedAttempt or a FailedAttempt
    finished = Signal(object)  # RunSummary: the result line's figures
    cancelled = Signal()
    requestCompleted = Signal(str)  # request id, once the run is over (any outcome)
    ratingSaved = Signal(int)
    conversationChanged = Signal(int)  # turns so far (0 = a new conversation)
    voicesChanged = Signal(list)  # the brand voices' names (brand_voices.yaml), for the options
    templateChanged = Signal(object)  # the template in use (its name), or None
    promptReplaced = Signal(str)  # a template filled the prompt box

    def __init__(
        self,
        workspace: Workspace,
        dispatcher: Dispatcher,
        ledger: LedgerStore,
        planner: RoutePlanner,
        executor: SerialExecutor,
        *,
        events: LedgerEvents | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``planner``: the route planner the dispatcher routes with (core/routing/planner.py);
        ``events``: the app's ledger hub, told when a run ends or an answer is rated."""
        super().__init__(executor, parent)
        self._events = events or LedgerEvents(self)
        self._workspace = workspace
        self._dispatcher = dispatcher
        self._ledger = ledger
        self._planner = planner
        self._options: dict[str, str | None] = {"task": None, **dict.fromkeys(OPTION_CHOICES)}
        self._prompt = ""
        self._images: list[ImageInput] = []
        self._image_names: list[str] = []
        self.forced_model: str | None = None  # like `sparklio run --model`
        self.route_again = False
        self.explore = True  # allow the policy's A/B exploration pick on real runs
        self._history: list[Message] = []
        # What of the history a follow-up sends (core/history.py fit_context): computed once
        # per new turn, limit, summary or opt-out, not per keystroke.
        self._window: tuple[tuple[Any, ...], ContextWindow] | None = None
        self._summary: HistorySummary | None = None  # the open conversation's running summary
        self._history_attachments: tuple[tuple[str, ...], ...] = ()  # each turn's image names
        self.send_everything = False  # the open conversation's opt-out (no trimming, no summary)
        # Set by the thread (ui/viewmodels/conversations.py): rewrites the conversation's running
        # summary when it is due, before the run, and returns the request carrying it.
        self.context_keeper: Callable[[RunRequest], Awaitable[RunRequest]] | None = None
        self._conversation_model: str | None = None
        self._conversation_task: str | None = None  # the task the conversation's model answered
        self._voices: dict[str, BrandVoice] = {}
        self.brand_voice: str | None = None  # a profile of brand_voices.yaml put before text prompts
        self._running: asyncio.Task[Any] | None = None
        self.last_request_id: str | None = None
        self.last_output = ""
        self._template: RenderedPrompt | None = None  # its system prompt and JSON schema go with the run
        self.templates = TemplatePickerViewModel(executor, list(workspace.policy.tasks), parent=self)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)

    def shutdown(self) -> None:
        self._preview_timer.stop()

    async def wait_idle(self) -> None:
        """Also the preview a debounce timer still holds: drawn now and waited for, so
        nothing starts after "idle" (a test's end, a screenshot, shutdown)."""
        if self._preview_timer.isActive():
            self._preview_timer.stop()
            self.refresh_preview()
        await super().wait_idle()
        self.cancel()

    # -- the task table -------------------------------------------------------------
    def tasks(self) -> list[TaskInfo]:
        policy = self._workspace.policy
        return [
            TaskInfo(name, spec.description, spec.system_prompt, str(spec.capability.value), task_words(policy, name))
            for name, spec in policy.tasks.items()
        ]

    @staticmethod
    def choices(option: str) -> tuple[str, ...]:
        return OPTION_CHOICES[option]

    @property
    def options(self) -> dict[str, str | None]:
        return dict(self._options)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def set_task(self, name: str) -> None:
        """Choose a task and pre-fill the other options from the task table. Another task
        than the template's leaves the template (its system prompt is the task's again)."""
        spec = self._workspace.policy.task(name)
        if self._template is not None and name != self._template.task:
            self.clear_template()
        preferred = self._workspace.settings.defaults
        defaults = spec.defaults
        no_complexity = spec.capability.value in ("image_generation", "embedding")  # as the router does
        self._options = {
            "task": name,
            "complexity": None if no_complexity or spec.complexity is None else spec.complexity.value,
            "budget": preferred.budget or _value(defaults.budget) or "standard",
            "speed": preferred.speed or _value(defaults.speed) or "standard",
            "quality": preferred.quality or _value(defaults.quality) or "standard",
        }
        o = self._options
        self.optionsChanged.emit(
            TaskOptions(
                name,
                o["complexity"],
                o["budget"],
                o["speed"],
                o["quality"],
                spec.system_prompt,
                spec.description,
                str(spec.capability.value),
            )
        )
        self.schedule_preview()

    def set_option(self, option: str, value: str | None) -> None:
        if option not in OPTION_CHOICES:
            raise KeyError(option)
        if self._options.get(option) != value:
            self._options[option] = value
            self.schedule_preview()

    def set_prompt(self, text: str) -> None:
        if text != self._prompt:
            self._prompt = text
            self.schedule_preview()

    # -- templates (docs/templates.md) --------------------------------------------------
    @property
    def template(self) -> str | None:
        return self._template.template if self._template is not None else None

    @property
    def template_system(self) -> str | None:
        """The template's system prompt, sent instead of the task's (None: no template)."""
        return self._template.system if self._template is not None else None

    def use_template(self, rendered: RenderedPrompt, route: Mapping[str, str]) -> None:
        """Take a filled-in template: its task and route options, its prompt in the box; its
        system prompt (instead of the task's) and JSON schema go with the next runs."""
        if rendered.task in self._workspace.policy.tasks:
            self.set_task(rendered.task)
        for option, value in route.items():
            if option in OPTION_CHOICES:
                self.set_option(option, value)
        self._template = rendered
        self.templateChanged.emit(rendered.template)
        self._prompt = rendered.prompt
        self.promptReplaced.emit(rendered.prompt)
        self.schedule_preview()

    def clear_template(self) -> None:
        """Back to the task's own system prompt and a free-text answer."""
        if self._template is not None:
            self._template = None
            self.templateChanged.emit(None)
            self.schedule_preview()

    # -- images ----------------------------------------------------------------------
    @asyncSlot(list)
    async def attach_images(self, paths: list[str]) -> None:
        """Read image files off the loop; unsupported files raise an inline error."""
        self._track()
        for name in paths:
            path = Path(name)
            kind = IMAGE_TYPES.get(path.suffix.lower())
            if kind is None:
                self.errorRaised.emit(f"{path.name}: not a PNG, JPEG, WebP or GIF file")
                continue
            try:
                data = await self._executor.call(path.read_bytes)
            except OSError as exc:
                self.errorRaised.emit(f"{path.name}: {exc.strerror}")
                continue
            self._images.append(ImageInput(data, kind))
            self._image_names.append(path.name)
        self.imagesChanged.emit(list(self._image_names))
        self.schedule_preview()

    def clear_images(self) -> None:
        self._images.clear()
        self._image_names.clear()
        self.imagesChanged.emit([])
        self.schedule_preview()

    # -- the route preview ---------------------------------------------------------
    def schedule_preview(self) -> None:
        """Restart the debounce timer: typing fast routes once, 250 ms after the last key."""
        if self._options["task"] is not None:
            self._preview_timer.start()

    # -- brand voice ------------------------------------------------------------------
    @asyncSlot()
    async def load_voices(self) -> None:
        """Read brand_voices.yaml (off the loop); a broken file is one inline error and no voices."""
        self._track()
        from sparklio_desktop.core.recipes.brand_voice import load_brand_voices  # not on the launch path

        try:
            self._voices = await self._executor.call(load_brand_voices)
        except SparklioError as exc:
            self._voices = {}
            self.errorRaised.emit(str(exc))
        if self.brand_voice not in self._voices:
            self.brand_voice = None
        self.voicesChanged.emit(sorted(self._voices))

    def set_brand_voice(self, name: str | None) -> None:
        """Apply a brand voice to every text prompt from now on (None: none), as recipes do."""
        if name is not None and name not in self._voices:
            raise KeyError(name)
        if name != self.brand_voice:
            self.brand_voice = name
            self.schedule_preview()

    def _voiced(self, prompt: str) -> str:
        """The prompt as sent: the voice's paragraph first for a text task (docs/recipes.md,
        "Brand voice"); an image or an embedding gets the prompt alone. The thread keeps the
        prompt as written."""
        if self.brand_voice is None or not prompt:
            return prompt
        capability = self._workspace.policy.task(self._options["task"] or "chat").capability.value
        if capability in ("image_generation", "embedding"):
            return prompt
        return self._voices[self.brand_voice].preamble(self.brand_voice) + prompt

    def _route_request(self) -> RouteRequest:
        o = self._options
        return RouteRequest(
            task=o["task"] or "chat",
            complexity=o["complexity"],
            budget=o["budget"],
            speed=o["speed"],
            quality=o["quality"],
            prompt=self._voiced(self._prompt) or None,
            attachments=tuple(self._images),
            explore=False,
            history_tokens=self._count_history(),
            system_prompt=self._template.system if self._template is not None else None,
        )

    def _count_history(self) -> int:
        """The earlier turns' tokens, as :class:`RunRequest` counts them: the preview prices
        what the run sends (the kept turns and the summary)."""
        return self.history_window().sent_tokens if self._history else 0

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher runs go through (the thread's summary keeper runs its call there too)."""
        return self._dispatcher

    def _history_limit(self) -> int:
        """The task's ``context.max_history_tokens`` (the policy)."""
        task = self._workspace.policy.tasks.get(self._options["task"] or "chat")
        return task.context.max_history_tokens if task is not None else HISTORY_TOKEN_LIMIT

    def history_window(self) -> ContextWindow:
        """What a follow-up sends of the conversation, and what that saves."""
        key = (
            len(self._history),
            self._history_limit(),
            self._summary,
            self.send_everything,
            self._history_attachments,
        )
        if self._window is None or self._window[0] != key:
            window = fit_context(
                self._history,
                key[1],
                self._summary,
                send_everything=self.send_everything,
                attachments=self._attachments(),
            )
            self._window = (key, window)
        return self._window[1]

    @property
    def history_summary(self) -> HistorySummary | None:
        """The open conversation's running summary (None: none, or not yet written)."""
        return self._summary

    def _attachments(self) -> tuple[tuple[str, ...], ...]:
        """Each history turn's image names, while they still describe this history."""
        return self._history_attachments if len(self._history_attachments) == len(self._history) else ()

    def set_history_context(
        self,
        summary: HistorySummary | None,
        send_everything: bool,
        attachments: tuple[tuple[str, ...], ...] | None = None,
    ) -> None:
        """The open conversation's running summary, opt-out and each turn's image names (the
        thread reads them from the store; images older than the window are named)."""
        wanted = self._history_attachments if attachments is None else attachments
        if (summary, send_everything, wanted) != (self._summary, self.send_everything, self._history_attachments):
            self._summary, self.send_everything, self._history_attachments = summary, send_everything, wanted
            self.schedule_preview()

    def history_note(self, model_id: str | None, sent: int | None = None, saved: int | None = None) -> str:
        """ "history trimmed: 3,200 tokens, saved ~$0.009" at ``model_id``'s input price (the
        preview: the window's figures; the answer chip: the run's); with the opt-out, what
        sending everything costs."""
        if sent is None or saved is None:
            if not self._history:
                return ""
            window = self.history_window()
            sent, saved = window.sent_tokens, window.saved_tokens
        model = self._workspace.catalog.get(model_id) if model_id else None
        return history_words(sent, saved, self.send_everything, model)

    @asyncSlot()
    async def refresh_preview(self) -> None:
        self._track()
        if self._options["task"] is None:
            return
        request = self._route_request()
        try:
            decision = await self._planner.aplan(request)  # probes off the loop when stale
        except SparklioError as exc:
            self.previewFailed.emit(str(exc))
            return
        preview = RoutePreview.of(decision)
        note = self.history_note(decision.chain[0] if decision.chain else None)
        self.previewChanged.emit(replace(preview, history_note=note) if note else preview)

    # -- running --------------------------------------------------------------------
    def _run_request(self) -> RunRequest:
        model = self.forced_model
        if model is None and self._history and not self.route_again and self._stays_on_model():
            model = self._conversation_model  # a follow-up stays on the model that answered
        # The previewed request itself (prompt and images included), so the run is routed
        # and priced exactly as the preview was.
        route = replace(self._route_request(), prompt=self._voiced(self._prompt), explore=self.explore)
        json_output = self._template.json_output if self._template is not None else None
        return RunRequest(
            route=route,
            history=tuple(self._history),
            model=model,
            json_output=json_output,
            history_limit=self._history_limit(),
            history_summary=self._summary,
            send_everything=self.send_everything,
            history_attachments=self._attachments(),
        )

    def _stays_on_model(self) -> bool:
        """A follow-up keeps the conversation's model only for the task that model answered:
        after an image, switching to chat routes again (it used to send the text to DALL-E 3)."""
        task = self._options["task"] or "chat"
        if self._conversation_model is None or task != self._conversation_task:
            return False
        spec = self._workspace.catalog.get(self._conversation_model)
        capability = self._workspace.policy.task(task).capability
        return spec is not None and spec.has(capability)

    @asyncSlot()
    async def send(self) -> None:
        """Run the composed request, streaming its events out as signals."""
        task = self._track()
        if not self._prompt.strip():
            self.errorRaised.emit("Write a prompt first.")
            return
        previous = self._running
        if previous is not None:  # a new request replaces the one in flight
            previous.cancel()
            await asyncio.wait([previous])
        request = self._run_request()
        self._running = task
        self.last_output = ""
        self.busyChanged.emit(True)
        request_id: str | None = None
        try:
            if self.context_keeper is not None and request.window.refresh_due:
                request = await self.context_keeper(request)  # the running summary, when due
            async for event in self._dispatcher.stream(request):
                request_id = self._on_event(event, request) or request_id
                # Give the loop a turn between events: the dispatcher yields a burst of
                # events (routing, ledger writes, the SDK's first connection) without
                # awaiting anything, and the window must stay responsive meanwhile.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled.emit()  # the dispatcher recorded the attempt as cancelled
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
        finally:
            if self._running is task:
                self._running = None
                self.busyChanged.emit(False)
            if request_id is not None:
                self.requestCompleted.emit(request_id)
                self._events.changed(LedgerChange("request", request_id))

    def cancel(self) -> None:
        """Stop the running request (Esc)."""
        if self._running is not None:
            self._running.cancel()

    def _on_event(self, event: Event, request: RunRequest) -> str | None:
        if isinstance(event, TextChunk):
            self.last_output += event.text
            self.tokenReceived.emit(event.text)
        elif isinstance(event, Routed):
            self.last_request_id = event.request_id
            self.requestStarted.emit(event.request_id)
            self.routed.emit(event.decision.to_dict())
            return event.request_id
        elif isinstance(event, AttemptStarted):
            self.attemptChanged.emit(StartedAttempt.of(event))
        elif isinstance(event, AttemptFailed):
            self.attemptChanged.emit(FailedAttempt.of(event))
        elif isinstance(event, Finished):
            self._finish(event.result, request)
        return None

    def _finish(self, result: RunResult, request: RunRequest) -> None:
        if result.ok:
            if self._attachments():  # kept in step with the history (the new turns' images go unnamed)
                self._history_attachments += ((), ())
            self._history.extend(
                [Message("user", request.prompt, request.route.attachments), Message("assistant", result.output)]
            )
            self._conversation_model = result.model
            self._conversation_task = request.route.task
            self.last_output = result.output
            self.conversationChanged.emit(len(self._history) // 2)
        summary = RunSummary.of(result, self._workspace.policy.exploration.rate)
        note = self.history_note(result.model, result.history_tokens_sent, result.history_tokens_saved)
        self.finished.emit(replace(summary, history_note=note) if note else summary)
        # No chain: "no model fits", which the composer explains once, in place, with the
        # actions that fix it; a notification would be a second copy of the same list.
        if result.error and (result.attempts or result.decision.chain):
            self.errorRaised.emit(result.error)

    # -- after the answer --------------------------------------------------------------
    @asyncSlot(int)
    async def rate(self, stars: int) -> None:
        """Store a 1-5 star rating on the ledger row of the answer."""
        self._track()
        request_id = self.last_request_id
        if request_id is None:
            self.errorRaised.emit("Nothing to rate yet.")
            return
        try:
            await self._executor.call(self._ledger.set_rating, request_id, stars)
        except (SparklioError, ValueError) as exc:
            self.errorRaised.emit(str(exc))
            return
        self.ratingSaved.emit(stars)
        self._events.changed(LedgerChange("rating", request_id))

    @asyncSlot(str)
    async def save_markdown(self, path: str) -> None:
        self._track()
        try:
            await self._executor.call(Path(path).write_text, self.last_output, encoding="utf-8")
        except OSError as exc:
            self.errorRaised.emit(f"Could not save {path}: {exc.strerror}")

    def continue_with(self, model_id: str, prompt: str, answer: str) -> None:
        """Take a compared answer into the composer: the conversation goes on with that
        model, as a follow-up would (the compare panel's "Continue with this one")."""
        self._history = [Message("user", prompt), Message("assistant", answer)]
        self._summary, self.send_everything = None, False
        self._history_attachments = ()
        self._conversation_model = model_id
        self._conversation_task = self._options["task"] or "chat"
        self.route_again = False
        self.conversationChanged.emit(1)

    def new_conversation(self) -> None:
        """Forget the conversation: the next message is routed afresh."""
        self._history.clear()
        self._summary, self.send_everything = None, False
        self._history_attachments = ()
        self._conversation_model = None
        self._conversation_task = None
        self.conversationChanged.emit(0)

    # -- the conversation thread (ui/viewmodels/conversations.py) ---------------------
    @property
    def prompt(self) -> str:
        return self._prompt

    @property
    def image_names(self) -> list[str]:
        return list(self._image_names)

    def load_conversation(
        self,
        history: Sequence[Message],
        model: str | None,
        task: str | None,
        options: Mapping[str, str | None],
        *,
        summary: HistorySummary | None = None,
        send_everything: bool = False,
    ) -> None:
        """Carry a stored conversation on: its history, the model that answered last (under the
        conversation's task, so a follow-up stays on it), its task, its running summary and
        opt-out."""
        self._history = list(history)
        self._summary, self.send_everything = summary, send_everything
        self._history_attachments = ()
        self._conversation_model = model
        if task is not None and task in self._workspace.policy.tasks and task != self._options["task"]:
            self.set_task(task)
        self._conversation_task = self._options["task"] if model is not None else None
        for name, value in options.items():
            if name in OPTION_CHOICES and value is not None:
                self.set_option(name, value)
        self.schedule_preview()  # the estimate prices the history
        self.conversationChanged.emit(len(self._history) // 2)

    def send_turn(self, prompt: str, history: Sequence[Message], model: str | None) -> None:
        """Run ``prompt`` after ``history`` on ``model`` (None: as a follow-up would be), for a
        regenerate or an edit-and-resend; the draft in the prompt box is kept for the next Send."""
        draft, forced = self._prompt, self.forced_model
        self._history = list(history)
        self._prompt, self.forced_model = prompt, model

        def restore(busy: bool) -> None:  # the request is built: the draft and the forcing come back
            if busy:
                self.busyChanged.disconnect(restore)
                if self._prompt == prompt:
                    self._prompt = draft
                self.forced_model = forced

        self.busyChanged.connect(restore)
        self.send()
