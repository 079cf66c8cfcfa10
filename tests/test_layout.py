"""The house's layout: one direction (experiments -> registry -> paaan), rooms of a readable size, and the
personality source decided in one object."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("paaan", "experiments", "registry")
GLUE = ("mlflow", "ray", "click")  # the library never imports these (MLflow, Ray and the CLI live at the edge)
MAX_LINES = 450  # a room of experiments/ or registry/


def _sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at module level or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imports_are_read_in_every_form(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os, ray.tune\nfrom mlflow.tracking import MlflowClient\nfrom . import sibling\n"
                      "def f():\n    import experiments.cli\n    from registry import pyfunc\n")
    assert imported_packages(source) == {"os", "ray", "mlflow", "experiments", "registry"}


def test_one_direction_experiments_then_registry_then_the_library():
    uses = {package: set().union(*(imported_packages(p) for p in _sources(package))) & (set(PACKAGES) - {package})
            for package in PACKAGES}
    assert uses["paaan"] == set(), uses["paaan"]
    assert uses["registry"] == {"paaan"}, uses["registry"]  # registry imports only the library
    assert uses["experiments"] <= {"paaan", "registry"}
    for package, used in uses.items():  # no package imports one that imports it back
        for other in used:
            assert package not in uses[other], (package, other)
    for path in _sources("paaan"):
        glue = imported_packages(path) & set(GLUE)
        assert not glue, f"{path.relative_to(ROOT)} imports {sorted(glue)}"


@pytest.mark.parametrize("package", ["experiments", "registry"])
def test_no_room_above_the_library_is_over_450_lines(package):
    long = {str(p.relative_to(ROOT)): n for p in _sources(package) if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def _branches_on_the_personality_source(path: Path) -> list[int]:
    """Lines comparing something's ``personality`` (a variant's source) with a source's name."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        named = any(isinstance(s, ast.Attribute) and s.attr == "personality" for s in sides)
        literal = any(isinstance(s, ast.Constant) and isinstance(s.value, str)
                      or isinstance(s, (ast.Tuple, ast.Set, ast.List)) and s.elts
                      and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in s.elts)
                      for s in sides)
        if named and literal:
            lines.append(node.lineno)
    return lines


def test_the_personality_source_is_decided_in_one_object():
    """Only ``PersonalitySource`` (paaan/personality.py) and the variants table's own properties
    (paaan/variants.py: uses_personality, uses_retrieval, uses_ground_truth) look at a source's name."""
    allowed = {ROOT / "paaan" / "personality.py", ROOT / "paaan" / "variants.py"}
    found = {str(p.relative_to(ROOT)): lines for package in (*PACKAGES, "benchmarks") for p in _sources(package)
             if p not in allowed and (lines := _branches_on_the_personality_source(p))}
    assert not found, found
    sample = ROOT / "paaan" / "variants.py"
    assert _branches_on_the_personality_source(sample)  # the check does find such a comparison
