"""How a provider call can fail, classified by what the dispatcher should do next.

ProviderError                 (base; ``message`` is the provider's own words, redacted)
├── TransientError            retry with backoff, then the next model
│   │                         connection errors, timeouts, 408, 429, 5xx, Anthropic 529
│   └── (retry_after_s)       the server's Retry-After, when it sent one
├── StreamBrokenError         the stream died after some output: record it, next model
├── AuthError                 401/403: provider unavailable for the session, next model
├── ModelNotFoundError        the model does not exist there: unavailable, next model
├── ContextLengthError        prompt too long: next model whose window fits
├── InvalidRequestError       400 / content policy: stop, show the message, no fallback
└── UnsupportedError          the provider cannot do this kind of request
"""

from __future__ import annotations

from typing import Any

from sparklio_desktop.core.errors import SparklioError


class ProviderError(SparklioError):
    """A provider call failed. ``message`` carries the provider's own explanation."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status
        prefix = f"{provider}" + (f" ({status})" if status else "")
        super().__init__(f"{prefix}: {message}" if prefix else message)

    @property
    def error_class(self) -> str:
        """A stable name for the ledger's ``error_class`` column."""
        return type(self).__name__


class TransientError(ProviderError):
    """Worth retrying: the same request may succeed in a moment."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class StreamBrokenError(ProviderError):
    """The stream ended abnormally after some output had already arrived."""

    def __init__(self, message: str, *, text_received: str = "", output_tokens: int = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.text_received = text_received
        self.output_tokens = output_tokens


class AuthError(ProviderError):
    """The key is missing, wrong or lacks permission (401/403)."""


class ModelNotFoundError(ProviderError):
    """The provider does not know this model name."""


class ContextLengthError(ProviderError):
    """The prompt does not fit the model's context window."""


class InvalidRequestError(ProviderError):
    """The provider refused the request itself (content policy, bad parameters)."""


class UnsupportedError(ProviderError):
    """This provider has no API for the requested kind of call."""
