"""Remove secrets from text before it is stored, logged or shown.

Provider error bodies and exception messages sometimes echo the key or the
Authorization header back. Everything that leaves a provider call passes
through :func:`redact` with the keys that call used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# Shapes of the keys the supported providers issue, and bearer headers.
_KEY_PATTERNS = re.compile(
    r"(sk-ant-[A-Za-z0-9_\-]{8,}"
    r"|sk-(?:proj-)?[A-Za-z0-9_\-]{16,}"
    r"|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"
    r"|(?i:(?:x-goog-api-key|x-api-key|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._\-]{8,})"
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with the given secret values and anything key-shaped replaced."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _KEY_PATTERNS.sub(REDACTED, text)
