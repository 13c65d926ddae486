"""Errors of local image generation. Each ``str()`` is one line meant for a person.

SparklioError                    (sparklio_desktop.core.errors)
└── LocalModelError              a local checkpoint cannot be used as asked
    ├── CheckpointUnreadable     not a checkpoint, truncated, or an unknown layout
    ├── PickleRefused            a .ckpt/.bin/.pt file the user has not chosen to trust
    ├── ModelConfigMissing       no config (or tokenizer vocabulary) to load it offline
    ├── GenerationCancelled      the user stopped a generation between two steps
    ├── BadInputImage            an init image or mask that cannot be read
    ├── BadLora                  a LoRA that is missing, unreadable or made for another family
    └── LocalRuntimeMissing      torch/diffusers are not installed (the ``local`` extra)

ProviderError                    (sparklio_desktop.core.providers.errors)
└── LocalEngineUnavailable       what the dispatcher sees when local generation cannot run
                                 (no usable checkpoint, a bad file, no runtime, no memory):
                                 recorded as an error attempt, and the chain goes on to the
                                 next image model (core.dispatch.next_action: "anything else")
"""

from __future__ import annotations

from pathlib import Path

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.providers.errors import ProviderError


class LocalModelError(SparklioError):
    """Base of the local Stable Diffusion errors."""


class CheckpointUnreadable(LocalModelError):
    """The file is not a usable checkpoint; says which file and why."""

    def __init__(self, path: Path | str, why: str) -> None:
        self.path = Path(path)
        self.why = why
        super().__init__(f"{self.path.name}: {why}")


class PickleRefused(LocalModelError):
    """Pickle checkpoints can run arbitrary code when loaded, so they need an explicit opt-in."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        super().__init__(
            f"{self.path.name} is a pickle checkpoint, which can run code on this computer when "
            "loaded; convert it to .safetensors, or mark this file as trusted first"
        )


class ModelConfigMissing(LocalModelError):
    """A single-file checkpoint needs a config folder (and CLIP vocabulary) we do not have."""


class GenerationCancelled(LocalModelError):
    """Raised out of a generation the user cancelled; ``images`` holds those finished before."""

    def __init__(self, completed: int = 0, step: int = 0, total: int = 0, images: tuple[object, ...] = ()) -> None:
        self.completed = completed
        self.images = images
        self.step = step
        self.total = total
        super().__init__(f"generation cancelled at step {step} of {total}")


class BadInputImage(LocalModelError):
    """The init image or mask of a request cannot be used (the service answers with an
    invalid-request error: no other model would take that file either)."""


class BadLora(LocalModelError):
    """A LoRA the request named is missing, unreadable or made for another model family."""


class LocalRuntimeMissing(LocalModelError):
    """torch/diffusers are optional; say how to get them instead of a traceback."""

    def __init__(self, module: str) -> None:
        self.module = module
        super().__init__(
            f"local image generation needs '{module}', which is not installed; "
            "install Sparklio with the 'local' extra (pip install 'sparklio-desktop[local]')"
        )


class LocalEngineUnavailable(ProviderError):
    """Local image generation cannot run now; the next image model in the chain should answer."""

    def __init__(self, message: str, *, model: str = "") -> None:
        super().__init__(message, provider="diffusers", model=model)
