"""The layering of docs/development/architecture.md, checked on the source: no app imports one above it.

Bottom to top: oms_core (plumbing, not an app), notifications, inventory, shipping, orders, oms_site.
Migrations are left out: Django writes their dependencies, and they name models by string.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["oms_core", "notifications", "inventory", "shipping", "orders", "oms_site"]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", LAYERS[:-1])
def test_a_package_imports_nothing_from_the_layers_above_it(package):
    above = set(LAYERS[LAYERS.index(package) + 1 :])
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & above)
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and imported_packages(path) & above
    }
    assert wrong == {}
