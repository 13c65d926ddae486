"""Recipes: multi-step jobs (the seed's Brand Analysis, SNS Post Set, Blog Post, 30-second
video) as small YAML files, planned with a price before they run, run step by step through
the dispatcher, resumable (docs/recipes.md).

``schema`` (the file format, located errors), ``templates`` (placeholders), ``loader``
(shipped and user recipes), ``brand_voice`` (profiles applied to text steps), ``inputs``
(values checked before anything is sent), ``plan`` (each step routed and priced),
``run_state`` (the run's record) and ``runner`` (steps as their inputs allow, resume).
"""

from sparklio_desktop.core.recipes.brand_voice import BrandVoice, load_brand_voices
from sparklio_desktop.core.recipes.inputs import InputValue, RecipeInputError, parse_pairs, resolve_inputs
from sparklio_desktop.core.recipes.loader import LoadedRecipe, RecipeBook, load_recipe_file, load_recipes
from sparklio_desktop.core.recipes.plan import RecipePlan, RouteOverrides, StepPlan, Voice, plan_recipe
from sparklio_desktop.core.recipes.run_state import RunState, StepState, UnknownRunError
from sparklio_desktop.core.recipes.runner import execute, inputs_of, new_run
from sparklio_desktop.core.recipes.schema import Recipe, RecipeInput, RecipeStep, parse_recipe

__all__ = [
    "BrandVoice",
    "InputValue",
    "LoadedRecipe",
    "Recipe",
    "RecipeBook",
    "RecipeInput",
    "RecipeInputError",
    "RecipePlan",
    "RecipeStep",
    "RouteOverrides",
    "RunState",
    "StepPlan",
    "StepState",
    "UnknownRunError",
    "Voice",
    "execute",
    "inputs_of",
    "load_brand_voices",
    "load_recipe_file",
    "load_recipes",
    "new_run",
    "parse_pairs",
    "parse_recipe",
    "plan_recipe",
    "resolve_inputs",
]
