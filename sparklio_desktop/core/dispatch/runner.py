"""Runs a routing decision: cache, then the chain, model by model, with the policy's
retries, every attempt recorded in the ledger with its exact cost.

What happens on each kind of failure (docs/dispatch.md):
- transient (connection, timeout, 408, 429, 5xx, 529): retry after the policy's backoff,
  or the server's Retry-After when it sent one; a Retry-After above the policy's cap
  moves on to the next model at once; after the last retry, the next model;
- 401/403: the provider is unavailable for the session; "model not found": the model is
  (the route planner's session failures, so the next preview and run leave them out too);
  the chain moves on at once;
- context too long: the next model whose window is larger;
- invalid request / content policy: stop, with the provider's own message;
- a stream that breaks after some output: recorded as failed with what arrived; the next
  model starts the answer again;
- a provider that goes silent (no first token, or no chunk within the idle limit; see
  core/dispatch/watchdog.py): recorded as ``stalled`` with what arrived, the next model
  at once (never retried);
- cancellation: the stream is closed, the attempt recorded as cancelled, and the
  cancellation goes on to the caller.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sparklio_desktop.core import tokens
from sparklio_desktop.core.dispatch import interrupts
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
from sparklio_desktop.core.dispatch.watchdog import TRANSPORT_MARGIN_S, StalledError, StallLimits, watch, within
from sparklio_desktop.core.errors import BudgetError, SparklioError
from sparklio_desktop.core.policy.catalog import Capability, ModelSpec
from sparklio_desktop.core.pricing import UnpricedModelError, price_call
from sparklio_desktop.core.providers.base import (
    ChatRequest,
    EmbedRequest,
    Endpoint,
    ImageRequest,
    Message,
    TextDelta,
    Usage,
)
from sparklio_desktop.core.providers.errors import (
    AuthError,
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    StreamBrokenError,
    TransientError,
)
from sparklio_desktop.core.redact import redact
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.routing.router import LiveState, RouteRequest

if TYPE_CHECKING:  # the local image stack is imported only when an image is generated
    from sparklio_desktop.core.local.sd.service import ImageOptions, ImageProgress


@dataclass(frozen=True)
class RunRequest:
    """One task to run: its :class:`RouteRequest` (task, options, prompt, attached images,
    image count and size, each held once there, so the decision the ledger stores is
    priced for exactly what runs) and what only the run needs. ``history`` holds earlier
    turns of a conversation; local image settings (steps included) are ``image_options``.
    """

    route: RouteRequest
    history: tuple[Message, ...] = ()
    model: str | None = None  # force this model (no routing chain)
    use_cache: bool = True
    max_output_tokens: int | None = None
    temperature: float | None = None
    image_options: ImageOptions | None = None  # local image generation: steps, negative prompt, guidance, seed
    # Local image generation: (step, total, PNG preview or None), called on the event loop's thread.
    image_progress: ImageProgress | None = None

    def __post_init__(self) -> None:
        # Checked here, before anything is routed or paid for, whichever front end built the
        # request: ``images=0`` used to bill one DALL-E image (front ends add upper bounds).
        if not isinstance(self.route.prompt, str):
            raise SparklioError("a run needs a prompt")
        count = self.route.images
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise SparklioError(f"the number of images must be a whole number of at least 1, not {count!r}")
        if self.max_output_tokens is not None and (
                isinstance(self.max_output_tokens, bool) or not isinstance(self.max_output_tokens, int)
                or self.max_output_tokens < 1):
            raise SparklioError(f"the maximum output must be at least 1 token, not {self.max_output_tokens!r}")

    @property
    def prompt(self) -> str:
        return self.route.prompt or ""

    @property
    def n_images(self) -> int:
        """Images to generate (image generation): the route's count, else one."""
        return self.route.images if self.route.images is not None else 1


class LocalImageEngine(Protocol):
    async def generate(self, prompt: str, size: str, n: int, steps: int | None = None, *,
                       options: ImageOptions | None = None, progress: ImageProgress | None = None
                       ) -> tuple[tuple[bytes, ...], float]:
        """PNG images and the GPU seconds they took."""
        ...


