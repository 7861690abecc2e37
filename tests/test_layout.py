"""The layering: caasl_gym never imports caasl_agents or benchmarks, caasl_agents never benchmarks, and neither
imports Ray (only a sweep's trials do)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"caasl_gym": ("caasl_agents", "benchmarks"), "caasl_agents": ("benchmarks",)}


def imported_modules(path: Path) -> set[str]:
    """The modules named by every absolute ``import`` and ``from ... import`` of a file, in functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def test_imports_inside_functions_are_seen():
    assert "benchmarks._common" in imported_modules(ROOT / "benchmarks" / "gies_baseline.py")  # inside main()


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_the_layers_above_it(package):
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert found == []


def test_the_core_packages_never_import_ray():
    """Importing the packages, the train CLI or the sweep CLI's module (for --help) loads no Ray (the tune extra)."""
    code = ("import sys, caasl_gym, caasl_agents, caasl_agents.train, caasl_agents.tune; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
