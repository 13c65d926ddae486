"""What the first-run guide finds on this machine: keys, the keyring, Ollama, the GPU.

Why one function that only looks: a creator who opens Sparklio with nothing configured
gets a router that excludes every model ("no API key", "Ollama is not running") and
no idea where to start. :func:`detect` gathers, in one blocking call the GUI runs off
its loop thread, everything the guide needs to say what is there and what is missing:

* which providers have a key, and where it comes from (``keyring``, ``session`` or
  ``env:NAME``: never the key itself);
* whether the OS keyring can store keys, and if not, how to get one on this OS
  (``secrets.keyring_help``);
* whether Ollama answers, which models it has, whether it is installed at all (the
  download page when it is not);
* the GPU's name and free memory (``vram.gpu_memory``: NVML, else torch when already
  imported, else the configured size);
* the local catalog model to pull: the best one whose catalog ``vram_gb`` (weights plus
  a 4k-token KV cache) passes ``vram.ollama_fit`` on the free memory;
* the Stable Diffusion weights folders configured.

:func:`needs_onboarding` says whether the guide should open by itself: never once it
was finished or skipped (``ui.onboarding_done``), else only when nothing is configured.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local.sd.store import default_weights_dir
from sparklio_desktop.core.local.vram import GIB, Fit, GpuMemory, gpu_memory, ollama_fit
from sparklio_desktop.core.provider_table import KEYED_PROVIDERS
from sparklio_desktop.core.routing.live import ollama_base_url, ollama_tags, resolve_ollama_tag
from sparklio_desktop.core.settings.config import Settings, effective_base_url
from sparklio_desktop.core.settings.secrets import KeyStore, keyring_help

if TYPE_CHECKING:
    from sparklio_desktop.core.policy.catalog import Catalog

__all__ = [
    "OLLAMA_DOWNLOAD_URL",
    "Findings",
    "GpuFinding",
    "KeyFinding",
    "OllamaFinding",
    "Recommendation",
    "detect",
    "needs_onboarding",
    "start_ollama",
]

OLLAMA_DOWNLOAD_URL = "https://ollama.com/download"
PROBE_TIMEOUT_S = 1.0
# A catalog entry's vram_gb is weights plus a 4k-token KV cache, not per-layer figures: the
# fit check spreads it over a nominal layer count so that "partial offload" can still be said.
_NOMINAL_LAYERS = 32


@dataclass(frozen=True)
class KeyFinding:
    """One provider's key: where it comes from (``keyring``, ``session``, ``env:NAME``) or None."""

    provider: str
    source: str | None

    @property
    def present(self) -> bool:
        return self.source is not None


@dataclass(frozen=True)
class OllamaFinding:
    host: str
    reachable: bool
    version: str | None
    installed_app: bool  # the ``ollama`` program is on this machine (it may just not be running)
    models: tuple[str, ...]  # installed tags, sorted
    install_url: str = OLLAMA_DOWNLOAD_URL

    @property
    def words(self) -> str:
        """One plain sentence for the guide."""
        if self.reachable:
            count = len(self.models)
            has = f"{count} model{'s' if count != 1 else ''} installed" if count else "no models installed yet"
            return f"Ollama {self.version or ''} is running at {self.host}, with {has}.".replace("  ", " ")
        if self.installed_app:
            return "Ollama is installed but not running: start it to use free local models."
        return "Ollama is not installed: it runs free models on this computer."


@dataclass(frozen=True)
class GpuFinding:
    name: str | None
    total_gb: float
    free_gb: float | None  # None: only the configured size is known
    source: str  # "nvml", "torch" or "configured"

    @property
    def detected(self) -> bool:
        return self.source != "configured"

    @property
    def words(self) -> str:
        if not self.detected:
            return f"No GPU was detected; Sparklio assumes {self.total_gb:g} GB (Settings: gpu.vram_gb)."
        free = f"{self.free_gb:.1f} GB free of {self.total_gb:.1f} GB" if self.free_gb is not None else ""
        return f"{self.name or 'GPU'}: {free or f'{self.total_gb:.1f} GB'}."


@dataclass(frozen=True)
class Recommendation:
    """The local model to pull first: a catalog entry and the Ollama tag it runs as."""

    model_id: str
    name: str
    tag: str  # what ``ollama pull`` takes
    vram_gb: float
    verdict: Fit
    installed: bool
    why: str


@dataclass(frozen=True)
class Findings:
    keys: tuple[KeyFinding, ...]
    keyring_available: bool
    keyring_help: str  # how to get a keyring on this OS ("" when there is one)
    ollama: OllamaFinding
    gpu: GpuFinding
    recommended: Recommendation | None
    weights_folders: tuple[Path, ...]  # the user's Stable Diffusion folders (settings)
    monthly_budget_usd: str  # the setting, as text (exact: money is never a float here)

    @property
    def keyed_providers(self) -> tuple[str, ...]:
        return tuple(k.provider for k in self.keys if k.present)

    @property
    def local_model_ready(self) -> bool:
        """A catalog local model is installed on a running Ollama."""
        return self.recommended is not None and self.recommended.installed and self.ollama.reachable

    @property
    def configured(self) -> bool:
        """Something can answer: a cloud key, or a local model ready to run."""
        return bool(self.keyed_providers) or self.local_model_ready

    def next_step(self) -> str:
        """The one thing to do next, in one sentence (the guide's summary and the composer's hint)."""
        if self.configured:
            return "You are set: ask anything and Sparklio picks the model."
        if self.ollama.reachable and self.recommended is not None:
            return f"Pull {self.recommended.name} to answer for free on this computer, or add an API key."
        if self.ollama.installed_app:
            return "Start Ollama for free local models, or add an API key for a cloud model."
        return "Add an API key for a cloud model, or install Ollama for free local models."


