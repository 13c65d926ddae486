"""Small helpers every provider client needs, kept in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


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
