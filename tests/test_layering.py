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


# --- Import circles. A circle inside one subject (a service and its own tasks) is that subject's business;
# a circle between subjects (the order workflow and payments, one app and another) ties them into one piece
# that can't be read, tested or changed alone. Imports inside functions count: they only hide a circle.

SUBPACKAGE_SUBJECTS = {"orders.payments", "orders.returns"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in LAYERS
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the project's modules it imports, anywhere in its body, relative imports resolved."""
    graph = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        deps = set()
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def subject(module: str) -> str:
    for prefix in SUBPACKAGE_SUBJECTS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return module.split(".")[0]


def test_circles_are_found_through_imports_inside_functions():
    graph = {"a.x": {"b.y"}, "b.y": {"b.z"}, "b.z": {"a.x"}, "c": {"a.x"}}
    assert circles(graph) == [["a.x", "b.y", "b.z"]]
    assert {subject("orders.payments.services"), subject("orders.services.intake")} == {
        "orders.payments",
        "orders",
    }


def test_no_import_circle_ties_two_subjects_together():
    between_subjects = [
        component for component in circles(import_graph(source_modules())) if len({subject(m) for m in component}) > 1
    ]
    assert between_subjects == []


# Payments answers (authorised, declined, retry later); the order workflow decides. Payments therefore
# knows nothing of the workflow, returns, the consoles or the APIs; returns may use payments. A sub-package's
# entry points (its console and its Celery tasks) sit on top, with the others, and call the workflow.
ENTRY_POINTS = (".admin", ".tasks")
INNER_LAYERS = {
    "orders.payments": ["orders.services", "orders.returns", "orders.admin", "orders.api", "orders.tasks"],
    "orders.returns": ["orders.admin", "orders.api"],
}


@pytest.mark.parametrize("package", sorted(INNER_LAYERS))
def test_payments_and_returns_import_nothing_from_above_them(package):
    graph = import_graph(source_modules())
    above = INNER_LAYERS[package]
    wrong = {
        module: sorted(d for d in deps if any(d == a or d.startswith(a + ".") for a in above))
        for module, deps in graph.items()
        if subject(module) == package
        and not module.endswith(ENTRY_POINTS)
        and any(d == a or d.startswith(a + ".") for d in deps for a in above)
    }
    assert wrong == {}
