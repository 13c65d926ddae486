"""The skeleton every provider client shares; each client supplies only its SDK's parts.

Why: the four clients repeated one skeleton under different names (``_call`` and
``_guarded``, ``_error`` and ``_classify``, two ways of turning a broken stream into an
error). It lives here once:

- one SDK client per ``(base_url, api_key)``, built on first use (:meth:`ClientBase._sdk`);
- a guarded call (:meth:`ClientBase._call`) and a streamed chat
  (:meth:`ClientBase.stream_chat`) that close what they opened however they stop, and map
  every failure to a class in :mod:`~sparklio_desktop.core.providers.errors`;
- a stream that fails after some output becomes ``StreamBrokenError`` with the text that
  arrived; before any output, a retryable ``TransientError``.

A client supplies ``_new_sdk`` (build the SDK client), ``_open_stream`` and
``_stream_texts`` (start a streamed chat, read its text while recording usage and state
on the :class:`CallState`), ``_close_stream`` and ``_classify`` (an SDK or transport
exception to one of our classes, or the exception itself when it is a bug of ours rather
than the provider's failure); optionally ``_bounded`` (limits around a non-streamed
call), ``_unfinished`` (a stream that ended without its closing event),
``_broken_tokens`` and ``_who``.

Mapped errors are raised outside the ``except`` block on purpose, so no SDK exception
(whose text may hold the key or the Authorization header) rides along as
``__context__`` into logs. Messages are redacted with the call's key and the keys the
SDK could read from the environment (the provider's row in core/provider_table.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sparklio_desktop.core.provider_table import secret_env_values
from sparklio_desktop.core.providers.base import ChatEvent, ChatRequest, Endpoint, TextDelta, Usage
from sparklio_desktop.core.providers.errors import ProviderError, StreamBrokenError, TransientError
from sparklio_desktop.core.redact import redact

SdkT = TypeVar("SdkT")
T = TypeVar("T")


def estimate_tokens(text: str) -> int:
    """Rough output-token count for a broken stream whose usage never arrived (4 characters a token)."""
    return max(1, len(text) // 4)


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def close_quietly(close: Callable[[], Awaitable[object]]) -> None:
    """Close a stream whose connection may already be broken; a failure here changes nothing."""
    try:
        await close()
    except Exception:  # noqa: BLE001 - the real error, if any, is already being reported
        pass


@dataclass(eq=False, slots=True)
class CallState:
    """One call in progress: what the skeleton and a client's parts share."""

    endpoint: Endpoint
    timeout_s: float
    parts: list[str] = field(default_factory=list)
    """The text yielded so far, one entry per piece."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    """Usage as the provider reported it so far (the last report wins), in
    :class:`~sparklio_desktop.core.providers.base.Usage`'s convention."""
    opened: bool = False
    """The SDK returned a stream: the server accepted the request."""
    responded: bool = False
    """At least one chunk arrived."""
    finished: bool = False
    """The stream's closing event arrived."""
    headers: dict[str, str] = field(default_factory=dict)
    """An error response's headers, for an SDK that drops them (Retry-After)."""
    responses: list[Any] = field(default_factory=list)
    """HTTP responses the stream opened, for an SDK that cannot close its own (closed at the end)."""

    @property
    def text(self) -> str:
        return "".join(self.parts)


