"""Builds a provider's client and imports its SDK ahead of time, from its row in the provider table.

The facts (which class serves which provider, what its first request imports) are rows
in core/provider_table.py; this module acts on them. Client classes are import paths,
resolved on first use, so importing the registry costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from sparklio_desktop.core.errors import UnknownNameError
from sparklio_desktop.core.provider_table import ROWS

if TYPE_CHECKING:
    import httpx

    from sparklio_desktop.core.providers.base import ProviderClient

__all__ = ["create_client", "import_sdk"]


def import_sdk(provider: str) -> None:
    """Import now what ``provider``'s client imports on its first request (its row's ``sdk_modules``).

    Why: an SDK import takes a second or two and blocks the thread it runs on. The app
    does it in a worker after the window opens; the dispatcher does it when it builds a
    client, so that the import never counts against the first-token limit of a call
    (docs/dispatch.md, "Silent streams"). A missing optional part is left for the
    client to report when it is used.
    """
    row = ROWS.get(provider)
    for name in row.sdk_modules if row is not None else ():
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def create_client(provider: str, http_client: httpx.AsyncClient | None = None) -> ProviderClient:
    """Build the client for ``provider`` (a row with a client), sharing ``http_client`` when given."""
    row = ROWS.get(provider)
    if row is None or row.client is None:
        raise UnknownNameError("provider", provider, [name for name, r in ROWS.items() if r.client is not None])
    module_name, _, class_name = row.client.partition(":")
    cls: Callable[..., ProviderClient] = getattr(importlib.import_module(module_name), class_name)
    return cls(http_client=http_client)
