"""The import direction and the absence of cycles, from the layer table in tools/import_graph.py.

Also checks that the layer table itself is consistent and that docs/architecture.md lists the
same unit-level dependencies as the code (regenerate with
``python tools/import_graph.py --write-doc``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "tools/import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module
    spec.loader.exec_module(module)
    return module


graph = _load_tool()


@pytest.fixture(scope="module")
def imports() -> list:
    return graph.all_imports()


def test_every_unit_has_a_layer(imports):
    assert graph.unlayered_units(imports) == [], "add the unit to LAYERS in tools/import_graph.py"


def test_no_stage_imports_a_later_or_unrelated_one(imports):
    bad = {
        f"{a} -> {b}": [f"{i.importer}:{i.line}" for i in imps]
        for (a, b), imps in graph.wrong_way(imports).items()
    }
    assert bad == {}


def test_no_cycles_between_units(imports):
    assert graph.unit_cycles(imports) == []


def test_no_cycles_between_modules(imports):
    found = [tuple(c) for c in graph.module_cycles(imports)]
    unexpected = [c for c in found if c not in graph.KNOWN_CYCLES]
    assert unexpected == []


def test_layer_table_is_consistent():
    rank, kind = graph.layer_of(), graph.kind_of()
    names = [u for _, _, units in graph.LAYERS for u in units]
    assert len(names) == len(set(names)), "a unit is listed in two layers"
    for stage, inputs in graph.STAGE_INPUTS.items():
        assert kind[stage] == "stage"
        for earlier in inputs:
            assert kind[earlier] == "stage" and rank[earlier] < rank[stage], (stage, earlier)
    assert {u for u, k in kind.items() if k == "stage"} == set(graph.STAGE_INPUTS)
    for a, b in graph.SAME_LAYER_EDGES:
        assert rank[a] == rank[b]


def test_checker_catches_a_wrong_way_import_and_a_cycle(tmp_path):
    """The checks can fail: a fake package whose index imports the renderer, and two
    modules importing each other."""
    root = tmp_path / "lesiontrials"
    (root / "index").mkdir(parents=True)
    (root / "render").mkdir()
    (root / "__init__.py").write_text("")
    (root / "index" / "__init__.py").write_text("")
    (root / "render" / "__init__.py").write_text("")
    (root / "index" / "crops.py").write_text(
        "def f():\n    from lesiontrials.render.case import g\n")
    (root / "render" / "case.py").write_text("from lesiontrials.render import trial\n")
    (root / "render" / "trial.py").write_text("from . import case\n")
    imports = graph.all_imports(root)
    assert set(graph.wrong_way(imports)) == {("index", "render")}
    assert graph.module_cycles(imports) == [
        ["lesiontrials.render.case", "lesiontrials.render.trial"]]
    assert graph.unit_cycles(imports) == []


def test_architecture_doc_lists_the_code_dependencies(imports):
    text = graph.DOC.read_text(encoding="utf-8")
    assert graph.SECTION in text
    assert graph.doc_edges(text) == graph.allowed_unit_edges(imports), (
        "docs/architecture.md is out of date: python tools/import_graph.py --write-doc")
    assert graph.doc_block(imports) in text
