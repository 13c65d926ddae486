"""The package's public surface: sorted, importable, and nothing private in it."""

from __future__ import annotations

import sparklio_desktop.core.local as local


def test_all_is_sorted_and_every_name_exists() -> None:
    assert local.__all__ == sorted(local.__all__)
    assert all(hasattr(local, name) and not name.startswith("_") for name in local.__all__)


def test_the_main_entry_points_are_exported() -> None:
    for name in ("LocalImageEngine", "list_checkpoints", "probe", "choose_savers", "VramScheduler", "ollama_fit"):
        assert name in local.__all__
