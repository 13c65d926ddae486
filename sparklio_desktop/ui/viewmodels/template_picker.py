"""The composer's template picker: the templates, one template's variables as fields, the
prompt as it will be sent, and "save as template" (docs/templates.md).

Files are read on the serial executor (the loop never waits on the disk); rendering is
the core's (core/templates/render.py), so a value with braces is sent as typed and a
missing variable is named in the same words as ``sparklio run --template``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel

if TYPE_CHECKING:  # the templates' modules load with the picker, not on the launch path
    from sparklio_desktop.core.templates import LoadedTemplate, RenderedPrompt

__all__ = ["TemplateChoice", "TemplateField", "TemplateForm", "TemplatePickerViewModel"]


@dataclass(frozen=True)
class TemplateChoice:
    name: str
    task: str
    description: str
    output: str  # plain, markdown, json
    source: str  # "shipped", "yours", "yours (replaces shipped)"


@dataclass(frozen=True)
class TemplateField:
    name: str
    description: str
    default: str | None  # None: required

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class TemplateForm:
    """One template as the picker shows it: its fields, and the system prompt with its size."""

    name: str
    task: str
    description: str
    system: str
    system_tokens: int
    output: str
    fields: tuple[TemplateField, ...]
    route: dict[str, str]  # the route options it suggests


def _source(loaded: LoadedTemplate) -> str:
    if loaded.shipped:
        return "shipped"
    return "yours (replaces shipped)" if loaded.overrides is not None else "yours"


class TemplatePickerViewModel(ViewModel):
    listChanged = Signal(list)  # [TemplateChoice]
    skipped = Signal(list)  # the broken files, one line each: name them, the others still load
    formChanged = Signal(object)  # TemplateForm
    previewChanged = Signal(str)  # the prompt as it will be sent
    previewFailed = Signal(str)  # a required variable is empty: one line naming it
    saved = Signal(str)  # the path of a template just saved

    def __init__(self, executor: SerialExecutor, tasks: Collection[str], parent: QObject | None = None) -> None:
        super().__init__(executor, parent)
        self._task_names = set(tasks)
        self._loaded: dict[str, LoadedTemplate] = {}
        self._current: LoadedTemplate | None = None
        self._values: dict[str, str] = {}

    @asyncSlot()
    async def reload(self) -> None:
        """Read the templates again (yours may have changed) and list them."""
        self._track()
        from sparklio_desktop.core.templates import load_templates

        book = await self._executor.call(load_templates, self._task_names)
        self._loaded = dict(sorted(book.templates.items()))
        self.skipped.emit([str(e) for e in book.errors])
        self.listChanged.emit(
            [
                TemplateChoice(n, t.template.task, t.template.description, t.template.output.format, _source(t))
                for n, t in self._loaded.items()
            ]
        )

    def select(self, name: str) -> TemplateForm | None:
        loaded = self._loaded.get(name)
        self._current, self._values = loaded, {}
        if loaded is None:
            return None
        from sparklio_desktop.core.templates import system_tokens

        t = loaded.template
        form = TemplateForm(
            t.name,
            t.task,
            t.description,
            t.system,
            system_tokens(t),
            t.output.format,
            tuple(TemplateField(v, t.variable(v).description, t.variable(v).default) for v in t.variable_names()),
            {k: str(v) for k, v in t.route.model_dump(mode="json", exclude_none=True).items()},
        )
        self.formChanged.emit(form)
        self._render()
        return form

    def set_value(self, name: str, value: str) -> None:
        """A field's text ("" : its default, or missing when it has none)."""
        if value:
            self._values[name] = value
        else:
            self._values.pop(name, None)
        self._render()

    def _render(self) -> RenderedPrompt | None:
        if self._current is None:
            return None
        from sparklio_desktop.core.templates import TemplateVariableError, render_template

        try:
            rendered = render_template(self._current.template, self._values)
        except TemplateVariableError as exc:
            self.previewFailed.emit(str(exc).replace("(give --var", "(fill in").replace("=VALUE)", ")"))
            return None
        self.previewChanged.emit(rendered.prompt)
        return rendered

    def rendered(self) -> RenderedPrompt | None:
        """The chosen template filled in, or None (nothing chosen, or a field missing)."""
        return self._render()

    @property
    def route(self) -> dict[str, str]:
        if self._current is None:
            return {}
        return {k: str(v) for k, v in self._current.template.route.model_dump(mode="json", exclude_none=True).items()}

    @asyncSlot(str, str, str, str)
    async def save_as(self, name: str, task: str, prompt: str, system: str) -> None:
        """Keep ``prompt`` as a template of yours (``templates/<name>.yaml`` in the data folder)."""
        self._track()
        from sparklio_desktop.core.templates import save_user_template

        try:
            path = await self._executor.call(save_user_template, name, task, prompt, system=system)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        self.saved.emit(str(path))
        await self.reload()
