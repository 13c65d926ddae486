"""Applying a suggestion writes a new policy version that validates, keeps comments, and
undoes byte for byte."""

from __future__ import annotations

import pytest

from sparklio_desktop.core.policy.routing_policy import load_policy
from sparklio_desktop.core.policy.versions import PolicyEditError, PolicyVersions, change_primary_text
from sparklio_desktop.core.routing.router import Router, RouteRequest
from sparklio_desktop.core.settings import paths

SONNET, GPT4, PRO = "anthropic/claude-3-5-sonnet", "openai/gpt-4", "google/gemini-2.0-pro"
# The shipped chain names their families: the ratings promote the model itself, its family's
# reference leaves the fallbacks, and the rest of the chain keeps its references.
SONNET_REF, GPT4_REF, PRO_REF = "family/claude-sonnet", "family/gpt-4", "family/gemini-pro"
TASK = "copywriting_standard"


def test_apply_then_undo_is_byte_identical(catalog, sparklio_home):
    user = paths.user_policy_path()
    # A user file with its own comment, CRLF line endings and a trailing space to survive.
    original = paths.shipped_policy_path().read_bytes().replace(b"\n", b"\r\n")
    original = original.replace(b"tasks:\r\n", b"tasks:   # my tasks \r\n", 1)
    user.write_bytes(original)
    versions = PolicyVersions(catalog)

    change = versions.apply(TASK, GPT4)
    applied = user.read_bytes()
    assert change.before == original and change.after == applied
    policy = load_policy(user, catalog)  # the applied version validates
    assert policy.tasks[TASK].primary == GPT4 and policy.tasks[TASK].fallbacks == [SONNET_REF, PRO_REF]
    assert b"tasks:   # my tasks \r\n" in applied and b"\r\n" in applied and b"\n" not in applied.replace(b"\r\n", b"")
    changed = [line for line in change.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert len(changed) == 4, change.diff  # two lines out, two in: primary and fallbacks
    assert f"+    primary: {GPT4}" in change.diff and f"fallbacks: [{SONNET_REF}, {PRO_REF}]" in change.diff
    assert change.version.read_bytes() == original and change.version.parent == sparklio_home / "policy-versions"
    assert Router(catalog, policy).route(RouteRequest(task=TASK, explore=False)).chain[0] == GPT4

    undone = versions.undo()
    assert user.read_bytes() == original
    assert undone.after == original and undone.diff.startswith("--- a/policy.yaml")
    assert versions.versions() == []
    with pytest.raises(PolicyEditError, match="no earlier policy version"):
        versions.undo()


def test_without_a_user_file_apply_starts_from_the_shipped_policy_and_undo_removes_it(catalog):
    user = paths.user_policy_path()
    assert not user.exists()
    versions = PolicyVersions(catalog)
    versions.apply(TASK, PRO)
    first = user.read_bytes()
    assert load_policy(user, catalog).tasks[TASK].fallbacks == [SONNET_REF, GPT4_REF]
    shipped = paths.shipped_policy_path().read_bytes()
    assert len(first.splitlines()) == len(shipped.splitlines())
    assert sum(a != b for a, b in zip(first.splitlines(), shipped.splitlines(), strict=True)) == 2

    versions.apply(TASK, GPT4)  # a second version on top
    assert load_policy(user, catalog).tasks[TASK].fallbacks == [PRO, SONNET_REF]
    assert len(versions.versions()) == 2
    versions.undo()
    assert user.read_bytes() == first
    versions.undo()
    assert not user.exists()  # back to the shipped policy in force
    assert paths.shipped_policy_path().read_bytes() == shipped


def test_block_style_fallbacks_and_a_missing_list():
    block = (
        "tasks:\n"
        "  writing:\n"
        "    # who writes first\n"
        '    primary: "a/one"  # keep me\n'
        "    fallbacks:\n"
        "      - a/two\n"
        "      - a/three\n"
        "    capability: text\n"
    )
    out = change_primary_text(block, "writing", "a/three")
    assert out == (
        "tasks:\n"
        "  writing:\n"
        "    # who writes first\n"
        '    primary: "a/three"  # keep me\n'
        "    fallbacks:\n"
        "      - a/one\n"
        "      - a/two\n"
        "    capability: text\n"
    )
    bare = "tasks:\n  writing:\n    primary: a/one\n    capability: text\n"
    assert change_primary_text(bare, "writing", "a/two") == (
        "tasks:\n  writing:\n    primary: a/two\n    fallbacks: [a/one]\n    capability: text\n"
    )
    with pytest.raises(PolicyEditError, match="already the primary"):
        change_primary_text(bare, "writing", "a/one")
    with pytest.raises(PolicyEditError, match="no task 'poetry'"):
        change_primary_text(bare, "poetry", "a/two")
    with pytest.raises(PolicyEditError, match="block mapping"):
        change_primary_text("tasks:\n  writing: {primary: a/one, capability: text}\n", "writing", "a/two")


def test_invalid_results_are_refused_and_nothing_is_written(catalog):
    user = paths.user_policy_path()
    versions = PolicyVersions(catalog)
    with pytest.raises(PolicyEditError, match="unknown model 'openai/gpt-5'"):
        versions.apply(TASK, "openai/gpt-5")
    with pytest.raises(PolicyEditError, match="cannot do image_generation"):
        versions.apply("image_generation_quality", GPT4)
    assert not user.exists() and versions.versions() == []
    preview = versions.preview(TASK, GPT4)
    assert preview.diff and not user.exists()
