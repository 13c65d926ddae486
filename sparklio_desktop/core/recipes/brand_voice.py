"""Brand voices: named profiles (tone, audience, words to use and avoid, examples).

Why: a creator writes in one voice across every caption, post and kit; repeating it in
each prompt is what recipes are meant to save. The profiles live in
``brand_voices.yaml`` in the data folder, validated like every other YAML file (located
errors). :meth:`BrandVoice.preamble` is the paragraph put before every *text* step's
prompt (docs/recipes.md, "Brand voice"); image and embedding steps get none, since a
tone means nothing to an image model and would change a vector.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sparklio_desktop.core.errors import ConfigError, UnknownNameError
from sparklio_desktop.core.policy.yaml_source import load_yaml, validation_errors
from sparklio_desktop.core.settings import paths

__all__ = ["BrandVoice", "brand_voices_path", "load_brand_voices"]

BRAND_VOICES_FILENAME = "brand_voices.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandVoice(_Strict):
    tone: str = ""
    audience: str = ""
    use: list[str] = Field(default_factory=list, max_length=100)
    avoid: list[str] = Field(default_factory=list, max_length=100)
    examples: list[str] = Field(default_factory=list, max_length=20)

    def preamble(self, name: str) -> str:
        """The paragraph that goes before a text step's prompt (empty parts left out)."""
        lines = [f"Write in the brand voice '{name}'."]
        if self.tone:
            lines.append(f"Tone: {self.tone}.")
        if self.audience:
            lines.append(f"Audience: {self.audience}.")
        if self.use:
            lines.append("Words to use: " + ", ".join(self.use) + ".")
        if self.avoid:
            lines.append("Words to avoid: " + ", ".join(self.avoid) + ".")
        if self.examples:
            lines.append("Examples of the voice:")
            lines.extend(f"- {example}" for example in self.examples)
        return "\n".join(lines) + "\n\n"


class _VoicesFile(_Strict):
    voices: dict[str, BrandVoice] = Field(default_factory=dict)


def brand_voices_path() -> Path:
    return paths.data_dir() / BRAND_VOICES_FILENAME


def load_brand_voices(path: Path | None = None) -> dict[str, BrandVoice]:
    """Every profile in ``brand_voices.yaml`` (none when the file does not exist); a broken
    file raises ``ConfigError`` with its line: a run must not silently lose its voice."""
    path = path or brand_voices_path()
    if not path.exists():
        return {}
    doc = load_yaml(path, empty_ok=True)
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise ConfigError(doc.path, 1, "", "brand voices are a mapping: voices: {name: {tone, audience, ...}}")
    try:
        return dict(_VoicesFile.model_validate(doc.data).voices)
    except ValidationError as exc:
        raise validation_errors(doc, exc) from None


def find_voice(name: str, voices: dict[str, BrandVoice]) -> BrandVoice:
    try:
        return voices[name]
    except KeyError:
        raise UnknownNameError(f"brand voice (in {brand_voices_path()})", name, voices) from None
