"""Prompt templates: reusable prompts with a concise system prompt, named variables,
default route options and an optional JSON output (docs/templates.md).

``schema`` (the file format, located errors), ``loader`` (shipped and user templates),
``render`` (variables filled safely, the system prompt's token count), ``save`` (a
prompt kept as a template of the user's). The placeholder
syntax is the recipes' (core/recipes/templates.py), so recipes, batches and templates
share one.
"""

from sparklio_desktop.core.templates.loader import (
    LoadedTemplate,
    TemplateBook,
    find_template,
    load_template_file,
    load_templates,
    shipped_templates_dir,
    user_templates_dir,
)
from sparklio_desktop.core.templates.render import (
    RenderedPrompt,
    TemplateVariableError,
    render_template,
    system_tokens,
)
from sparklio_desktop.core.templates.save import TemplateExistsError, save_user_template
from sparklio_desktop.core.templates.schema import PromptTemplate, TemplateOutput, TemplateRoute, TemplateVariable

__all__ = [
    "LoadedTemplate",
    "PromptTemplate",
    "RenderedPrompt",
    "TemplateBook",
    "TemplateExistsError",
    "TemplateOutput",
    "TemplateRoute",
    "TemplateVariable",
    "TemplateVariableError",
    "find_template",
    "load_template_file",
    "load_templates",
    "render_template",
    "save_user_template",
    "shipped_templates_dir",
    "system_tokens",
    "user_templates_dir",
]
