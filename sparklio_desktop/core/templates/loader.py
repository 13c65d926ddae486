"""Finding templates: the shipped ones, then the user's, which replace shipped ones by name.

Shipped templates live in ``resources/templates/*.yaml`` (in the wheel under
``sparklio_desktop/data/resources``, setup.py); the user's own in ``templates/`` in the
data folder. As with recipes (core/recipes/loader.py), a user file named like a shipped
one replaces it, and ``list`` says so; a broken user file is reported and skipped, so
one bad edit never hides the others.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from sparklio_desktop.core.errors import ConfigError, UnknownNameError
from sparklio_desktop.core.policy.yaml_source import load_yaml
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.templates.schema import PromptTemplate, parse_template_doc

__all__ = [
    "LoadedTemplate",
    "TemplateBook",
    "find_template",
    "load_template_file",
    "load_templates",
    "shipped_templates_dir",
    "user_templates_dir",
]

MAX_TEMPLATE_FILES = 500


def shipped_templates_dir() -> Path:
    return paths.resources_dir() / "templates"


def user_templates_dir() -> Path:
    return paths.data_dir() / "templates"


@dataclass(frozen=True)
class LoadedTemplate:
    template: PromptTemplate
    path: Path
    shipped: bool
    overrides: Path | None = None  # the shipped file this user template replaces


@dataclass
class TemplateBook:
    """The templates by name, and the files that could not be read."""

    templates: dict[str, LoadedTemplate] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)

    def get(self, name: str) -> LoadedTemplate:
        try:
            return self.templates[name]
        except KeyError:
            raise UnknownNameError("template", name, self.templates) from None


def load_template_file(path: Path, tasks: Collection[str] | None = None) -> PromptTemplate:
    """One template file, fully checked; ``ConfigError`` with file:line otherwise. The
    name must match the file's stem, so a name always finds its file."""
    template = parse_template_doc(load_yaml(path), tasks)
    if template.name != path.stem:
        raise ConfigError(
            str(path), None, "name", f"the template is named '{template.name}' but its file '{path.name}'"
        )
    return template


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("."))[:MAX_TEMPLATE_FILES]


def load_templates(
    tasks: Collection[str] | None = None, *, shipped: Path | None = None, user: Path | None = None
) -> TemplateBook:
    """Every template; ``tasks`` (the policy's task names) refuses unknown ones."""
    book = TemplateBook()
    for folder, is_shipped in ((shipped or shipped_templates_dir(), True), (user or user_templates_dir(), False)):
        for path in _files(folder):
            try:
                template = load_template_file(path, tasks)
            except ConfigError as exc:
                book.errors.append(exc)
                continue
            earlier = book.templates.get(template.name)
            replaced = earlier.path if earlier is not None and earlier.shipped and not is_shipped else None
            book.templates[template.name] = LoadedTemplate(template, path, is_shipped, replaced)
    return book


def find_template(
    name: str, tasks: Collection[str] | None = None, *, shipped: Path | None = None, user: Path | None = None
) -> tuple[LoadedTemplate, list[ConfigError]]:
    """The template ``name`` (the user's file first, then the shipped one), reading only
    those two files: what a run needs. A broken user file is skipped as in
    :func:`load_templates` and returned with the template, to be reported."""
    errors: list[ConfigError] = []
    shipped_path = (shipped or shipped_templates_dir()) / f"{name}.yaml"
    user_path = (user or user_templates_dir()) / f"{name}.yaml"
    valid_name = name.isidentifier() and name.isascii()
    for path, is_shipped in ((user_path, False), (shipped_path, True)):
        if not valid_name or not path.is_file():
            continue
        try:
            template = load_template_file(path, tasks)
        except ConfigError as exc:
            errors.append(exc)
            continue
        replaced = shipped_path if not is_shipped and shipped_path.is_file() else None
        return LoadedTemplate(template, path, is_shipped, replaced), errors
    if errors:
        raise errors[0]
    book = load_templates(tasks, shipped=shipped, user=user)  # for the list of names
    return book.get(name), errors
