"""A recipe's input values: checked and read before anything is routed or paid for.

Text inputs are used as given; a file input's text is read whole (UTF-8, bounded) and
substituted where the template names it; an image input is attached to every step whose
template names it (the placeholder itself reads ``[image: NAME]``). A missing required
input, an unknown name, or a file that cannot be read is a :class:`RecipeInputError`, which
the command line reports on one line with exit status 2, before the first paid call.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.providers.base import ImageInput, image_mime_type
from sparklio_desktop.core.recipes.schema import Recipe

__all__ = ["InputValue", "RecipeInputError", "resolve_inputs"]

MAX_FILE_BYTES = 4 * 2**20  # a text file input: as a prompt file (commands/_input.py)
MAX_IMAGE_BYTES = 20 * 2**20  # an image input: the largest any provider accepts


class RecipeInputError(SparklioError):
    """A value given for a recipe's inputs is wrong: nothing was sent."""


@dataclass(frozen=True)
class InputValue:
    """One input's value: ``text`` (typed or read from the file) or ``image``; ``source`` is
    what the user gave (the path, for a file or an image), kept in the run's state."""

    name: str
    kind: str
    source: str
    text: str = ""
    image: ImageInput | None = None

    @property
    def prompt_text(self) -> str:
        return f"[image: {self.name}]" if self.kind == "image" else self.text


def _read(path: str, limit: int, what: str) -> bytes:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise RecipeInputError(f"{what} {path}: not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise RecipeInputError(f"{what} {path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise RecipeInputError(f"{what} {path}: larger than {limit // 2**20} MiB")
    return data


def read_value(recipe: Recipe, name: str, given: str) -> InputValue:
    spec = recipe.input(name)
    what = f"input '{name}'"
    if spec.kind == "text":
        return InputValue(name, "text", given, text=given)
    path = str(Path(given).expanduser())
    if spec.kind == "file":
        data = _read(path, MAX_FILE_BYTES, what)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RecipeInputError(f"{what} {given}: not UTF-8 text") from None
        return InputValue(name, "file", path, text=text)
    mime = image_mime_type(path)
    if mime is None:
        raise RecipeInputError(f"{what} {given}: not a PNG, JPEG, WebP or GIF file")
    return InputValue(name, "image", path, image=ImageInput(_read(path, MAX_IMAGE_BYTES, what), mime))


def resolve_inputs(recipe: Recipe, given: Mapping[str, str], *, require: bool = True) -> dict[str, InputValue]:
    """The values of ``given`` (name -> text or path), read and checked. ``require``: every
    required input must be there (a run); an estimate may leave them out and assume sizes."""
    known = {i.name for i in recipe.inputs}
    for name in given:
        if name not in known:
            valid = ", ".join(sorted(known)) or "none"
            raise RecipeInputError(f"recipe '{recipe.name}' has no input '{name}' (its inputs: {valid})")
    if require:
        missing = [i.name for i in recipe.inputs if i.required and i.name not in given]
        if missing:
            raise RecipeInputError(f"recipe '{recipe.name}' needs " + ", ".join(f"--input {m}=..." for m in missing))
    return {name: read_value(recipe, name, value) for name, value in given.items()}


def parse_pairs(
    pairs: list[str], *, flag: str = "--input", key: str = "NAME", error: type[SparklioError] = RecipeInputError
) -> dict[str, str]:
    """``["brief=Autumn menu", "logo=logo.png"]`` -> a mapping; a malformed or repeated pair
    is an ``error`` naming ``flag`` (recipes' ``--input``, templates' ``--var``)."""
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise error(f"{flag} {pair!r}: write {key}=VALUE")
        if name in found:
            raise error(f"{flag} {name} is given twice")
        found[name] = value
    return found