def _version(host: str) -> str | None:
    try:
        with urllib.request.urlopen(host + "/api/version", timeout=PROBE_TIMEOUT_S) as response:  # noqa: S310 - local service
            payload = json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    version = payload.get("version") if isinstance(payload, dict) else None
    return str(version) if version else None


def ollama_program() -> str | None:
    """Where the ``ollama`` program is (PATH, then the installers' usual places), or None."""
    found = shutil.which("ollama")
    if found:
        return found
    candidates = [Path("/Applications/Ollama.app/Contents/Resources/ollama"), Path("/usr/local/bin/ollama")]
    local = os.environ.get("LOCALAPPDATA")
    if local:
        candidates.append(Path(local) / "Programs" / "Ollama" / "ollama.exe")
    return next((str(p) for p in candidates if p.is_file()), None)


def _probe_ollama(settings: Settings, host: str | None) -> OllamaFinding:
    base = ollama_base_url(host or effective_base_url("ollama", settings))
    tags = ollama_tags(base, timeout_s=PROBE_TIMEOUT_S)
    version = _version(base) if tags is not None else None
    return OllamaFinding(
        host=base,
        reachable=tags is not None,
        version=version,
        installed_app=tags is not None or ollama_program() is not None,
        models=tuple(sorted(tags or {})),
    )


def _recommend(catalog: Catalog, gpu: GpuFinding, installed: tuple[str, ...]) -> Recommendation | None:
    """The best local text model that fits the free GPU memory (without a GPU, the smallest)."""
    local = [
        m for m in catalog.values() if m.provider == "ollama" and m.local and m.has("text") and m.vram_gb is not None
    ]
    if not local:
        return None
    tags = dict.fromkeys(installed, "")
    room_gb = gpu.free_gb if gpu.free_gb is not None else gpu.total_gb

    def verdict(vram_gb: float) -> Fit:
        return ollama_fit(int(vram_gb * GIB), _NOMINAL_LAYERS, 0, 0, 0, int(room_gb * GIB)).verdict

    if gpu.detected:
        fitting = [m for m in local if verdict(m.vram_gb or 0) is Fit.FITS]
        if not fitting:
            return None
        best = max(fitting, key=lambda m: (m.quality, -(m.vram_gb or 0), m.id))
        why = f"the best local model that fits the {room_gb:.1f} GB free on your GPU ({best.vram_gb:g} GB needed)"
    else:
        best = min(local, key=lambda m: (m.vram_gb or 0, -m.quality, m.id))
        why = f"the smallest local model ({best.vram_gb:g} GB): without a GPU it runs on the processor, slowly"
    installed_tag = resolve_ollama_tag(best.api_name, tags) if tags else None
    return Recommendation(
        model_id=best.id,
        name=best.name,
        tag=best.api_name,
        vram_gb=float(best.vram_gb or 0),
        verdict=verdict(best.vram_gb or 0),
        installed=installed_tag is not None,
        why=why,
    )


def detect(
    settings: Settings,
    catalog: Catalog,
    keys: KeyStore,
    *,
    ollama_host: str | None = None,
    gpu: GpuMemory | None = None,
) -> Findings:
    """Look at this machine now. Blocking (keyring D-Bus calls, Ollama with a 1 s timeout,
    NVML): the GUI runs it in an executor. ``gpu`` replaces the probe (tests simulate GPUs)."""
    keyring_ok = keys.available()
    found_keys = tuple(KeyFinding(p, keys.source(p)) for p in KEYED_PROVIDERS)
    memory = gpu if gpu is not None else gpu_memory(settings.gpu.vram_gb)
    gpu_finding = GpuFinding(memory.name, memory.total_gb, memory.free_gb, memory.source)
    ollama = _probe_ollama(settings, ollama_host)
    return Findings(
        keys=found_keys,
        keyring_available=keyring_ok,
        keyring_help="" if keyring_ok else keyring_help(),
        ollama=ollama,
        gpu=gpu_finding,
        recommended=_recommend(catalog, gpu_finding, ollama.models),
        weights_folders=tuple(settings.local.sd_weight_dirs),
        monthly_budget_usd=f"{settings.budget.monthly_usd:f}",
    )


def default_weights_folder() -> Path:
    """Sparklio's own checkpoints folder, always searched (the guide names it)."""
    return default_weights_dir(create=False)


def needs_onboarding(settings: Settings, findings: Findings | None = None) -> bool:
    """Whether the guide opens by itself: not once finished or skipped; else when nothing
    is configured (no key anywhere and no local model ready). Without findings, only the
    setting decides (the caller has not looked yet)."""
    if settings.ui.onboarding_done:
        return False
    return findings is None or not findings.configured


def start_ollama(program: str | None = None) -> str:
    """Start ``ollama serve`` in the background, detached from Sparklio; returns what was
    started. Raises SparklioError (with the download page) when Ollama is not installed."""
    program = program or ollama_program()
    if program is None:
        raise SparklioError(f"Ollama is not installed: download it from {OLLAMA_DOWNLOAD_URL}")
    flags: dict[str, object] = {}
    if sys.platform.startswith("win"):
        flags["creationflags"] = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
            subprocess, "CREATE_NEW_PROCESS_GROUP", 0
        )
    else:
        flags["start_new_session"] = True
    try:
        subprocess.Popen(
            [program, "serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **flags,  # type: ignore[call-overload]
        )
    except OSError as exc:
        raise SparklioError(f"could not start Ollama ({program}): {exc.strerror or exc}") from None
    return program
