"""Fixtures for local Stable Diffusion tests.

Every test gets its own Sparklio data directory (``SPARKLIO_HOME``, the root conftest's
``sparklio_home``), so the weights folder and the trust/override JSON never touch the
user's, and no provider key: this folder once overrode ``sparklio_home`` and with it the
root's scrubbing of keys, so a local run could fall back to a paid cloud model. The tiny
model is built once per session: building takes seconds, loading it afterwards a
fraction of one.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.tiny_sd import TinySD, TinySDXL, build_tiny_inpaint, build_tiny_sd, build_tiny_sdxl

_HERE = Path(__file__).parent

# Third-party warnings we cannot fix from here, each matched by its exact message.
KNOWN_WARNINGS = (
    # numpy 2.4 warns when np.array() converts a torch 2.13 tensor, whose __array__ has no
    # `copy` parameter; diffusers' schedulers do this in set_timesteps on every generation.
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            for spec in KNOWN_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> TinySD:
    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_inpaint(tiny_sd: TinySD, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_inpaint(tiny_sd, tmp_path_factory.mktemp("tiny-inpaint"))


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> TinySDXL:
    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No network: the hub's offline switch, and any outside connection fails loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield
