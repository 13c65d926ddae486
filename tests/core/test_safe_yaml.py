"""Hostile YAML is one located error: recursion, alias bombs, deep nesting, bad values, huge files."""

from __future__ import annotations

import os

import pytest
import yaml

from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.policy import safe_yaml
from sparklio_desktop.core.policy.yaml_source import load_yaml, parse_yaml
from sparklio_desktop.core.settings.paths import shipped_catalog_path, shipped_policy_path

LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)
MERGE_LAUGHS = "m0: &m0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}\n" + "".join(
    f"m{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(9))}}}\n" for i in range(1, 9)
)


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, "p.yaml")
    return info.value


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("a: 1\nzzz: &r [*r]\n", 2, "recursive alias '*r'"),
        ("a: &r {b: [1, {c: *r}]}\n", 1, "recursive alias '*r'"),
        ("a: &r\n  b: *r\n", 2, "recursive alias '*r'"),
        (LAUGHS, 6, "expands to more than"),
        (MERGE_LAUGHS, 6, "expands to more than"),
        ("a:" + "".join(f"\n{' ' * i}k{i}:" for i in range(1, 80)) + " x\n", 65, "nested more than 64 levels"),
        ("a: " + "[" * 100_000, 1, "invalid YAML"),
        ("a: {b: [" * 40 + "]}" * 40 + "\n", 1, "nested more than 64 levels"),
        ("a: *nowhere\n", 1, "undefined alias '*nowhere'"),
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
        ("a: 1\n---\nb: 2\n", 2, "a single document"),
        ("as_of: 2025-02-30\n", 1, "cannot read this value"),
        ("n: " + "9" * 5000 + "\n", 1, "cannot read this value"),
        ("? [a, b]\n: c\n", 1, "invalid YAML"),
        ("a: !!python/object/apply:os.system ['true']\n", 1, "could not determine a constructor"),
        ("a: 1\nb: \x00\n", 2, "unacceptable character #x0000"),
    ],
)
def test_hostile_yaml_is_a_located_error(text, line, words):
    error = _error(text)
    assert error.path == "p.yaml" and error.line == line, str(error)
    assert words in str(error) and str(error).startswith(f"p.yaml:{line}:")


def test_limits_leave_ordinary_aliases_and_merges_alone():
    doc = parse_yaml("base: &b {x: 1, y: [1, 2]}\nc:\n  <<: *b\n  z: 3\nd: *b\n", "p.yaml")
    assert doc.data == {"base": {"x": 1, "y": [1, 2]}, "c": {"x": 1, "y": [1, 2], "z": 3}, "d": {"x": 1, "y": [1, 2]}}
    assert doc.line_of(("c", "z")) == 4 and doc.line_of(("d", "y")) == 1  # an alias's keys: where it was defined


def test_just_under_the_limits_loads(monkeypatch):
    monkeypatch.setattr(safe_yaml, "MAX_NODES", 1000)
    nested = "a: " + "[" * (safe_yaml.MAX_DEPTH - 1) + "]" * (safe_yaml.MAX_DEPTH - 1) + "\n"
    assert parse_yaml(nested, "p.yaml").data["a"] is not None
    rows = "".join(f"- {i}\n" for i in range(safe_yaml.MAX_NODES - 1))
    assert len(parse_yaml(rows, "p.yaml").data) == safe_yaml.MAX_NODES - 1
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_yaml(rows + "- 1\n- 2\n", "p.yaml")


@pytest.mark.parametrize("path", [shipped_policy_path(), shipped_catalog_path()])
def test_shipped_files_read_as_pyyaml_reads_them(path):
    text = path.read_text(encoding="utf-8")
    assert parse_yaml(text, str(path)).data == yaml.safe_load(text)


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(safe_yaml, "MAX_CHARS", 1024)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"big.yaml: the file is larger than"):
        load_yaml(big)


def test_not_a_regular_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "policy.yaml"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(ConfigError, match="not a regular file"):
        load_yaml(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_yaml(tmp_path)


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert info.value.line == 2 and "not UTF-8" in str(info.value)


def test_empty_file_is_an_error_unless_allowed():
    assert "the file is empty" in str(_error("# only a comment\n"))
    assert parse_yaml("# only a comment\n", "p.yaml", empty_ok=True).data is None
