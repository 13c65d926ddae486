"""Remove secrets from text before it is stored, logged or shown.

Provider error bodies and exception messages sometimes echo the key or the
Authorization header back. Everything that leaves a provider call passes
through :func:`redact` with the keys that call used. The keys this process has read
are also remembered (:func:`remember_secret`, called by the key store), so the log
(core/logs.py) can remove a key of any shape from any line, not only the shapes below.
"""

from __future__ import annotations

import re
import threading
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


# The keys this process has read (keyring, session, environment): values only, in memory.
_KNOWN: set[str] = set()
_KNOWN_LOCK = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Remember a key this process uses, so :func:`known_secrets` can redact it anywhere."""
    if value and len(value) >= 4:
        with _KNOWN_LOCK:
            _KNOWN.add(value)


def known_secrets() -> list[str]:
    with _KNOWN_LOCK:
        return list(_KNOWN)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with the given secret values and anything key-shaped replaced."""
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _KEY_PATTERNS.sub(REDACTED, text)


# Lower-cased, where a match of _KEY_PATTERNS can begin: a match of the header forms
# (x-goog-api-key, x-api-key) implies one that begins at their "api".
_SHAPE_CUES = ("sk-", "aiza", "bearer", "api")


def has_key_shape(text: str) -> bool:
    """Whether ``text`` holds anything :func:`redact` replaces by shape, so a caller can skip
    a costlier walk when it holds nothing.

    The pattern searched over a whole 5 kB routing trace costs ~0.5 ms (it is tried at every
    position); here the cues are found with ``str.find`` and the pattern is tried only where
    one begins (an anchored match: microseconds each).
    """
    lowered = text.lower()
    for cue in _SHAPE_CUES:
        at = lowered.find(cue)
        while at >= 0:
            if _KEY_PATTERNS.match(text, at):
                return True
            at = lowered.find(cue, at + 1)
    return False
