"""API keys: kept in the OS keyring, read from environment variables as a fallback.

Where a key comes from, in order:

1. the OS keyring (service ``sparklio``, username = the provider's name), which is
   where ``sparklio keys set`` puts it: the Secret Service (gnome-keyring, KWallet)
   on Linux, the Keychain on macOS, the Credential Locker on Windows;
2. the provider SDK's usual environment variable (``OPENAI_API_KEY``, ...).

The keyring wins over the environment on purpose: a key stored through Sparklio is an
explicit choice for this app, while environment variables are often exported
globally for other tools (an old ``OPENAI_API_KEY`` in ``~/.bashrc`` must not
silently override the key the user just pasted into Settings).

There is no plaintext fallback. When no real keyring backend exists, storing a key
raises :class:`~sparklio_desktop.core.errors.KeyringUnavailable`, which says how to
get one; reading still works from environment variables. The user may then choose to
use a key *for this session only* (:meth:`KeyStore.set_session_key`): it is held in
this process's memory, found before the keyring and the environment, counted by
routing (``key_index.has_key_fast``), and never written anywhere, so it is gone when
the app quits. :func:`keyring_help` says in plain words how to get a keyring on this OS.

Keys never appear in a ``repr``, an exception message or a log line. Keyring calls
block (D-Bus, Keychain), so GUI code runs them in an executor.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from sparklio_desktop.core.errors import KeyringUnavailable, SparklioError, UnknownNameError
from sparklio_desktop.core.provider_table import KEYED_PROVIDERS
from sparklio_desktop.core.redact import redact, remember_secret
from sparklio_desktop.core.settings import key_index

__all__ = [
    "KNOWN_PROVIDERS",
    "SERVICE",
    "InvalidKeyError",
    "InvalidProviderName",
    "KeyInfo",
    "KeyStore",
    "clear_session_keys",
    "env_var_names",
    "keyring_help",
    "mask_key",
]

log = logging.getLogger(__name__)

SERVICE = "sparklio"

# Providers with a key of their own (core/provider_table.py); their variables are the
# ones their SDKs read, in the SDK's order (key_index.default_env_var_names).
KNOWN_PROVIDERS: tuple[str, ...] = KEYED_PROVIDERS

# User-added OpenAI-compatible endpoints are keyed by their catalog name (``openrouter``).
_PROVIDER_SLUG = re.compile(r"[a-z0-9_\-]+")

_MASK_HIDDEN = "••••"
_MASK_MIN_LEN = 12

_T = TypeVar("_T")

# Session-only keys (no keyring here): provider -> key, in this process's memory only.
# Module-level, so every KeyStore of the process (the dispatcher's, the settings panel's)
# sees the same ones; their names go to key_index's in-memory set for routing.
_SESSION_KEYS: dict[str, str] = {}
_SESSION_LOCK = threading.Lock()


class InvalidProviderName(UnknownNameError):
    """A provider name that cannot be a keyring username: not a lowercase slug."""

    def __init__(self, name: str) -> None:
        super().__init__("provider", name, KNOWN_PROVIDERS)
        # Any slug is accepted (user-added endpoints), so say what shape is valid
        # instead of implying that only the known providers are.
        self.args = (
            f"invalid provider name '{redact(name)}': use lowercase letters, digits, '_' or '-' "
            f"(built in: {', '.join(KNOWN_PROVIDERS)})",
        )

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidKeyError(SparklioError, ValueError):
    """The key given to ``sparklio keys set`` is empty or malformed. Never quotes it."""


@dataclass(frozen=True)
class KeyInfo:
    """What ``sparklio keys list`` shows: never the key itself.

    ``source`` is ``'keyring'``, ``'session'`` (held in memory for this session only),
    ``'env:NAME'`` or ``None`` (no key); ``masked`` is
    ``None`` when there is no key.
    """

    provider: str
    source: str | None
    masked: str | None


def env_var_names(provider: str) -> tuple[str, ...]:
    """The environment variables consulted for ``provider``, in order."""
    _check_provider(provider)
    return key_index.default_env_var_names(provider)


def mask_key(key: str) -> str:
    """At most the first 3 and the last 4 characters; short keys are fully hidden.

    Below 12 characters, 7 visible characters would give away most of the key.
    """
    if len(key) < _MASK_MIN_LEN:
        return _MASK_HIDDEN
    return f"{key[:3]}…{key[-4:]}"


def _check_provider(provider: str) -> None:
    # A key-shaped name is a key passed in the provider's place (`keys set KEY openai`):
    # refused, so it never becomes a keyring username or a log line.
    if not isinstance(provider, str) or not _PROVIDER_SLUG.fullmatch(provider) or redact(provider) != provider:
        raise InvalidProviderName(str(provider))


def _unavailable_message(detail: str = "") -> str:
    if sys.platform.startswith("linux"):
        how = (
            "install gnome-keyring (or KWallet) and run Sparklio inside a desktop session; "
            "in a terminal without one, start it with `dbus-run-session -- sh -c "
            "'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; sparklio ...'`"
        )
    else:
        how = (
            "the macOS Keychain and the Windows Credential Locker work out of the box; "
            "check that PYTHON_KEYRING_BACKEND or keyringrc.cfg does not select the "
            "'fail' or 'null' backend"
        )
    prefix = f"no OS keyring to keep API keys ({detail})" if detail else "no OS keyring to keep API keys"
    return f"{prefix}: {how}. Keys in environment variables (e.g. OPENAI_API_KEY) still work."


def keyring_help(platform: str | None = None) -> str:
    """In plain words, for the first-run guide: why no key can be saved and how to fix it
    on this OS (``platform`` as ``sys.platform`` spells it; default this machine's)."""
    platform = platform or sys.platform
    if platform.startswith("linux"):
        how = (
            "Linux keeps passwords in a keyring service, and none is running here. Install "
            "GNOME Keyring (or KWallet on KDE), which most desktops include, log in to a desktop "
            "session and start Sparklio again"
        )
    elif platform == "darwin":
        how = (
            "macOS keeps passwords in the Keychain, which Sparklio could not reach. Unlock the "
            "Keychain (Keychain Access, or log out and in again) and check that PYTHON_KEYRING_BACKEND "
            "is not set to another backend"
        )
    elif platform.startswith("win"):
        how = (
            "Windows keeps passwords in the Credential Manager, which Sparklio could not reach. "
            "Sign in with your own Windows account (not a guest or service account) and check that "
            "PYTHON_KEYRING_BACKEND is not set to another backend"
        )
    else:
        how = "No password keyring service was found on this system. Install one that Python's keyring supports"
    return (
        f"Sparklio cannot save API keys: {how}. Until then, a key you paste can be used for this "
        "session only: it stays in memory, is never written to disk, and is asked for again next time."
    )


def clear_session_keys() -> None:
    """Forget every session-only key (tests; the process's end does the same)."""
    with _SESSION_LOCK:
        names = list(_SESSION_KEYS)
        _SESSION_KEYS.clear()
    for name in names:
        key_index.mark_session(name, False)
    key_index.note_change()


def _is_non_storing(backend: KeyringBackend) -> bool:
    """Backends that exist only to fail or to forget: storing into them loses the key."""
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return True
    if isinstance(backend, chainer.ChainerBackend):
        return all(_is_non_storing(b) for b in backend.backends)
    return False


def _is_plaintext(backend: KeyringBackend) -> bool:
    # keyrings.alt writes keys to a file in clear text: never acceptable for API keys.
    return type(backend).__module__.startswith("keyrings.alt")


def _clean_key(provider: str, key: object) -> str:
    """The key without surrounding whitespace; refuses an empty one or one with spaces inside."""
    _check_provider(provider)
    if not isinstance(key, str):
        raise InvalidKeyError(f"the API key for {provider} must be text")
    key = key.strip()
    if not key:
        raise InvalidKeyError(f"the API key for {provider} is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise InvalidKeyError(
            f"the API key for {provider} contains spaces or control characters; paste it again without them"
        )
    return key


class KeyStore:
    """Reads, stores and forgets API keys; caches keyring look-ups for the session.

    ``backend`` is injectable for tests; by default the backend ``keyring`` chose
    (read at each call, so ``keyring.set_keyring`` takes effect). The cache holds
    keyring results only (``None`` for "not in the keyring"); environment variables
    are read every time because they are cheap and tests change them. Another
    process may change the keyring meanwhile: :meth:`refresh` forgets the cache.
    Thread-safe, so view-models can call it from an executor.
    """

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        *,
        service: str = SERVICE,
        providers: Iterable[str] = (),
    ) -> None:
        self._backend = backend
        self._service = service
        self._extra_providers: set[str] = set()
        for name in providers:
            _check_provider(name)
            self._extra_providers.add(name)
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Only names: the cache holds keys and must never be shown.
        return f"KeyStore(service={self._service!r}, cached={sorted(self._cache)!r})"

    # -- reading -------------------------------------------------------------------

    def get(self, provider: str) -> str | None:
        """The key for ``provider``: a session-only key first, then the keyring, then the
        environment; ``None`` if none.

        Never raises :class:`KeyringUnavailable`: without a keyring, environment keys
        still serve. Never logs.
        """
        key, _ = self._lookup(provider)
        remember_secret(key)  # the log removes it from any line (core/logs.py)
        return key

    def source(self, provider: str) -> str | None:
        """Where :meth:`get` finds the key: ``'session'``, ``'keyring'``, ``'env:NAME'`` or ``None``."""
        _, where = self._lookup(provider)
        return where

    def has_key(self, provider: str) -> bool:
        """Whether a key exists, cheaply: environment first, then the (cached) keyring.

        The router asks this for every provider to draw its live state, so the D-Bus
        round trip is skipped whenever an environment variable already answers.
        """
        _check_provider(provider)
        if self._session_key(provider) is not None or self._env_key(provider) is not None:
            return True
        try:
            return self._keyring_key(provider) is not None
        except KeyringUnavailable:
            return False

    def list(self, providers: Iterable[str] = ()) -> list[KeyInfo]:
        """The built-in providers, those given here or at construction, and any set in
        this session, sorted by name; providers without a key have ``source=None``.

        The keyring API cannot enumerate its entries, so user-added endpoints must be
        named (the catalog knows them).
        """
        names = set(KNOWN_PROVIDERS) | self._extra_providers
        for name in providers:
            _check_provider(name)
            names.add(name)
        with self._lock:
            names |= set(self._cache)
        names |= set(self.session_providers())
        infos = []
        for name in sorted(names):
            key, where = self._lookup(name)
            infos.append(KeyInfo(name, where, mask_key(key) if key is not None else None))
        return infos

    # -- writing -------------------------------------------------------------------

    def set(self, provider: str, key: str) -> None:
        """Store ``key`` in the OS keyring, replacing any previous one.

        Surrounding whitespace (a pasted newline) is stripped; an empty key or one with
        whitespace inside is refused, since no provider issues such keys.
        """
        key = _clean_key(provider, key)
        remember_secret(key)
        backend = self._usable_backend()
        self._call(lambda: backend.set_password(self._service, provider, key), secret=key)
        with self._lock:
            self._cache[provider] = key
        with _SESSION_LOCK:  # a stored key replaces a session-only one
            had_session = _SESSION_KEYS.pop(provider, None) is not None
        if had_session:
            key_index.mark_session(provider, False)
        key_index.mark(provider, True)
        key_index.note_change()
        log.info("stored the API key for %s in the OS keyring", provider)

    def set_session_key(self, provider: str, key: str) -> None:
        """Use ``key`` for ``provider`` until this process ends, without storing it.

        For a machine without a keyring (:meth:`set` raised KeyringUnavailable): the key
        is held in memory only, found first by :meth:`get` (source ``'session'``), and
        counted by routing through ``key_index``'s in-memory names. Nothing is written:
        not the keyring, not ``keys.json``, not settings.json, not a log line.
        """
        key = _clean_key(provider, key)
        remember_secret(key)
        with _SESSION_LOCK:
            _SESSION_KEYS[provider] = key
        key_index.mark_session(provider, True)
        key_index.note_change()
        log.info("using an API key for %s for this session only (not stored)", provider)

    def session_providers(self) -> builtins.list[str]:  # builtins: the method list() shadows list
        """The providers with a session-only key, sorted."""
        with _SESSION_LOCK:
            return sorted(_SESSION_KEYS)

    def delete(self, provider: str) -> bool:
        """Forget the keyring entry for ``provider``; ``True`` if there was one.

        Idempotent. An environment variable with a key is left alone (it is not ours),
        so :meth:`get` may still return a key afterwards: check :meth:`source`.
        """
        _check_provider(provider)
        with _SESSION_LOCK:
            had_session = _SESSION_KEYS.pop(provider, None) is not None
        if had_session:
            key_index.mark_session(provider, False)
            key_index.note_change()
            if not self.available():  # nothing else of ours to forget
                return True
        backend = self._usable_backend()
        deleted = had_session
        # The Secret Service deletes one matching item per call; loop in case an older
        # client left duplicates, bounded so a misbehaving backend cannot spin forever.
        for _ in range(10):
            try:
                self._call(lambda: backend.delete_password(self._service, provider))
            except _NothingToDelete:
                break
            deleted = True
        with self._lock:
            self._cache[provider] = None
        key_index.mark(provider, False)
        key_index.note_change()
        if deleted:
            log.info("deleted the API key for %s from the OS keyring", provider)
        return deleted

    # -- the backend ---------------------------------------------------------------

    def available(self) -> bool:
        """Whether a real keyring backend can store keys here."""
        try:
            self._usable_backend()
        except KeyringUnavailable:
            return False
        return True

    def ensure_available(self) -> None:
        """Raise :class:`KeyringUnavailable` (with what to install) if :meth:`available` is false."""
        self._usable_backend()

    def refresh(self) -> None:
        """Forget cached look-ups, e.g. after ``sparklio keys set`` ran in another process."""
        with self._lock:
            self._cache.clear()
        key_index.note_change()

    def _usable_backend(self) -> KeyringBackend:
        backend = self._backend if self._backend is not None else keyring.get_keyring()
        if _is_plaintext(backend):
            raise KeyringUnavailable(
                _unavailable_message(
                    f"{type(backend).__module__} stores keys in plain text; Sparklio refuses it, uninstall keyrings.alt"
                )
            )
        if _is_non_storing(backend):
            raise KeyringUnavailable(_unavailable_message())
        return backend

    def _call(self, operation: Callable[[], _T], secret: str | None = None) -> _T:
        """Run one keyring operation, turning every backend failure into KeyringUnavailable.

        Backends fail in many shapes (keyring errors, secretstorage and jeepney errors
        when the Secret Service vanished, OSError from a dead socket); callers need one.
        Messages pass through :func:`redact` with the key, and the original exception
        is not chained, so a backend that echoes its input cannot leak the key.
        """
        try:
            return operation()
        except keyring.errors.PasswordDeleteError:
            raise _NothingToDelete from None
        except keyring.errors.NoKeyringError:
            raise KeyringUnavailable(_unavailable_message()) from None
        except keyring.errors.KeyringLocked:
            raise KeyringUnavailable(
                "the OS keyring is locked and could not be unlocked; unlock it "
                "(log in to the desktop session) and try again"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a boundary to an OS service, see above
            detail = redact(f"{type(exc).__name__}: {exc}", [secret])
            raise KeyringUnavailable(_unavailable_message(detail)) from None

    def _keyring_key(self, provider: str) -> str | None:
        with self._lock:
            if provider in self._cache:
                return self._cache[provider]
        backend = self._usable_backend()
        key = self._call(lambda: backend.get_password(self._service, provider))
        with self._lock:
            self._cache[provider] = key
        key_index.mark(provider, key is not None)
        return key

    def _env_key(self, provider: str) -> tuple[str, str] | None:
        for name in env_var_names(provider):
            value = os.environ.get(name, "").strip()
            if value:
                return name, value
        return None

    @staticmethod
    def _session_key(provider: str) -> str | None:
        with _SESSION_LOCK:
            return _SESSION_KEYS.get(provider)

    def _lookup(self, provider: str) -> tuple[str | None, str | None]:
        _check_provider(provider)
        session = self._session_key(provider)
        if session is not None:  # the user's latest explicit choice, made in this very session
            return session, "session"
        try:
            key = self._keyring_key(provider)
        except KeyringUnavailable:
            key = None
        if key is not None:
            return key, "keyring"
        env = self._env_key(provider)
        if env is not None:
            return env[1], f"env:{env[0]}"
        return None, None


class _NothingToDelete(Exception):
    """Internal: the backend had no entry to delete."""