@dataclass
class _Outcome:
    text: str = ""
    usage: Usage | None = None
    images: tuple[bytes, ...] = ()
    vectors: tuple[tuple[float, ...], ...] = ()
    ttft_s: float | None = None
    gpu_seconds: float | None = None


class Dispatcher:
    """Executes requests against the providers. One per app; safe for concurrent runs."""

    def __init__(
        self,
        workspace: Any,
        *,
        ledger: Any,
        keys: Any,
        cache: Any | None = None,
        budget: Any | None = None,
        http_client: Any | None = None,
        planner: RoutePlanner | None = None,
        live: Callable[[], LiveState] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        local_images: LocalImageEngine | None = None,
        settings: Any | None = None,
    ) -> None:
        """``planner`` routes every request (core.services builds the one the previews
        share); without one, a planner over ``live`` (the machine's facts; default:
        everything available) is made for this dispatcher alone."""
        self.workspace = workspace
        self.ledger = ledger
        self.keys = keys
        self.cache = cache
        self.budget = budget
        self._http = http_client
        self.planner = planner or RoutePlanner(workspace, settings=settings, probe=live or LiveState)
        self._sleep = sleep
        self._local_images = local_images
        self._settings = settings
        self._clients: dict[str, Any] = {}
        self._keys_seen: dict[str, str | None] = {}

    # -- public ----------------------------------------------------------------
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
        policy = self.workspace.policy
        catalog = self.workspace.catalog
        request_id = uuid.uuid4().hex
        route_request = request.route
        if request.model is not None:
            route_request = _replace(route_request, explore=False)  # a forced model is never an A/B pick
        # The planner the previews use: the same live state, session failures and ratings.
        decision = await self.planner.aplan(route_request)
        chain = list(decision.chain)
        if request.model is not None:
            forced = catalog.get_model(request.model)
            if not forced.has(decision.options.capability):
                raise SparklioError(f"{forced.name} cannot do {decision.options.capability} ({request.model})")
            if forced.unpriced:
                raise UnpricedModelError(f"{forced.name} ({forced.id}) has no price in the catalog; add one to "
                                         "your catalog.yaml before using it, so its cost can be recorded")
            chain = [forced.id]
        task = policy.task(decision.options.task)
        yield Routed(request_id, decision)
        # The decision is written once, when the request ends (answered, failed or
        # cancelled), so that no extra database write delays the first token.
        answered: list[str] = []
        try:
            async for event in self._execute(request_id, request, decision, chain, task):
                if isinstance(event, Finished) and event.result.model is not None:
                    answered.append(event.result.model)
                yield event
        finally:
            self.ledger.record_decision(
                request_id, prompt=request.prompt, task_type=decision.options.task, trace=decision.to_dict(),
                final_model_id=answered[0] if answered else None, exploration=decision.exploration,
            )

    async def _execute(self, request_id: str, request: RunRequest, decision, chain: list[str], task
                       ) -> AsyncIterator[Event]:
        policy = self.workspace.policy
        catalog = self.workspace.catalog
        messages = self._messages(task.system_prompt, request)
        attempts: list[AttemptInfo] = []
        base = dict(request_id=request_id, decision=decision, exploration=decision.exploration)

        if not chain:
            reasons = "; ".join(decision.no_fit_reasons) or "no model fits"
            yield Finished(RunResult(model=None, output="", error=f"No model fits: {reasons}", **base))
            return

        ttl = policy.cache_ttl_s(decision.options.task)
        use_cache = self.cache is not None and request.use_cache and ttl is not None and request.model is None
        params = {"max_output_tokens": request.max_output_tokens, "temperature": request.temperature,
                  "images": request.n_images, "size": request.route.image_size}
        if use_cache:
            from sparklio_desktop.core.cache import cache_key

            key = cache_key(chain[0], messages, params)
            hit = self.cache.get(key)
            if hit is not None:
                info = self._record(request_id, 1, decision, catalog[hit.model_id], "cache_hit",
                                    input_tokens=hit.input_tokens, output_tokens=hit.output_tokens,
                                    cost=Decimal(0), saved=hit.cost_usd, latency=0.0, exploration=False)
                yield TextChunk(hit.output)
                yield Finished(RunResult(model=hit.model_id, output=hit.output, cache_hit=True, attempts=(info,),
                                         saved_usd=hit.cost_usd, **base))
                return

        retry = policy.retry
        timeout = policy.speed_classes[_speed(decision)].timeout_s
        limits = StallLimits(policy.dispatch.first_token_timeout_s.for_speed(_speed(decision)),
                             policy.dispatch.stream_idle_timeout_s)
        context_floor: int | None = None
        attempt_no = 0
        final_error: str | None = None
        for index, model_id in enumerate(chain):
            model = catalog[model_id]
            tag = decision.local_tags.get(model_id)
            if tag is not None and tag != model.api_name:  # the installed Ollama tag it resolved to
                model = model.model_copy(update={"api_name": tag})
            if model_id in self.planner.session:
                continue
            if context_floor is not None and (model.context_tokens or 0) <= context_floor:
                continue
            explored = decision.exploration and index == 0
            input_est = self._input_estimate(model, messages, decision)
            # The answer is capped at what the budget reserves, so the reservation is a true bound.
            max_output = request.max_output_tokens or _max_output(task, decision)
            reservation = None
            if self.budget is not None and not model.is_free:
                try:
                    worst = price_call(model, _reserve_input(model, input_est), max_output, self._image_count(
                        model, request), request.route.image_size or "1024x1024").cost_usd
                    # The first attempt's in_flight row goes in the reservation's transaction.
                    reservation = self.budget.reserve(request_id, worst, start=self._starting(
                        request_id, attempt_no + 1, decision, model, request, input_est, explored, worst))
                except (BudgetError, UnpricedModelError) as exc:
                    attempt_no += 1
                    info = self._record(request_id, attempt_no, decision, model, "error",
                                        error=exc, input_tokens=0, output_tokens=0, cost=Decimal(0), exploration=explored)
                    attempts.append(info)
                    stop = getattr(exc, "at_cap", None) == "stop"
                    final_error = str(exc)
                    yield AttemptFailed(info, "stop" if stop else "next model")
                    if stop:
                        break
                    continue
            try:
                waited = 0.0
                for retry_index in range(retry.max_retries + 1):
                    attempt_no += 1
                    yield AttemptStarted(attempt_no, model_id, model.name, waited)
                    state = _Outcome()
                    started = time.perf_counter()
                    if reservation is None or retry_index:  # else the reservation wrote this row
                        self.ledger.start_attempt(self._starting(request_id, attempt_no, decision, model, request,
                                                                 input_est, explored, waited=waited))
                    interrupts.track((request_id, attempt_no), functools.partial(
                        self._interrupted, request_id, attempt_no, decision, model, request, state, input_est,
                        started, waited, explored, reservation))
                    try:
                        async for chunk in self._call(model, messages, request, timeout, state, started,
                                                      max_output, limits):
                            yield TextChunk(chunk)
                    except asyncio.CancelledError:
                        out_tokens = tokens.count_text(state.text)[0]
                        self._record(request_id, attempt_no, decision, model, "cancelled",
                                     input_tokens=input_est, output_tokens=out_tokens, usage_source="estimate",
                                     cost=self._cost(model, input_est, out_tokens, 0, request),
                                     latency=time.perf_counter() - started, ttft=state.ttft_s, waited=waited,
                                     exploration=explored, error_message="cancelled by the user")
                        raise
                    except ProviderError as exc:
                        elapsed = time.perf_counter() - started
                        received = exc.output_tokens if isinstance(exc, StreamBrokenError) else 0
                        if isinstance(exc, StalledError):  # what arrived before the silence is billed
                            received = tokens.count_text(state.text)[0] if state.text else 0
                        billed_in = input_est if received else 0
                        info = self._record(
                            request_id, attempt_no, decision, model,
                            "stalled" if isinstance(exc, StalledError) else "error", error=exc,
                            input_tokens=billed_in, output_tokens=received,
                            usage_source="estimate",
                            cost=self._cost(model, billed_in, received, 0, request) if received else Decimal(0),
                            latency=elapsed, ttft=state.ttft_s, waited=waited, exploration=explored,
                        )
                        attempts.append(info)
                        final_error = f"{model.name}: {exc.message}"
                        action, wait = self._next_action(exc, retry_index, retry, model)
                        yield AttemptFailed(info, action, wait)
                        if action == "retry":
                            await self._sleep(wait)
                            waited = wait
                            continue
                        if action == "stop":
                            yield Finished(RunResult(model=None, output="", attempts=tuple(attempts),
                                                     error=f"{model.name} refused the request: {exc.message}", **base))
                            return
                        if isinstance(exc, ContextLengthError):
                            context_floor = max(context_floor or 0, model.context_tokens or input_est)
                        break  # next model
                    else:
                        info = self._success(request_id, attempt_no, decision, model, request, state, input_est,
                                             time.perf_counter() - started, waited, explored)
                        attempts.append(info)
                        if use_cache and model_id == chain[0] and state.text:
                            from sparklio_desktop.core.cache import CachedResponse

                            self.cache.put(key, CachedResponse(
                                model_id=model_id, output=state.text, input_tokens=info.input_tokens,
                                output_tokens=info.output_tokens, cost_usd=info.cost_usd), ttl)
                        alert = self._alert()
                        yield Finished(RunResult(
                            model=model_id, output=state.text, images=state.images,
                            image_size=request.route.image_size, vectors=state.vectors, attempts=tuple(attempts),
                            budget_alert=alert, **base))
                        return
            finally:
                if reservation is not None:
                    self.budget.settle(reservation)
        yield Finished(RunResult(model=None, output="", attempts=tuple(attempts),
                                 error=final_error or "every model in the chain was unavailable", **base))

    # -- one call ---------------------------------------------------------------
    async def _call(self, model: ModelSpec, messages, request: RunRequest, timeout: float, state: _Outcome,
                    started: float, max_output: int | None = None, limits: StallLimits | None = None
                    ) -> AsyncIterator[str]:
        capability = _capability_for(model)
        if model.provider == "diffusers":
            if self._local_images is None:
                raise ProviderError("Stable Diffusion is not set up on this machine", provider="diffusers",
                                    model=model.api_name)
            local: dict[str, Any] = {}  # only what was asked, so engines without these options still work
            if request.image_options is not None:
                local["options"] = request.image_options
            if request.image_progress is not None:
                local["progress"] = request.image_progress
            steps = request.image_options.steps if request.image_options is not None else None
            images, gpu = await self._local_images.generate(request.prompt, request.route.image_size or "512x512",
                                                            request.n_images, steps, **local)
            state.images, state.gpu_seconds = images, gpu
            return
        if model.provider == "ollama" and self._local_images is not None and model.vram_gb:
            make_room = getattr(self._local_images, "make_room_for_ollama", None)
            if make_room is not None:
                await make_room(model.api_name, model.vram_gb)  # one GPU for Ollama and Stable Diffusion
        client = self._client(model.provider)
        endpoint = self._endpoint(model)
        names = {"provider": model.provider, "model": model.api_name}
        # Calls that are not streamed: the watchdog's whole-response limit is the speed class's
        # timeout; the transport's is set a little above it so the watchdog decides.
        whole = timeout + TRANSPORT_MARGIN_S if limits is not None else timeout
        if limits is not None and model.provider == "ollama":
            limits = await self._with_load_allowance(model, endpoint, limits)
        if capability is Capability.IMAGE_GENERATION:
            # One image per call: DALL-E 3 refuses n > 1, and per-call images keep partial
            # results (and their cost) exact when a later call fails.
            generated: list[bytes] = []
            for _ in range(request.n_images):
                call = client.generate_image(
                    ImageRequest(endpoint, request.prompt, request.route.image_size or "1024x1024", 1, whole))
                result = await (within(call, timeout, **names) if limits is not None else call)
                generated.extend(result.images)
                state.images = tuple(generated)
            return
        if capability is Capability.EMBEDDING:
            embed = client.embed(EmbedRequest(endpoint, (request.prompt,), whole))
            result = await (within(embed, timeout, **names) if limits is not None else embed)
            state.vectors = result.vectors
            state.usage = Usage(result.input_tokens, 0)
            return
        chat = ChatRequest(endpoint, tuple(messages), max_output or request.max_output_tokens, request.temperature,
                           limits.transport_timeout(timeout) if limits is not None else timeout)
        events = client.stream_chat(chat)
        if limits is not None:
            events = watch(events, limits, is_token=lambda e: isinstance(e, TextDelta) and bool(e.text), **names)
        async for event in events:
            if isinstance(event, TextDelta):
                if state.ttft_s is None:
                    state.ttft_s = time.perf_counter() - started
                state.text += event.text
                yield event.text
            elif isinstance(event, Usage):
                state.usage = event

    async def _with_load_allowance(self, model: ModelSpec, endpoint: Endpoint, limits: StallLimits) -> StallLimits:
        """A local Ollama model that is not loaded reads its weights before its first token."""
        from sparklio_desktop.core.routing.live import ollama_loaded

        loaded = await asyncio.to_thread(ollama_loaded, model.api_name, endpoint.base_url)
        if loaded:
            return limits
        return limits.with_allowance(self.workspace.policy.dispatch.ollama_load_allowance_s)

    def _next_action(self, exc: ProviderError, retry_index: int, retry, model: ModelSpec) -> tuple[str, float]:
        if isinstance(exc, StalledError):
            return "next model", 0.0  # a model that stalls is in trouble; a retry costs another wait
        if isinstance(exc, TransientError):
            if retry_index >= retry.max_retries:
                return "next model", 0.0
            asked = exc.retry_after_s if retry.honour_retry_after else None
            if asked is not None:
                if asked > retry.max_retry_after_s:
                    return "next model", 0.0
                return "retry", asked
            return "retry", retry.backoff(retry_index)
        if isinstance(exc, AuthError):
            self._keys_seen.pop(self._key_name(model), None)
            self.planner.session.provider_refused(self.workspace.catalog, model.provider,
                                                  f"{exc.status or 'auth'}: {exc.message}")
            return "next model", 0.0
        if isinstance(exc, ModelNotFoundError):
            self.planner.session.model_missing(model.id, exc.message)
            return "next model", 0.0
        if isinstance(exc, InvalidRequestError):
            return "stop", 0.0
        return "next model", 0.0  # broken streams, context length, unsupported, anything else

    # -- bookkeeping -------------------------------------------------------------
    def _success(self, request_id, attempt_no, decision, model, request, state: _Outcome, input_est, latency,
                 waited, explored) -> AttemptInfo:
        usage = state.usage
        source = "provider"
        if usage is not None and usage.input_tokens is not None:
            input_tokens = usage.input_tokens
        else:
            input_tokens, source = input_est, "estimate"
        if usage is not None and usage.output_tokens is not None:
            output_tokens = usage.output_tokens
        else:
            output_tokens, source = tokens.count_text(state.text)[0], "estimate"
        images = len(state.images) if state.images else 0
        cost = self._cost(model, input_tokens, output_tokens, images, request)
        return self._record(request_id, attempt_no, decision, model, "ok", input_tokens=input_tokens,
                            output_tokens=output_tokens, images=images, usage_source=source, cost=cost,
                            latency=latency, ttft=state.ttft_s, waited=waited, exploration=explored,
                            gpu_seconds=state.gpu_seconds)

    def _cost(self, model: ModelSpec, input_tokens: int, output_tokens: int, images: int, request: RunRequest) -> Decimal:
        # Unpriced models never get this far (the router excludes them and a forced one is
        # refused up front), so this cannot silently price anything at $0.
        return price_call(model, input_tokens, output_tokens, images, request.route.image_size or "1024x1024").cost_usd

    def _record(self, request_id, attempt_no, decision, model: ModelSpec, outcome, *, error=None, input_tokens=0,
                output_tokens=0, images=0, usage_source="provider", cost=Decimal(0), saved=Decimal(0), latency=None,
                ttft=None, waited=0.0, exploration=False, gpu_seconds=None, error_message=None) -> AttemptInfo:
        from sparklio_desktop.core.ledger import AttemptRecord

        o = decision.options
        price = model.price
        message = error_message
        error_class = None
        if error is not None:
            error_class = getattr(error, "error_class", type(error).__name__)
            message = redact(getattr(error, "message", None) or str(error), self._keys_of(model))
        tps = None
        if outcome == "ok" and latency and ttft is not None and output_tokens and latency > ttft:
            tps = output_tokens / (latency - ttft)
        image_price = price.image_price(None) if price and price.per_image else None
        interrupts.done((request_id, attempt_no))
        self.ledger.finish_attempt(AttemptRecord(
            request_id=request_id, attempt=attempt_no, task_type=o.task, model_id=model.id, provider=model.provider,
            outcome=outcome, complexity=o.complexity, budget_tier=o.budget, speed=o.speed, quality_target=o.quality,
            error_class=error_class, error_message=message, input_tokens=input_tokens, output_tokens=output_tokens,
            images=images, usage_source=usage_source,
            price_input_per_mtok=price.input_per_mtok if price else None,
            price_output_per_mtok=price.output_per_mtok if price else None,
            price_per_image=image_price, cost_usd=cost, saved_usd=saved, latency_s=latency, ttft_s=ttft,
            tokens_per_s=tps, waited_s=waited, exploration=exploration, gpu_seconds=gpu_seconds,
        ))
        return AttemptInfo(attempt_no, model.id, outcome, error_class, message, input_tokens, output_tokens, cost,
                           latency, ttft, waited, usage_source, exploration)

    def _starting(self, request_id, attempt_no, decision, model: ModelSpec, request: RunRequest, input_est: int,
                  explored: bool, worst: Decimal | None = None, waited: float = 0.0):
        """The in_flight row of an attempt about to start: its input estimate, priced (what
        it is billed if this process ends before it finishes), and the worst case reserved."""
        from sparklio_desktop.core.ledger import AttemptRecord

        o = decision.options
        price = model.price
        return AttemptRecord(
            request_id=request_id, attempt=attempt_no, task_type=o.task, model_id=model.id, provider=model.provider,
            outcome="in_flight", complexity=o.complexity, budget_tier=o.budget, speed=o.speed, quality_target=o.quality,
            input_tokens=input_est, usage_source="estimate",
            price_input_per_mtok=price.input_per_mtok if price else None,
            price_output_per_mtok=price.output_per_mtok if price else None,
            start_cost_usd=self._cost(model, input_est, 0, 0, request), worst_case_usd=worst, waited_s=waited,
            exploration=explored)

    def _interrupted(self, request_id, attempt_no, decision, model: ModelSpec, request: RunRequest, state: _Outcome,
                     input_est: int, started: float, waited: float, explored: bool, reservation) -> None:
        """Finish an attempt cut off by a signal: billed its input estimate and the output received."""
        out_tokens = tokens.count_text(state.text)[0]
        images = len(state.images)  # images already generated were paid for
        self._record(request_id, attempt_no, decision, model, "interrupted", input_tokens=input_est,
                     output_tokens=out_tokens, images=images, usage_source="estimate",
                     cost=self._cost(model, input_est, out_tokens, images, request),
                     latency=time.perf_counter() - started, ttft=state.ttft_s, waited=waited, exploration=explored,
                     error_message="the process was stopped by a signal during this attempt")
        if reservation is not None:
            self.budget.settle(reservation)

    def _alert(self) -> str | None:
        if self.budget is None or not self.budget.alert_due():
            return None
        status = self.budget.status()
        return (f"Budget alert: {status.percent}% of the {status.month} budget spent "
                f"(${status.spent_usd:.2f} of ${status.budget_usd:.2f}).")

    # -- providers -----------------------------------------------------------------
    def _client(self, provider: str):
        client = self._clients.get(provider)
        if client is None:
            from sparklio_desktop.core.providers.registry import create_client, import_sdk

            kind = provider if provider in ("openai", "anthropic", "google", "ollama") else "openai_compatible"
            client = self._clients[provider] = create_client(kind, self._http)
            import_sdk("openai" if kind == "openai_compatible" else kind)  # before any first-token clock starts
        return client

    def _key_or_none(self, provider: str) -> str | None:
        # Keys are read once per session and provider (a keyring look-up can cost tens of
        # milliseconds); an auth failure forgets the provider's key so it is read again.
        if provider not in self._keys_seen:
            try:
                self._keys_seen[provider] = self.keys.get(provider)
            except SparklioError:
                self._keys_seen[provider] = None
        return self._keys_seen[provider]

    def _configured_base_url(self, provider: str) -> str | None:
        from sparklio_desktop.core.settings.config import Settings, effective_base_url

        return effective_base_url(provider, self._settings if self._settings is not None else Settings())

    def _key_name(self, model: ModelSpec) -> str:
        """The provider's key for its configured endpoint; an entry pointing elsewhere uses
        the key named for the entry (core.key_index.key_name_for, docs/dispatch.md)."""
        if model.base_url is None:
            return model.provider
        from sparklio_desktop.core.settings.key_index import key_name_for

        return key_name_for(model.provider, model.id, model.base_url, self._configured_base_url(model.provider))

    def _keys_of(self, model: ModelSpec) -> list[str | None]:
        """Every key this model's errors could echo, for redaction."""
        return [self._key_or_none(model.provider), self._key_or_none(self._key_name(model))]

    def _endpoint(self, model: ModelSpec) -> Endpoint:
        base_url = model.base_url
        if base_url is None and self._settings is not None:
            base_url = self._configured_base_url(model.provider)
        name = self._key_name(model)
        key = None if model.provider == "ollama" else self._key_or_none(name)
        if key is None and name != model.provider:
            # Never call without it: the SDK would fall back to the provider's own variable
            # (OPENAI_API_KEY...) and send the real key to this host.
            from sparklio_desktop.core.settings.key_index import default_env_var_names

            raise ProviderError(f"no key for this endpoint: set one with `sparklio keys set {name}` or "
                                f"${default_env_var_names(name)[0]}", provider=model.provider, model=model.api_name)
        return Endpoint(model.provider, model.api_name, base_url, key)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # -- helpers --------------------------------------------------------------------
    @staticmethod
    def _messages(system_prompt: str, request: RunRequest) -> list[Message]:
        messages: list[Message] = []
        if system_prompt:
            messages.append(Message("system", system_prompt))
        messages.extend(request.history)
        messages.append(Message("user", request.prompt, request.route.attachments))
        return messages

    @staticmethod
    def _input_estimate(model: ModelSpec, messages, decision) -> int:
        if decision.options.capability == "embedding":
            return tokens.count_text(messages[-1].content)[0]
        base, exact = tokens.count_chat(messages)
        return tokens.for_model(model, base, exact).tokens

    @staticmethod
    def _image_count(model: ModelSpec, request: RunRequest) -> int:
        if model.has(Capability.IMAGE_GENERATION):
            return request.n_images
        return len(request.route.attachments)


def _reserve_input(model: ModelSpec, estimate: int) -> int:
    """Input tokens to reserve for: exact counts as they are, estimated ones with a 20% margin."""
    return estimate if model.tokenizer.method == "exact" else -(-estimate * 6 // 5)


def _capability_for(model: ModelSpec) -> Capability:
    for cap in (Capability.IMAGE_GENERATION, Capability.EMBEDDING, Capability.VISION):
        if model.has(cap):
            return cap
    return Capability.TEXT


def _max_output(task, decision) -> int:
    # The worst case reserves twice the expected answer, at least 1,024 tokens.
    return max(1024, 2 * task.expected_output_tokens) if decision.options.capability in ("text", "vision") else 0


def _speed(decision):
    from sparklio_desktop.core.policy.routing_policy import SpeedClass

    return SpeedClass(decision.options.speed)


def _replace(request: RouteRequest, **changes) -> RouteRequest:
    from dataclasses import replace

    return replace(request, **changes)
