"""The public API (``import lesiontrials as lt``): its doctests run in pipeline order on the
tiny world, and importing the package imports none of the stages."""

from __future__ import annotations

import contextlib
import doctest
import subprocess
import sys
from types import ModuleType

import pytest

import lesiontrials as lt

#: the order the examples build on each other (plan before insert, …)
PIPELINE_ORDER = ("load_settings", "load_index", "plan", "insert_nodules", "render_ct",
                  "build_slices", "score", "analyze", "run")


def test_every_public_name_has_a_doctest_in_pipeline_order():
    assert set(lt.__all__) == set(PIPELINE_ORDER)
    finder = doctest.DocTestFinder()
    for name in PIPELINE_ORDER:
        [test] = finder.find(getattr(lt, name), name)
        assert test.examples, f"lt.{name} has no example"


def test_public_names_stay_functions_after_every_submodule_is_imported():
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(lt.__path__, "lesiontrials."):
        if not module.name.startswith(("lesiontrials.apps", "lesiontrials.testing")):
            with contextlib.suppress(ImportError):  # optional extras
                importlib.import_module(module.name)
    assert all(callable(getattr(lt, name)) and not isinstance(getattr(lt, name), ModuleType)
               for name in lt.__all__)


def test_import_lesiontrials_loads_no_stage_and_no_heavy_library():
    code = ("import sys, lesiontrials; print(sorted(m for m in sys.modules if m.startswith("
            "('numpy', 'pandas', 'rich', 'pydantic', 'lesiontrials.'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_doctests_run_in_pipeline_order_on_the_tiny_world(tiny_world, tmp_path, capsys):
    workspace = tmp_path / "ws"
    shared = {"lt": lt, "workspace": workspace,
              "s": lt.load_settings(workspace=workspace, data_root=tiny_world, workers=1)}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    finder = doctest.DocTestFinder()
    for name in PIPELINE_ORDER:
        [test] = finder.find(getattr(lt, name), name, globs=shared)
        test.globs = shared  # later examples use what earlier ones made
        runner.run(test, clear_globs=False)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, capsys.readouterr().out
    assert results.attempted >= 12
