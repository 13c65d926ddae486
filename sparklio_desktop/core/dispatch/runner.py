"""Runs a routing decision: the cache, then the chain, model by model, each model's
attempts under the policy's retries, every attempt recorded with its exact cost.

The steps live in their own modules; this one only puts them in order:

1. route the request (the session's route planner: the chain the preview showed);
2. the cache, for tasks whose answers are cached;
3. for each model of the chain: reserve its worst case in the budget, with the first
   attempt's start row (core/dispatch/reserve.py); call it (core/dispatch/attempt.py);
   record how the attempt ended (core/dispatch/record.py); on a failure, ask
   :func:`~sparklio_desktop.core.dispatch.next_action.next_action` what follows (retry,
   next model, stop) and apply what it returns (waits, session failures, a larger
   context window); settle the reservation once the model's attempts are recorded;
4. the decision, written once when the request ends, so no write of it delays the
   first token.

What each failure leads to is tabled in core/dispatch/next_action.py and
docs/dispatch.md. Cancellation closes the stream, records the attempt as cancelled and
goes on to the caller; SIGTERM/SIGHUP finish the attempts in flight first
(core/dispatch/interrupts.py).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core import tokens
from sparklio_desktop.core.cache import CachedResponse, cache_key
from sparklio_desktop.core.dispatch import interrupts, record
from sparklio_desktop.core.dispatch.attempt import AttemptContext, AttemptState, ModelCaller
from sparklio_desktop.core.dispatch.endpoints import ProviderAccess, ProviderClients
from sparklio_desktop.core.dispatch.events import (
    AttemptFailed,
    AttemptInfo,
    AttemptStarted,
    Event,
    Finished,
    Routed,
    RunResult,
    TextChunk,
)
from sparklio_desktop.core.dispatch.next_action import NextAction, next_action
from sparklio_desktop.core.dispatch.request import RunRequest
from sparklio_desktop.core.dispatch.reserve import max_output_tokens, reserve
from sparklio_desktop.core.dispatch.watchdog import StallLimits
from sparklio_desktop.core.errors import BudgetError, SparklioError
from sparklio_desktop.core.gallery.recorder import ImagesMade, RecordedImages
from sparklio_desktop.core.gallery.records import LoraUse
from sparklio_desktop.core.money import format_usd_distinct
from sparklio_desktop.core.policy.catalog import ModelSpec
from sparklio_desktop.core.policy.routing_policy import SpeedClass, TaskSpec
from sparklio_desktop.core.pricing import UnpricedModelError
from sparklio_desktop.core.providers.base import Message
from sparklio_desktop.core.providers.errors import ProviderError
from sparklio_desktop.core.routing.decision import RoutingDecision
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.structured_output import InvalidOutputError, validate_answer
from sparklio_desktop.core.workspace import Workspace

if TYPE_CHECKING:
    import httpx

    from sparklio_desktop.core.budget import Reservation
    from sparklio_desktop.core.dispatch.collaborators import (
        AnswerCache,
        AttemptLedger,
        Budget,
        ClientFactory,
        ImageGallery,
        KeySource,
        LocalImageEngine,
        Planner,
    )
    from sparklio_desktop.core.settings.config import Settings

__all__ = ["Dispatcher"]


@dataclass
class _Run:
    """One request's progress through its chain: the orchestrator's own state."""

    request_id: str
    request: RunRequest
    decision: RoutingDecision
    task: TaskSpec
    messages: list[Message]
    attempts: list[AttemptInfo] = field(default_factory=list)
    context_floor: int | None = None  # after "context too long": only larger windows
    last_error: str | None = None  # why no model answered, in the provider's words
    halted: bool = False  # a failure said stop: no further model
    answer: tuple[str, AttemptState] | None = None  # the model that answered, and its answer
    not_found: set[str] = field(default_factory=set)  # models that answered "model not found"
    invalid: tuple[str, str] | None = None  # the last answer that was not the JSON asked for, and why
    data: Any = None  # the answer parsed, when the request asked for JSON
    _numbered: int = 0

    def next_attempt(
        self, model: ModelSpec, input_estimate: int, exploration: bool, waited_s: float = 0.0
    ) -> AttemptContext:
        self._numbered += 1
        return AttemptContext(
            self.request_id,
            self._numbered,
            self.decision.options,
            model,
            input_estimate,
            self.request.paid_image_size,
            exploration,
            waited_s,
            run_id=self.request.run_id,
        )

    def result(self, *, model: str | None, output: str = "", **more: Any) -> RunResult:
        return RunResult(
            request_id=self.request_id,
            decision=self.decision,
            model=model,
            output=output,
            exploration=self.decision.exploration,
            data=self.data if model is not None else None,
            attempts=tuple(self.attempts),
            history_tokens_sent=self.request.history_tokens_sent,
            history_tokens_saved=self.request.history_tokens_saved,
            **more,
        )


class Dispatcher:
    """Executes requests against the providers. One per app; safe for concurrent runs."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        ledger: AttemptLedger,
        keys: KeySource,
        cache: AnswerCache | None = None,
        budget: Budget | None = None,
        http_client: httpx.AsyncClient | None = None,
        planner: Planner | None = None,
        live: Callable[[], LiveState] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        local_images: LocalImageEngine | None = None,
        settings: Settings | None = None,
        clients: ClientFactory | None = None,
        gallery: ImageGallery | None = None,
    ) -> None:
        """``planner`` routes every request (core.services builds the one the previews
        share); without one, a planner over ``live`` (the machine's facts; default:
        everything available) is made for this dispatcher alone. ``clients`` builds the
        provider clients (default: the registry's, over ``http_client``). ``gallery``
        keeps the images of every answered image request (core/gallery/recorder.py)."""
        self.workspace = workspace
        self.ledger = ledger
        self.keys = keys
        self.cache = cache
        self.budget = budget
        self.planner: Planner = planner or RoutePlanner(workspace, settings=settings, probe=live or LiveState)
        self._sleep = sleep
        self._clients: ClientFactory = clients or ProviderClients(http_client)
        self._access = ProviderAccess(keys, settings)
        self._caller = ModelCaller(
            self._clients, self._access, local_images, lambda: self.workspace.policy.dispatch.ollama_load_allowance_s
        )
        self._recorder = record.AttemptRecorder(ledger, self._access.secrets_of)
        self.gallery = gallery

    # -- public ----------------------------------------------------------------
    @property
    def access(self) -> ProviderAccess:
        """Keys and endpoints for models (provider batch jobs call the same endpoints)."""
        return self._access

    async def run(self, request: RunRequest, on_event: Callable[[Event], None] | None = None) -> RunResult:
        result = None
        async for event in self.stream(request):
            if on_event is not None:
                on_event(event)
            if isinstance(event, Finished):
                result = event.result
        assert result is not None
        return result

    async def stream(self, request: RunRequest) -> AsyncIterator[Event]:
        request_id = request.request_id or uuid.uuid4().hex
        request = self._with_history_limit(request)
        decision, chain = await self._plan(request)
        yield Routed(request_id, decision)
        answered: str | None = None
        try:
            async for event in self._execute(request_id, request, decision, chain):
                if isinstance(event, Finished):
                    answered = event.result.model
                yield event
            # One loop iteration between the attempt's writes and the decision's: many
            # requests ending together (a batch) then share the loop with the window
            # instead of running all their writes in one turn of it (docs/batches.md).
            await asyncio.sleep(0)
        finally:
            self.ledger.record_decision(
                request_id,
                prompt=request.prompt,
                task_type=decision.options.task,
                trace=decision.to_dict(),
                final_model_id=answered,
                exploration=decision.exploration,
                history_tokens_sent=request.history_tokens_sent,
                history_tokens_saved=request.history_tokens_saved,
            )

    async def aclose(self) -> None:
        """Close the provider clients and release the cache's connections on this loop."""
        try:
            await self._clients.aclose()
        finally:
            if self.cache is not None:
                await self.cache.aclose()

    # -- the steps -------------------------------------------------------------
    def _with_history_limit(self, request: RunRequest) -> RunRequest:
        """The request with its task's history limit (policy ``context.max_history_tokens``)
        when its front end named none: every front end sends what the policy says."""
        if not request.history or request.history_limit is not None:
            return request
        task = self.workspace.policy.tasks.get(request.route.task)
        if task is None:
            return request  # an unknown task: the planner says so
        return replace(request, history_limit=task.context.max_history_tokens)

    async def _plan(self, request: RunRequest) -> tuple[RoutingDecision, list[str]]:
        """The decision (the planner the previews use: the same live state, session
        failures and ratings) and the chain to run: the decision's, or the forced model."""
        if request.model is None:
            decision = await self.planner.aplan(request.route)
            return decision, list(decision.chain)
        decision = await self.planner.aplan(replace(request.route, explore=False))  # never an A/B pick
        forced = self.workspace.catalog.get_model(request.model)
        if not forced.has(decision.options.capability):
            raise SparklioError(f"{forced.name} cannot do {decision.options.capability} ({request.model})")
        if forced.unpriced:
            raise UnpricedModelError(
                f"{forced.name} ({forced.id}) has no price in the catalog; add one to "
                "your catalog.yaml before using it, so its cost can be recorded"
            )
        return decision, [forced.id]

    async def _execute(
        self, request_id: str, request: RunRequest, decision: RoutingDecision, chain: list[str]
    ) -> AsyncIterator[Event]:
        task = self.workspace.policy.task(decision.options.task)
        system = task.system_prompt if request.system_prompt is None else request.system_prompt
        run = _Run(request_id, request, decision, task, _messages(system, request))
        if not chain:
            reasons = "; ".join(decision.no_fit_reasons) or "no model fits"
            yield Finished(run.result(model=None, error=f"No model fits: {reasons}"))
            return
        cache_key = self._cache_key(run, chain[0])
        hit = await self.cache.aget(cache_key) if self.cache is not None and cache_key is not None else None
        if hit is not None and request.json_output is not None:
            try:
                run.data = validate_answer(hit.output, request.json_output.schema)
            except InvalidOutputError:
                hit = None  # kept before the schema changed: ask again
        if hit is not None:
            first = run.next_attempt(self.workspace.catalog[hit.model_id], 0, False)
            run.attempts.append(self._recorder.record(record.cache_hit(first, hit)))
            yield TextChunk(hit.output)
            yield Finished(run.result(model=hit.model_id, output=hit.output, cache_hit=True, saved_usd=hit.cost_usd))
            return
        for index, model_id in enumerate(chain):
            model = self._as_called(decision, model_id)
            if not model.local and _needs_local(request):
                # An init image or a mask: only local Stable Diffusion takes them; a cloud
                # image model would answer a different request. The local reason stands.
                run.last_error = run.last_error or (
                    f"{model.name} cannot take an init image or a mask; image-to-image and inpainting run on "
                    "local Stable Diffusion only"
                )
                continue
            if model_id in self.planner.session or (
                run.context_floor is not None and (model.context_tokens or 0) <= run.context_floor
            ):
                continue
            explored = decision.exploration and index == 0
            run.invalid = None
            async for event in self._try_model(run, model, explored, cache_key if index == 0 else None):
                yield event
            if run.answer is None and run.invalid is not None and not run.halted:
                # Not the JSON asked for: once more on the same model, with what was wrong.
                async for event in self._correct(run, model, explored, cache_key if index == 0 else None):
                    yield event
            if run.answer is not None:
                answered, state = run.answer
                kept = await self._keep_images(run, model, state)
                yield Finished(
                    run.result(
                        model=answered,
                        output=state.text,
                        images=state.images,
                        image_size=request.route.image_size,
                        vectors=state.vectors,
                        budget_alert=self._alert(),
                        gallery_ids=kept.ids,
                        image_files=tuple(str(p) for p in kept.paths),
                        gallery_warning=kept.warning,
                    )
                )
                return
            if run.halted:
                break
            if model_id in run.not_found and request.model is None:
                # "Model not found": the model's family moves on to its next usable member
                # in this same request, ahead of the rest of the chain.
                nxt = self.planner.family_successor(model_id, decision.options.capability, chain)
                if nxt is not None and nxt.model_id is not None:
                    chain.insert(index + 1, nxt.model_id)
        yield Finished(run.result(model=None, error=run.last_error or "every model in the chain was unavailable"))

    async def _correct(
        self, run: _Run, model: ModelSpec, explored: bool, cache_key: str | None
    ) -> AsyncIterator[Event]:
        """The retry of an answer that failed its schema: the same messages, the bad answer,
        and the validation error; the next model gets the original messages."""
        assert run.invalid is not None
        bad, why = run.invalid
        original = run.messages
        run.messages = [*original, Message("assistant", bad), Message("user", correction_prompt(why))]
        try:
            async for event in self._try_model(run, model, explored, cache_key, correcting=True):
                yield event
        finally:
            run.messages = original

    async def _try_model(
        self, run: _Run, model: ModelSpec, explored: bool, cache_key: str | None, *, correcting: bool = False
    ) -> AsyncIterator[Event]:
        """One model's attempts, under one budget reservation: reserve, then attempt and
        decide until it answers, a failure moves on, or the retries are spent. Sets
        ``run.answer`` or ``run.halted``; the reservation is settled before it returns."""
        policy = self.workspace.policy
        input_estimate = _input_estimate(model, run.messages, run.decision)
        max_output = max_output_tokens(run.request, run.task, run.decision.options.capability)
        attempt = run.next_attempt(model, input_estimate, explored)
        try:
            reservation = reserve(self.budget, attempt, run.request, max_output)
        except (BudgetError, UnpricedModelError) as exc:
            info = self._recorder.record(record.refused(attempt, exc))
            run.attempts.append(info)
            run.last_error = str(exc)
            action = next_action(exc, retry_index=0, retry=policy.retry)
            run.halted = action.kind == "stop"
            yield AttemptFailed(info, action.kind)
            return
        speed = SpeedClass(run.decision.options.speed)
        timeout_s = policy.speed_classes[speed].timeout_s
        limits = StallLimits(
            policy.dispatch.first_token_timeout_s.for_speed(speed), policy.dispatch.stream_idle_timeout_s
        )
        try:
            for retry_index in range(policy.retry.max_retries + 1):
                yield AttemptStarted(attempt.number, model.id, model.name, attempt.waited_s)
                state = AttemptState()
                if reservation is None or retry_index:  # else the reservation wrote this row
                    self.ledger.start_attempt(record.start_row(attempt))
                interrupts.track(attempt.key, functools.partial(self._interrupted, attempt, state, reservation))
                try:
                    async for chunk in self._caller.call(
                        model,
                        run.messages,
                        run.request,
                        state,
                        timeout_s=timeout_s,
                        max_output=max_output,
                        limits=limits,
                    ):
                        yield TextChunk(chunk)
                except asyncio.CancelledError:
                    self._recorder.record(record.cancelled(attempt, state, state.elapsed()))
                    raise
                except ProviderError as exc:
                    facts = record.failed(attempt, exc, state, state.elapsed())
                    info = self._recorder.record(facts)
                    run.attempts.append(info)
                    run.last_error = f"{model.name}: {exc.message}"
                    action = next_action(exc, retry_index=retry_index, retry=policy.retry, billed=facts.billed)
                    self._apply(action, run, attempt)
                    if action.session_failure is not None and action.session_failure.scope == "model":
                        run.not_found.add(model.id)
                        await self._retire(model, exc.message)
                    yield AttemptFailed(info, action.kind, action.wait_s)
                    if action.kind != "retry":
                        if action.kind == "stop":
                            run.last_error = f"{model.name} refused the request: {exc.message}"
                            run.halted = True
                        return
                    await self._sleep(action.wait_s)
                    attempt = run.next_attempt(model, input_estimate, explored, action.wait_s)
                else:
                    schema = run.request.json_output
                    if schema is not None:
                        try:
                            run.data = validate_answer(state.text, schema.schema)
                        except InvalidOutputError as exc:
                            info = self._recorder.record(record.invalid_output(attempt, state, state.elapsed(), exc))
                            run.attempts.append(info)
                            run.last_error = f"{model.name}: {exc}"
                            run.invalid = (state.text, str(exc))
                            yield AttemptFailed(info, "next model" if correcting else "retry")
                            return
                    info = self._recorder.record(record.succeeded(attempt, state, state.elapsed()))
                    run.attempts.append(info)
                    if cache_key is not None and state.text:
                        await self._cache_answer(cache_key, run, info, state.text)
                    run.answer = (model.id, state)
                    return
        finally:
            if reservation is not None and self.budget is not None:
                self.budget.settle(reservation)

    async def _keep_images(self, run: _Run, model: ModelSpec, state: AttemptState) -> RecordedImages:
        """The gallery's record of the answer's images (written under the data folder, one
        row each), off the event loop. The images are paid for: whatever goes wrong here is
        a warning on the result, never a lost answer."""
        if self.gallery is None or not state.images:
            return RecordedImages()
        options = run.request.image_options
        made = ImagesMade(
            request_id=run.request_id,
            prompt=run.request.prompt,
            images=state.images,
            model_id=model.id,
            model_name=model.name,
            provider=model.provider,
            local=model.local,
            size=run.request.route.image_size or (None if model.local else run.request.paid_image_size),
            cost_usd=run.attempts[-1].cost_usd if run.attempts else Decimal(0),
            negative_prompt=options.negative_prompt if options is not None else "",
            seed=options.seed if options is not None else None,
            steps=options.steps if options is not None else None,
            guidance=options.guidance if options is not None else None,
            # image-to-image and inpainting: the files they came from (a painted mask has none)
            init_image=_path_or_none(getattr(options, "init_image_path", None)),
            strength=_number_or_none(getattr(options, "strength", None)),
            mask=_path_or_none(getattr(options, "mask_path", None)),
            loras=tuple(LoraUse(name, weight) for name, weight in getattr(options, "loras", ()) or ()),
        )
        try:
            return await asyncio.to_thread(self.gallery.record, made)
        except Exception as exc:  # noqa: BLE001 - a recorder that broke its promise: the paid answer still goes out
            return RecordedImages(warning=f"the images were not recorded in the gallery: {exc}")

    def _apply(self, action: NextAction, run: _Run, attempt: AttemptContext) -> None:
        """What a next action asks of the session: the route planner's session failures
        (so the next preview and run leave the provider or model out too), a key to read
        again, a larger context window for the rest of the chain."""
        model, failure = attempt.model, action.session_failure
        if failure is not None and failure.scope == "provider":
            self._access.forget_key(model)
            self.planner.session.provider_refused(self.workspace.catalog, model.provider, failure.why)
        elif failure is not None:
            self.planner.session.model_missing(model.id, failure.why)
        if action.needs_larger_context:
            run.context_floor = max(run.context_floor or 0, model.context_tokens or attempt.input_estimate)

    async def _retire(self, model: ModelSpec, why: str) -> None:
        """A cloud model its provider says it does not have is retired in the user's catalog
        at once (kept for the ledger's history, never routed again), not only for this
        session; the catalog is read again so the next plan resolves its family without it.
        A local model that is "not found" is only not pulled: it is not retired."""
        if model.local:
            return
        from sparklio_desktop.core.policy import user_catalog

        try:
            await asyncio.to_thread(user_catalog.retire, model.id, f"model not found: {why}"[:400])
        except SparklioError:
            return  # a broken user catalog: the session failure still keeps it out
        self.workspace.reload_catalog()
        self.planner.invalidate()

    def _interrupted(self, attempt: AttemptContext, state: AttemptState, reservation: Reservation | None) -> None:
        """Finish an attempt cut off by a signal: billed its input estimate and what arrived."""
        self._recorder.record(record.interrupted(attempt, state, state.elapsed()))
        if reservation is not None and self.budget is not None:
            self.budget.settle(reservation)

    # -- the cache and the budget alert -----------------------------------------
    def _cache_key(self, run: _Run, first_model: str) -> str | None:
        """The cache key of the chain's first model, when the answer may come from the cache."""
        request = run.request
        ttl = self.workspace.policy.cache_ttl_s(run.decision.options.task)
        if self.cache is None or not request.use_cache or ttl is None or request.model is not None:
            return None

        params = {
            "max_output_tokens": request.max_output_tokens,
            "temperature": request.temperature,
            "images": request.n_images,
            "size": request.route.image_size,
        }
        if request.json_output is not None:
            params["json_output"] = request.json_output.key()
        return cache_key(first_model, run.messages, params)

    async def _cache_answer(self, key: str, run: _Run, info: AttemptInfo, text: str) -> None:
        """Keep a complete answer of the chain's first model (never an error or a partial)."""
        ttl = self.workspace.policy.cache_ttl_s(run.decision.options.task)
        if self.cache is None or ttl is None:
            return

        await self.cache.aput(
            key,
            CachedResponse(
                model_id=info.model,
                output=text,
                input_tokens=info.input_tokens,
                output_tokens=info.output_tokens,
                cost_usd=info.cost_usd,
            ),
            ttl,
        )

    def _alert(self) -> str | None:
        if self.budget is None or not self.budget.alert_due():
            return None
        status = self.budget.status()
        spent, budget = format_usd_distinct(status.spent_usd, status.budget_usd)  # never "$0.02 of $0.02"
        return f"Budget alert: {status.percent}% of the {status.month} budget spent ({spent} of {budget})."

    def _as_called(self, decision: RoutingDecision, model_id: str) -> ModelSpec:
        """The catalog's model, with the installed Ollama tag the decision resolved it to and,
        when it runs on a LAN Ollama host, that host as its endpoint."""
        model = self.workspace.catalog[model_id]
        tag = decision.local_tags.get(model_id)
        if tag is not None and tag != model.api_name:
            model = model.model_copy(update={"api_name": tag})
        host = decision.ollama_hosts.get(model_id)
        if host is not None and not host.local:
            model = model.model_copy(update={"base_url": host.url})
        return model


