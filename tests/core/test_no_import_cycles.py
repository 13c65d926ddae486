"""No two modules of the core import each other, even lazily or for type checking only.

import-linter's contracts keep the layers; a cycle inside a layer is what they do not
see, and a cycle is how a module's private helper ends up imported from its importer
(the safetensors probe and the diffusers-folder reader once did that). grimp builds the
same import graph import-linter checks, from the source.
"""

from __future__ import annotations

import grimp


def test_the_core_has_no_import_cycles() -> None:
    graph = grimp.build_graph("sparklio_desktop")
    core = sorted(m for m in graph.modules if m.startswith("sparklio_desktop.core"))
    cycles = set()
    for module in core:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("sparklio_desktop.core") and graph.chain_exists(importer=imported, imported=module):
                cycles.add(tuple(sorted((module, imported))))
    assert sorted(cycles) == []
