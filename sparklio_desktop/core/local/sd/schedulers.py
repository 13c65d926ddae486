"""Samplers by the names AUTOMATIC1111 users know, and the diffusers scheduler behind each.

A checkpoint comes with its own scheduler (most SD 1.x files: PNDM, diffusers folders:
whatever they were saved with). ``--scheduler NAME`` swaps it for one job with
``Class.from_config(the checkpoint's scheduler config, **options)``, so the noise
schedule (betas, prediction type, timestep spacing) stays the checkpoint's and only the
sampling method changes. The name is written as ``Sampler`` in the PNG's A1111
``parameters`` (the older single-name form, "DPM++ 2M Karras", which every reader takes).

Names are checked without diffusers (:func:`sampler_name`), so the command line refuses
a typo before any work starts.
"""

from __future__ import annotations

import difflib
import importlib.util
from typing import Any

from sparklio_desktop.core.errors import SparklioError

__all__ = ["SAMPLERS", "UnknownSampler", "sampler_name", "sampler_of", "use_sampler"]

_KARRAS = {"use_karras_sigmas": True}
_SDE = {"algorithm_type": "sde-dpmsolver++"}

# A1111 name → (diffusers class, options given to from_config)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", _KARRAS),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", _SDE),
    "DPM++ 2M SDE Karras": ("DPMSolverMultistepScheduler", {**_SDE, **_KARRAS}),
    "DPM++ SDE": ("DPMSolverSinglestepScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "LMS Karras": ("LMSDiscreteScheduler", _KARRAS),
    "PLMS": ("PNDMScheduler", {}),
}
_ALIASES = {"pndm": "PLMS", "euler_a": "Euler a", "euler ancestral": "Euler a", "dpmpp_2m": "DPM++ 2M",
            "dpmpp_2m_karras": "DPM++ 2M Karras", "unipc": "UniPC", "ddim": "DDIM", "lms": "LMS"}  # fmt: skip
_NEEDS_SCIPY = {"LMSDiscreteScheduler"}  # its coefficients are integrals computed with scipy


class UnknownSampler(SparklioError):
    """A sampler name Sparklio does not know; the message lists the known ones."""


def sampler_name(text: str) -> str:
    """The canonical name for ``text`` (case and ComfyUI-style spellings accepted)."""
    wanted = " ".join(text.split()).lower()
    for name in SAMPLERS:
        if name.lower() == wanted:
            return name
    if wanted in _ALIASES:
        return _ALIASES[wanted]
    close = difflib.get_close_matches(text, list(SAMPLERS), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UnknownSampler(f"unknown scheduler {text!r}{hint}; known: {', '.join(SAMPLERS)}")


def use_sampler(pipe: Any, name: str, base_config: Any) -> None:
    """Give ``pipe`` the sampler ``name``, built on ``base_config`` (the checkpoint's own)."""
    import diffusers

    class_name, options = SAMPLERS[sampler_name(name)]
    if class_name in _NEEDS_SCIPY and importlib.util.find_spec("scipy") is None:
        raise UnknownSampler(f"the {name} scheduler needs scipy, which is not installed (pip install scipy)")
    cls = getattr(diffusers, class_name)
    pipe.scheduler = cls.from_config(base_config, **options)


def sampler_of(scheduler: Any) -> str:
    """The A1111 name of a diffusers scheduler object (its class name when there is none)."""
    class_name = type(scheduler).__name__
    config = getattr(scheduler, "config", {})
    karras = bool(config.get("use_karras_sigmas", False))
    sde = config.get("algorithm_type") == "sde-dpmsolver++"
    for name, (cls, options) in SAMPLERS.items():
        if (
            cls == class_name
            and bool(options.get("use_karras_sigmas")) == karras
            and ((options.get("algorithm_type") == "sde-dpmsolver++") == sde)
        ):
            return name
    return class_name
