"""Finding recipes: the shipped ones, then the user's, which replace shipped ones by name.

Shipped recipes live in ``resources/recipes/*.yaml``; the user's own in ``recipes/`` in the
data folder. A user recipe named like a shipped one replaces it (the way to edit a copy).
A broken user file is reported and skipped, so one bad edit never hides the other
recipes; a broken shipped file is a bug, and is reported the same way.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from sparklio_desktop.core.errors import ConfigError, UnknownNameError
from sparklio_desktop.core.policy.yaml_source import load_yaml
from sparklio_desktop.core.recipes.schema import Recipe, parse_recipe
from sparklio_desktop.core.settings import paths

__all__ = ["LoadedRecipe", "RecipeBook", "load_recipe_file", "load_recipes", "shipped_recipes_dir", "user_recipes_dir"]

MAX_RECIPE_FILES = 500


def shipped_recipes_dir() -> Path:
    return paths.resources_dir() / "recipes"


def user_recipes_dir() -> Path:
    return paths.data_dir() / "recipes"


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    path: Path
    shipped: bool


@dataclass
class RecipeBook:
    """The recipes by name, and the files that could not be read."""

    recipes: dict[str, LoadedRecipe] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)

    def get(self, name: str) -> LoadedRecipe:
        try:
            return self.recipes[name]
        except KeyError:
            raise UnknownNameError("recipe", name, self.recipes) from None


def load_recipe_file(path: Path, tasks: Collection[str] | None = None) -> Recipe:
    """One recipe file, fully checked; ``ConfigError`` with file:line otherwise. The
    recipe's name must match the file's stem, so a name always finds its file."""
    recipe = parse_recipe(load_yaml(path), tasks)
    if recipe.name != path.stem:
        raise ConfigError(str(path), None, "name", f"the recipe is named '{recipe.name}' but its file '{path.name}'")
    return recipe


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("."))[:MAX_RECIPE_FILES]


def load_recipes(
    tasks: Collection[str] | None = None, *, shipped: Path | None = None, user: Path | None = None
) -> RecipeBook:
    book = RecipeBook()
    for folder, is_shipped in ((shipped or shipped_recipes_dir(), True), (user or user_recipes_dir(), False)):
        for path in _files(folder):
            try:
                recipe = load_recipe_file(path, tasks)
            except ConfigError as exc:
                book.errors.append(exc)
                continue
            book.recipes[recipe.name] = LoadedRecipe(recipe, path, is_shipped)
    return book