class ClientBase(Generic[SdkT]):
    """A provider client's shared skeleton; see the module docstring for what a client supplies."""

    provider: str

    def __init__(self) -> None:
        # One SDK client per (base_url, api_key): building one makes SSL contexts and pools.
        self._sdk_clients: dict[tuple[str | None, str | None], SdkT] = {}

    # -- what each client supplies ---------------------------------------------------
    def _new_sdk(self, endpoint: Endpoint) -> SdkT:
        """Build the SDK client for ``endpoint``; a ``ProviderError`` here (no key) is not cached."""
        raise NotImplementedError

    async def _open_stream(self, sdk: SdkT, request: ChatRequest, call: CallState) -> Any:
        """Start a streamed chat; return the SDK's stream."""
        raise NotImplementedError

    def _stream_texts(self, stream: Any, call: CallState) -> AsyncGenerator[str, None]:
        """Yield each non-empty piece of text; record usage and ``finished``/``responded`` on ``call``."""
        raise NotImplementedError

    async def _close_stream(self, stream: Any, call: CallState) -> None:
        raise NotImplementedError

    def _classify(self, exc: Exception, call: CallState) -> Exception:
        """``exc`` as one of our error classes, redacted; ``exc`` itself when it is a bug of ours."""
        raise NotImplementedError

    def _bounded(self, call: CallState) -> AbstractAsyncContextManager[None]:
        """Limits and capture around a non-streamed call; none by default (the SDK applies the timeout)."""
        return contextlib.nullcontext()

    def _unfinished(self, call: CallState) -> ProviderError | None:
        """The error for a stream that ended without its closing event; ``None``: nothing missing."""
        return None

    def _broken_tokens(self, call: CallState) -> int:
        """Output tokens to record for a stream that broke after output: reported, else estimated."""
        return call.output_tokens or estimate_tokens(call.text)

    def _who(self, endpoint: Endpoint) -> dict[str, Any]:
        """The ``provider`` and ``model`` every error carries."""
        return {"provider": self.provider, "model": endpoint.api_name}

    # -- the skeleton ------------------------------------------------------------------
    def _sdk(self, endpoint: Endpoint) -> SdkT:
        key = (endpoint.base_url, endpoint.api_key)
        sdk = self._sdk_clients.get(key)
        if sdk is None:
            sdk = self._sdk_clients[key] = self._new_sdk(endpoint)
        return sdk

    def _clean(self, endpoint: Endpoint, text: str) -> str:
        """``text`` without the call's key or a key the SDK could have read from the environment."""
        return redact(text, [endpoint.api_key, *secret_env_values(self.provider)])

    async def _call(self, endpoint: Endpoint, timeout_s: float, make: Callable[[SdkT], Awaitable[T]]) -> T:
        """Run ``make(sdk)``; whatever it raises leaves as one of our classes (or a bug, unchanged)."""
        call = CallState(endpoint, timeout_s)
        failure: Exception
        try:
            sdk = self._sdk(endpoint)
            async with self._bounded(call):
                return await make(sdk)
        except Exception as exc:  # noqa: BLE001 - mapped here, raised outside the except block
            failure = exc if isinstance(exc, ProviderError) else self._classify(exc, call)
        raise failure

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Yield text as it streams, then exactly one ``Usage``.

        The SDK's stream is closed in ``finally``, so a consumer that stops early (or a
        cancelled task) releases the HTTP connection at once."""
        call = CallState(request.endpoint, request.timeout_s)
        failure: Exception | None = None
        stream: Any = None
        try:
            stream = await self._open_stream(self._sdk(call.endpoint), request, call)
            call.opened = True
            async with contextlib.aclosing(self._stream_texts(stream, call)) as texts:
                async for text in texts:
                    call.parts.append(text)
                    yield TextDelta(text)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped, none escapes raw
            failure = exc if isinstance(exc, ProviderError) else self._stream_failure(exc, call)
        finally:
            if stream is not None:
                await self._close_stream(stream, call)
        if failure is None:
            failure = self._unfinished(call)
        if failure is not None:
            raise failure
        yield Usage(
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            cache_read_tokens=call.cache_read_tokens,
            cache_write_tokens=call.cache_write_tokens,
            reasoning_tokens=call.reasoning_tokens,
        )

    def _stream_failure(self, exc: Exception, call: CallState) -> Exception:
        """A failure mid-stream: a retryable one after some output is a broken stream instead."""
        failure = self._classify(exc, call)
        if call.parts and isinstance(failure, TransientError):
            return StreamBrokenError(
                f"stream broke after {len(call.parts)} chunks: {failure.message}",
                text_received=call.text,
                output_tokens=self._broken_tokens(call),
                provider=failure.provider,
                model=failure.model,
                status=failure.status,
            )
        return failure

    def _broken(self, call: CallState, message: str, tokens: int | None = None) -> ProviderError:
        """After output: ``StreamBrokenError`` with what arrived (``tokens``, else an estimate);
        before any: retryable."""
        message = self._clean(call.endpoint, message)
        text = call.text
        if not text:
            return TransientError(message, **self._who(call.endpoint))
        return StreamBrokenError(
            message, text_received=text, output_tokens=tokens or estimate_tokens(text), **self._who(call.endpoint)
        )
