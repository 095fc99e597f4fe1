"""The benchmarks stand on their own: no module under bench/ imports the test suite.

A benchmark that imports ``tests`` measures the product through helpers that change for the
tests' sake. Helpers both need belong outside ``tests``: the programs both start are in
``bench/support.py`` and the complete note both sign in ``bench/first_consult.py``; otherwise a
benchmark keeps its own minimal copy (as ``bench/relay/participant.py`` does).
"""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def imported_test_modules(source: str) -> list[str]:
    """The ``tests`` modules a piece of Python source imports, anywhere in it."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name == "tests" or name.startswith("tests.")]
    return found


def test_the_check_sees_every_form_of_import() -> None:
    source = "import tests.support.clients\nfrom tests import support\ndef f():\n    from tests.x import y\n"
    assert imported_test_modules(source) == ["tests.support.clients", "tests", "tests.x"]
    assert imported_test_modules("import testsuite\nfrom .tests import x\nfrom media import tests\n") == []


def test_no_benchmark_imports_the_test_suite() -> None:
    modules = sorted(BENCH.rglob("*.py"))
    assert BENCH / "relay" / "__main__.py" in modules
    offenders = {
        str(path.relative_to(BENCH.parent)): imports
        for path in modules
        if (imports := imported_test_modules(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
