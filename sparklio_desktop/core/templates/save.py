"""Saving a prompt as a template of the user's own ("save as template" in the composer).

The file is written as a person would write it (the same keys, in the same order, as the
shipped ones) and read back through the loader's checks before it is kept, so a saved
template always loads; a prompt whose braces are not placeholders (``{`` alone) is a
located error and nothing is written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.policy.yaml_source import parse_yaml
from sparklio_desktop.core.templates.loader import user_templates_dir
from sparklio_desktop.core.templates.schema import parse_template_doc

__all__ = ["TemplateExistsError", "save_user_template"]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class TemplateExistsError(SparklioError):
    """A template of the user's with that name is already there."""


def save_user_template(
    name: str,
    task: str,
    prompt: str,
    *,
    system: str = "",
    description: str = "",
    folder: Path | None = None,
    replace: bool = False,
) -> Path:
    """Write ``<data>/templates/<name>.yaml``; ``ConfigError`` (nothing kept) when it would not load."""
    if not _NAME_RE.fullmatch(name):
        raise SparklioError(f"a template's name is letters, digits and _ (64 at most), not {name!r}")
    target = (folder or user_templates_dir()) / f"{name}.yaml"
    if target.exists() and not replace:
        raise TemplateExistsError(f"you already have a template named '{name}' ({target})")
    data: dict[str, object] = {"name": name, "task": task}
    if description:
        data["description"] = description
    if system:
        data["system"] = system
    data["prompt"] = prompt
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    parse_template_doc(parse_yaml(text, str(target)))  # the loader's checks, before anything is written
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
