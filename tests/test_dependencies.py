"""Each stage's ``dvc.yaml`` dependencies cover exactly the ``asvit`` code its script runs, derived
from the import graph (tests/import_graph.py), so that a code change re-runs every stage it affects
and no other; and no module imports one that imports it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .dvc_repo import dvc
from .import_graph import ROOT, SRC, direct_imports, import_cycles, module_file, runs

# Modules whose code cannot change what a stage writes, left out of every stage's dependencies so
# that editing them re-runs nothing:
OUTPUT_NEUTRAL = {
    "asvit",           # the package marker: a docstring and the version
    "asvit.errors",    # the error types and the one-line exit on a user error
    "asvit.tracking",  # MLflow logging (the metrics files it writes are the stages' own numbers)
    "asvit.atomic",    # how a file is written (temporary file, then rename), not what it holds
    "asvit.registry",  # name lookups: an unknown name stops a stage, a known one is passed through
}

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def script(stage: str) -> Path:
    return ROOT / STAGES[stage]["cmd"].split()[1]


def code_deps(stage: str) -> list[Path]:
    """The stage's declared dependencies under src/ (files or folders)."""
    return [ROOT / d for d in STAGES[stage]["deps"] if d.startswith("src/")]


def stages_running(module: str) -> set[str]:
    """The stages whose script runs ``module``."""
    return {stage for stage in STAGES if module in runs(script(stage))}


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_depends_on_every_module_it_runs(stage):
    declared = code_deps(stage)
    uncovered = sorted(m for m in runs(script(stage)) - OUTPUT_NEUTRAL
                       if not any(module_file(m) == d or d in module_file(m).parents for d in declared))
    assert uncovered == [], f"dvc.yaml: stage {stage} runs {uncovered} but does not depend on them"


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_depends_on_no_module_it_does_not_run(stage):
    ran = {module_file(m) for m in runs(script(stage))}
    for dep in code_deps(stage):
        files = sorted(dep.rglob("*.py")) if dep.is_dir() else [dep]
        unused = [str(f.relative_to(SRC)) for f in files if f not in ran]
        assert files and unused == [], f"dvc.yaml: stage {stage} depends on {dep.relative_to(ROOT)}, " \
                                       f"whose {unused} it never runs"


def test_the_allow_list_names_real_modules_that_import_nothing_of_the_pipeline():
    for module in OUTPUT_NEUTRAL:
        assert module_file(module) is not None, module
        assert runs(module_file(module)) <= OUTPUT_NEUTRAL, module


def test_lazy_imports_inside_library_calls_count():
    # score's script imports no data module itself; ScoreSettings.from_images imports image_batch inside
    # the call, and the NTK batch it returns changes every ntk_cond value
    assert "asvit.data.dataset" not in direct_imports(script("score"))
    assert "asvit.data.dataset" in runs(script("score"))


def test_detection_depends_on_no_search_code():
    for stage in ("detect_data", "detect"):
        assert not any(m.startswith(("asvit.search", "asvit.scaling")) for m in runs(script(stage)))


def test_no_module_imports_a_module_that_imports_it_back():
    assert import_cycles() == []


def test_the_schema_imports_nothing_of_the_library():
    assert runs(module_file("asvit.config")) <= OUTPUT_NEUTRAL


@pytest.mark.e2e
@pytest.mark.parametrize("path, module, among", [
    ("src/asvit/space/asvit.py", "asvit.space.asvit", {"sample", "score", "groundtruth", "search", "grow"}),
    ("src/asvit/data/dataset.py", "asvit.data.dataset", {"data", "score", "search", "grow", "train"}),  # image_batch
    ("src/asvit/detect/data.py", "asvit.detect.data", {"detect_data", "detect"}),
])
def test_a_code_edit_changes_exactly_the_stages_that_run_it(pulled, path, module, among):
    assert json.loads(dvc(pulled, "status", "--json")) == {}
    edited = pulled / path
    original = edited.read_text()
    edited.write_text(original + "\n# an edit\n")
    try:
        changed = json.loads(dvc(pulled, "status", "--json"))
    finally:
        edited.write_text(original)
    present = {name.split("@")[0] for name in yaml.safe_load((pulled / "dvc.lock").read_text())["stages"]}
    expected = stages_running(module) & present  # not the opt-in matrices over empty lists (payoff, detect_control)
    assert {name.split("@")[0] for name in changed} == expected, (path, changed)  # search@asvit-reinforce: search
    assert among <= expected
    for name, changes in changed.items():
        dep = next(d for d in STAGES[name.split("@")[0]]["deps"] if path == d or path.startswith(d + "/"))
        assert {"changed deps": {dep: "modified"}} in changes, (name, changes)
