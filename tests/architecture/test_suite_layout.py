"""The test suite keeps its own layout: tests per area, helpers in tests/support, one definition per fixture.

A fixture defined twice shadows the other one for some tests and not for others, so which backend a test runs
on would depend on where the file sits; importing from conftest or another test module re-registers fixtures
and hides where they come from. These checks read the source (no test is run or imported).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
AREAS = {"architecture", "core", "durable", "writebehind", "workers", "compat", "integrations", "persistence", "cli"}


def modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)


def is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "fixture"


def fixture_definitions() -> dict[str, list[str]]:
    """Every fixture name with the modules that define it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(map(is_fixture, node.decorator_list)):
                found[node.name].append(str(path.relative_to(TESTS)))
    return found


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_every_fixture_name_is_defined_exactly_once() -> None:
    definitions = fixture_definitions()
    assert {"store", "hot_store", "redis_url", "sql_url"} <= set(definitions)  # the scan finds fixtures at all
    assert {name: where for name, where in definitions.items() if len(where) > 1} == {}


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    offending = {
        str(path.relative_to(TESTS)): sorted(name for name in imported_modules(path)
                                             if name.split(".")[-1] == "conftest"
                                             or name.split(".")[-1].startswith("test_"))
        for path in modules()
    }
    assert {module: names for module, names in offending.items() if names} == {}


def test_every_test_module_lives_in_an_area_folder() -> None:
    misplaced = [str(path.relative_to(TESTS)) for path in TESTS.rglob("test_*.py")
                 if path != Path(__file__).resolve() and path.parent.name not in AREAS]
    assert misplaced == []


def test_support_modules_hold_no_tests() -> None:
    support = TESTS / "support"
    assert sorted(path.name for path in support.glob("test_*.py")) == []
    tests_in_support = [
        f"{path.name}:{node.name}" for path in support.glob("*.py")
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    ]
    assert tests_in_support == []


def test_every_folder_of_the_suite_is_a_package() -> None:
    folders = {TESTS, *(path.parent for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)}
    assert sorted(str(folder.relative_to(TESTS.parent)) for folder in folders
                  if not (folder / "__init__.py").is_file()) == []