def _needs_local(request: RunRequest) -> bool:
    """Whether the request carries what only local generation can use (an init image, a mask)."""
    options = request.image_options
    return options is not None and (
        getattr(options, "init_image", None) is not None or getattr(options, "mask_image", None) is not None
    )


def _path_or_none(value: object) -> Path | None:
    """A file the request named (an init image given as bytes has no path to record)."""
    return Path(value) if isinstance(value, str | Path) else None


def _number_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def correction_prompt(why: str) -> str:
    """The user turn that asks a model to fix an answer that failed the schema."""
    return f"That answer was not valid: {why}. Reply again with only the corrected JSON object."


def _messages(system_prompt: str, request: RunRequest) -> list[Message]:
    messages: list[Message] = []
    # The summary of the turns no longer sent (and the images they carried, by name) goes
    # with the system prompt: one system message, which every provider takes.
    system = "\n\n".join(part for part in (system_prompt, request.window.context_message) if part)
    if system:
        messages.append(Message("system", system))
    messages.extend(request.history_sent)
    messages.append(Message("user", request.prompt, request.route.attachments))
    return messages


def _input_estimate(model: ModelSpec, messages: list[Message], decision: RoutingDecision) -> int:
    if decision.options.capability == "embedding":
        return tokens.count_text(messages[-1].content)[0]
    base, exact = tokens.count_chat(messages)
    return tokens.for_model(model, base, exact).tokens
