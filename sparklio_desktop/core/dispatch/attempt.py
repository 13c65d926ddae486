"""One attempt: one model called once, and what arrived from it.

:class:`AttemptContext` is what is fixed when the attempt starts (which request, which
try, which model, the input estimate, the wait before it); :class:`AttemptState` fills
in as the answer arrives, so that whatever ends the attempt (the answer, an error, a
cancel, a signal) can bill exactly what was received. :class:`ModelCaller` makes the
call: local Stable Diffusion, a provider's image or embedding call (not streamed: one
whole-response limit), or a streamed chat under the watchdog's first-token and idle
limits (core/dispatch/watchdog.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.dispatch.request import RunRequest
from sparklio_desktop.core.dispatch.watchdog import TRANSPORT_MARGIN_S, StallLimits, watch, within
from sparklio_desktop.core.policy.catalog import Capability, ModelSpec
from sparklio_desktop.core.providers.base import (
    ChatEvent,
    ChatRequest,
    EmbedRequest,
    Endpoint,
    ImageRequest,
    Message,
    TextDelta,
    Usage,
)
from sparklio_desktop.core.providers.errors import ProviderError
from sparklio_desktop.core.routing.decision import ResolvedOptions
from sparklio_desktop.core.routing.live import ollama_loaded

if TYPE_CHECKING:
    from sparklio_desktop.core.dispatch.collaborators import ClientFactory, LocalImageEngine, MakeRoom
    from sparklio_desktop.core.dispatch.endpoints import ProviderAccess

__all__ = ["AttemptContext", "AttemptState", "ModelCaller", "capability_for"]


@dataclass(frozen=True)
class AttemptContext:
    """What is fixed for one attempt when it starts."""

    request_id: str
    number: int  # 1-based, across the whole request
    options: ResolvedOptions  # the request's routing options, recorded with every attempt
    model: ModelSpec  # as called (a local model carries its installed Ollama tag)
    input_estimate: int  # tokens: what is billed when the provider reports no usage
    image_size: str  # what images are priced at
    exploration: bool
    waited_s: float = 0.0  # the retry wait before this attempt
    worst_case_usd: Decimal | None = None  # reserved for it (the first attempt under a reservation)
    image_quality: str | None = None  # what images are priced at, with image_size
    batch: bool = False  # sent through the provider's batch API: billed at batch rates
    run_id: str | None = None  # the recipe run or batch the request is part of (RunRequest.run_id)

    @property
    def key(self) -> tuple[str, int]:
        """Names the attempt for the signal handler (core/dispatch/interrupts.py)."""
        return self.request_id, self.number


@dataclass
class AttemptState:
    """What has arrived so far; filled in by :meth:`ModelCaller.call`."""

    started: float = field(default_factory=time.perf_counter)
    text: str = ""
    usage: Usage | None = None
    images: tuple[bytes, ...] = ()
    vectors: tuple[tuple[float, ...], ...] = ()
    ttft_s: float | None = None
    gpu_seconds: float | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def capability_for(model: ModelSpec) -> Capability:
    """The kind of call a model is made with (what it does beyond text, if anything)."""
    for cap in (Capability.IMAGE_GENERATION, Capability.EMBEDDING, Capability.VISION):
        if model.has(cap):
            return cap
    return Capability.TEXT


def _is_token(event: ChatEvent) -> bool:
    return isinstance(event, TextDelta) and bool(event.text)


class ModelCaller:
    """Calls models through the client factory, provider keys and endpoints, and the
    local image engine (when this machine has one)."""

    def __init__(
        self,
        clients: ClientFactory,
        access: ProviderAccess,
        local_images: LocalImageEngine | None,
        load_allowance_s: Callable[[], float],
    ) -> None:
        self._clients = clients
        self._access = access
        self._local_images = local_images
        self._load_allowance_s = load_allowance_s

    async def call(
        self,
        model: ModelSpec,
        messages: Sequence[Message],
        request: RunRequest,
        state: AttemptState,
        *,
        timeout_s: float,
        max_output: int | None,
        limits: StallLimits,
    ) -> AsyncIterator[str]:
        """Yield the answer's text as it streams, filling ``state``; raises the
        provider's error (or the watchdog's :class:`StalledError`)."""
        if model.provider == "diffusers":
            await self._generate_locally(model, request, state)
            return
        client = self._clients.client(model.provider)
        endpoint = self._access.endpoint(model)
        await self._make_room(model, endpoint)
        names = {"provider": model.provider, "model": model.api_name}
        # Calls that are not streamed: the watchdog's whole-response limit is the speed class's
        # timeout; the transport's is set a little above it so the watchdog decides.
        whole = timeout_s + TRANSPORT_MARGIN_S
        capability = capability_for(model)
        if capability is Capability.IMAGE_GENERATION:
            # One image per call: DALL-E 3 refuses n > 1, and per-call images keep partial
            # results (and their cost) exact when a later call fails.
            generated: list[bytes] = []
            for _ in range(request.n_images):
                image = client.generate_image(ImageRequest(endpoint, request.prompt, request.paid_image_size, 1, whole))
                result = await within(image, timeout_s, **names)
                generated.extend(result.images)
                state.images = tuple(generated)
            return
        if capability is Capability.EMBEDDING:
            embedded = await within(client.embed(EmbedRequest(endpoint, (request.prompt,), whole)), timeout_s, **names)
            state.vectors = embedded.vectors
            state.usage = Usage(embedded.input_tokens, 0)
            return
        if model.provider == "ollama":
            limits = await self._with_load_allowance(model, endpoint, limits)
        chat = ChatRequest(
            endpoint,
            tuple(messages),
            max_output or None,
            request.temperature,
            limits.transport_timeout(timeout_s),
            json_output=request.json_output,
        )
        async for event in watch(client.stream_chat(chat), limits, is_token=_is_token, **names):
            if isinstance(event, TextDelta):
                if state.ttft_s is None:
                    state.ttft_s = state.elapsed()
                state.text += event.text
                yield event.text
            elif isinstance(event, Usage):
                state.usage = event

    async def _generate_locally(self, model: ModelSpec, request: RunRequest, state: AttemptState) -> None:
        if self._local_images is None:
            raise ProviderError(
                "Stable Diffusion is not set up on this machine", provider="diffusers", model=model.api_name
            )
        local: dict[str, Any] = {}  # only what was asked, so engines without these options still work
        if request.image_options is not None or request.origin != "images":
            from sparklio_desktop.core.local.sd.service import ImageOptions  # only when drawing locally

            # Who asked travels with the options, for the GPU queue's list.
            local["options"] = replace(request.image_options or ImageOptions(), source=request.origin)
        if request.image_progress is not None:
            local["progress"] = request.image_progress
        steps = request.image_options.steps if request.image_options is not None else None
        state.images, state.gpu_seconds = await self._local_images.generate(
            request.prompt, request.route.image_size or "", request.n_images, steps, **local
        )

    async def _make_room(self, model: ModelSpec, endpoint: Endpoint) -> None:
        """One GPU for Ollama and Stable Diffusion: a local model that needs memory first
        asks the image engine to give it back. The engine is told the Ollama host, so a
        model on a LAN GPU box neither waits for nor evicts anything on this machine's card."""
        if model.provider != "ollama" or self._local_images is None or not model.vram_gb:
            return
        make_room: MakeRoom | None = getattr(self._local_images, "make_room_for_ollama", None)
        if make_room is not None:
            await make_room(model.api_name, model.vram_gb, endpoint.base_url)

    async def _with_load_allowance(self, model: ModelSpec, endpoint: Endpoint, limits: StallLimits) -> StallLimits:
        """A local Ollama model that is not loaded reads its weights before its first token."""

        if await asyncio.to_thread(ollama_loaded, model.api_name, endpoint.base_url):
            return limits
        return limits.with_allowance(self._load_allowance_s())
