"""Applying a policy suggestion as a new, undoable version of the user's policy file.

"Apply" changes one task's primary model and moves the old primary to the front of its
fallbacks. The YAML text is edited surgically — only the ``primary:`` line and the
``fallbacks`` entry of that task change, found by the line numbers
:mod:`~sparklio_desktop.core.policy.yaml_source` records — so the user's comments, ordering and
formatting survive. The result is validated with the same parser the app loads policies
with, and must say exactly what was asked (new primary, old primary first fallback,
every other task untouched) before anything is written.

Before each write the file as it was is kept in ``data_dir()/policy-versions/`` under a
UTC timestamp (``.yaml``: its bytes; ``.absent``: there was no user file, the shipped
policy was in force). :meth:`PolicyVersions.undo` puts the newest kept version back byte
for byte (or removes the user file again) and marks that version ``.undone`` rather than
deleting it.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sparklio_desktop.core.errors import ConfigError, SparklioError
from sparklio_desktop.core.policy.catalog import FAMILY_PREFIX, Catalog
from sparklio_desktop.core.policy.routing_policy import Policy, parse_policy
from sparklio_desktop.core.policy.yaml_source import parse_yaml
from sparklio_desktop.core.settings import paths

_SCALAR = r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s#\[\]{},]+)"
_PRIMARY_LINE = re.compile(r"^(?P<head>\s*primary:[ \t]*)" + _SCALAR + r"(?P<tail>.*?)(?P<eol>\r?\n?)$")
_FLOW_FALLBACKS = re.compile(r"^(?P<head>\s*fallbacks:[ \t]*)\[[^\[\]]*\](?P<tail>.*?)(?P<eol>\r?\n?)$")
_BLOCK_FALLBACKS = re.compile(r"^(?P<head>\s*fallbacks:)[ \t]*(?P<tail>#.*)?(?P<eol>\r?\n?)$")


class PolicyEditError(SparklioError):
    """A suggestion that cannot be applied: unknown task, an uneditable layout, or an invalid result."""


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """What applying (or undoing) did: the file, the kept version, and the unified diff."""

    path: Path
    version: Path | None
    diff: str
    before: bytes
    after: bytes | None  # None: the user file was removed (back to the shipped policy)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def unified_diff(before: bytes, after: bytes, name: str) -> str:
    """The change as ``diff -u`` shows it."""
    old = before.decode("utf-8").splitlines(keepends=True)
    new = after.decode("utf-8").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"a/{name}", f"b/{name}"))


def _flow_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def change_primary_text(
    text: str, task: str, new_primary: str, display_path: str = "policy.yaml", also_drop: frozenset[str] = frozenset()
) -> str:
    """``text`` with ``task``'s primary set to ``new_primary`` and the old primary first among the fallbacks
    (``also_drop``: other references to leave out of them, such as the new primary's family).

    Raises :class:`PolicyEditError` when the task is unknown, the model is already its
    primary, or the task is written in a layout this edit does not handle (a flow
    mapping, a multi-line flow list).
    """
    doc = parse_yaml(text, display_path)
    tasks = doc.data.get("tasks") if isinstance(doc.data, dict) else None
    if not isinstance(tasks, dict) or task not in tasks or not isinstance(tasks[task], dict):
        raise PolicyEditError(f"the policy has no task '{task}'")
    spec = tasks[task]
    old_primary = spec.get("primary")
    if old_primary == new_primary:
        raise PolicyEditError(f"{new_primary} is already the primary of {task}")
    fallbacks = [str(m) for m in spec.get("fallbacks") or []]
    new_fallbacks = [str(old_primary)] + [m for m in fallbacks if m not in (new_primary, old_primary, *also_drop)]

    lines = text.splitlines(keepends=True)
    primary_line = doc.lines.get(("tasks", task, "primary"))
    if primary_line is None:
        raise PolicyEditError(f"task '{task}' has no primary line to change")
    match = _PRIMARY_LINE.match(lines[primary_line - 1])
    if match is None:
        raise PolicyEditError(f"{display_path}:{primary_line}: write '{task}' as a block mapping to apply suggestions")
    value = match["value"]
    quote = value[0] if value[:1] in ("'", '"') else ""
    lines[primary_line - 1] = f"{match['head']}{quote}{new_primary}{quote}{match['tail']}{match['eol']}"

    key_line = doc.lines.get(("tasks", task, "fallbacks"))
    if key_line is None:
        indent = re.match(r"^\s*", lines[primary_line - 1]).group(0)  # type: ignore[union-attr]
        eol = match["eol"] or "\n"
        lines.insert(primary_line, f"{indent}fallbacks: {_flow_list(new_fallbacks)}{eol}")
    else:
        line = lines[key_line - 1]
        flow = _FLOW_FALLBACKS.match(line)
        block = _BLOCK_FALLBACKS.match(line)
        if flow is not None:
            lines[key_line - 1] = f"{flow['head']}{_flow_list(new_fallbacks)}{flow['tail']}{flow['eol']}"
        elif block is not None and fallbacks:
            item_lines = [doc.lines[("tasks", task, "fallbacks", i)] for i in range(len(fallbacks))]
            first, last = min(item_lines), max(item_lines)
            if first != key_line + 1 or last - first + 1 != len(fallbacks):
                raise PolicyEditError(f"{display_path}:{key_line}: put one fallback per line to apply suggestions")
            item = re.match(r"^(?P<indent>\s*-[ \t]*)", lines[first - 1])
            if item is None:
                raise PolicyEditError(f"{display_path}:{first}: cannot read the fallbacks list")
            eol = "\r\n" if lines[first - 1].endswith("\r\n") else "\n"
            lines[first - 1 : last] = [f"{item['indent']}{m}{eol}" for m in new_fallbacks]
        else:
            raise PolicyEditError(
                f"{display_path}:{key_line}: write the fallbacks of '{task}' on one line, "
                "or one per line, to apply suggestions"
            )
    return "".join(lines)


def _check_result(before: Policy, after: Policy, task: str, new_primary: str, old_primary: str) -> None:
    """Refuse an edit whose parsed result is not exactly the change asked for."""
    spec = after.tasks[task]
    if spec.primary != new_primary or not spec.fallbacks or spec.fallbacks[0] != old_primary:
        raise PolicyEditError(f"the edited policy does not make {new_primary} the primary of {task}; nothing written")
    if (
        before.model_copy(update={"tasks": {}}) != after.model_copy(update={"tasks": {}})
        or any(before.tasks[name] != after.tasks.get(name) for name in before.tasks if name != task)
        or set(before.tasks) != set(after.tasks)
    ):
        raise PolicyEditError("the edit would change more than one task; nothing written")


class PolicyVersions:
    """The user's policy file and its kept versions."""

    def __init__(self, catalog: Catalog, path: Path | None = None, versions_dir: Path | None = None) -> None:
        self.catalog = catalog
        self.path = Path(path) if path is not None else paths.user_policy_path()
        self.versions_dir = Path(versions_dir) if versions_dir is not None else paths.data_dir() / "policy-versions"

    def _current(self) -> tuple[bytes, bool]:
        """The bytes in force and whether they come from the user file (else the shipped one)."""
        if self.path.is_file():
            return self.path.read_bytes(), True
        return paths.shipped_policy_path().read_bytes(), False

    def _validate(self, data: bytes) -> Policy:
        try:
            return parse_policy(parse_yaml(data.decode("utf-8"), str(self.path)), self.catalog)
        except ConfigError as exc:
            raise PolicyEditError(f"the edited policy does not validate, so nothing was written: {exc}") from None
        except UnicodeDecodeError as exc:
            raise PolicyEditError(f"{self.path} is not UTF-8 text: {exc}") from None

    def _family_ref(self, model_id: str) -> frozenset[str]:
        """The family reference that stands for ``model_id`` (the ratings promote the model
        itself: its family's reference leaves the fallbacks rather than name it twice)."""
        model = self.catalog.get(model_id)
        return frozenset({f"{FAMILY_PREFIX}{model.family}"}) if model is not None and model.family else frozenset()

    def preview(self, task: str, new_primary: str) -> PolicyChange:
        """What :meth:`apply` would write, without writing anything."""
        before, _ = self._current()
        try:
            current = self._validate(before)
        except PolicyEditError as exc:
            raise PolicyEditError(f"the current policy is broken; fix it first ({exc})") from None
        if task not in current.tasks:
            raise PolicyEditError(f"the policy has no task '{task}'")
        old_primary = current.tasks[task].primary
        after = change_primary_text(
            before.decode("utf-8"), task, new_primary, str(self.path), also_drop=self._family_ref(new_primary)
        ).encode("utf-8")
        _check_result(current, self._validate(after), task, new_primary, old_primary)
        return PolicyChange(self.path, None, unified_diff(before, after, self.path.name), before, after)

    def apply(self, task: str, new_primary: str) -> PolicyChange:
        """Write the new version after keeping the current one; returns the diff."""
        change = self.preview(task, new_primary)
        _, existed = self._current()
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        version = self.versions_dir / f"{_stamp()}.{'yaml' if existed else 'absent'}"
        _atomic_write(version, change.before if existed else b"")
        assert change.after is not None
        _atomic_write(self.path, change.after)
        return PolicyChange(self.path, version, change.diff, change.before, change.after)

    def versions(self) -> list[Path]:
        """Kept versions that undo can restore, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(p for p in self.versions_dir.iterdir() if p.suffix in (".yaml", ".absent"))

    def undo(self) -> PolicyChange:
        """Restore the newest kept version byte for byte (or remove the user file if there was none)."""
        kept = self.versions()
        if not kept:
            raise PolicyEditError("there is no earlier policy version to go back to")
        version = kept[-1]
        before, _ = self._current()
        if version.suffix == ".absent":
            self.path.unlink(missing_ok=True)
            restored, after = paths.shipped_policy_path().read_bytes(), None
        else:
            restored = after = version.read_bytes()
            _atomic_write(self.path, restored)
        version.rename(version.with_name(version.name + ".undone"))
        return PolicyChange(self.path, version, unified_diff(before, restored, self.path.name), before, after)
