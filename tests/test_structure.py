"""The package's shape, as ARCHITECTURE.md states it: what is public is declared, the layers import only
downwards, nothing reaches into another module's internals, and no import cycle exists.

These read the source (``ast``), so they hold for imports inside functions too (lazy imports are how the
operator keeps DAG parsing cheap, and how a cycle would hide).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "modelred_provider"

# Layer -> the layers (and itself) it may import from. Each is a folder of the package.
_LAYERS: dict[str, set[str]] = {
    "api": {"api"},
    "waiting": {"api", "waiting"},
    "hooks": {"api", "waiting", "hooks"},
    "triggers": {"api", "waiting", "hooks", "triggers"},
    "links": {"links"},
    "operators": {"api", "waiting", "hooks", "triggers", "links", "operators"},
    "sensors": {"api", "waiting", "hooks", "triggers", "links", "operators", "sensors"},
}
# Free of Airflow: the contract and the waiting policy (usable, and testable, without Airflow).
_AIRFLOW_FREE = {"api", "waiting"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that runs (module level or inside functions), not ``if TYPE_CHECKING``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for each name an import statement binds."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if _MODULES[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    out: list[tuple[str, str | None]] = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        out.append((candidate, None) if candidate in _MODULES else (base, alias.name))
    return out


def _imports_of(module: str) -> list[tuple[str, str | None]]:
    tree = ast.parse(_MODULES[module].read_text())
    return [t for node in _runtime_imports(tree) for t in _targets(module, node)]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in _LAYERS) else None


def _public_definitions(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def _declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return None


_PUBLIC_MODULES = [m for m, p in _MODULES.items() if not p.stem.startswith("_") and p.name != "__init__.py"]


def test_the_walk_sees_the_whole_package():
    # Guards the checks below against passing vacuously (a wrong root finds nothing to check).
    assert {"modelred_provider.hooks.modelred", "modelred_provider.api.errors"} <= set(_MODULES)
    assert len(_PUBLIC_MODULES) > 20


@pytest.mark.parametrize("module", _PUBLIC_MODULES)
def test_every_public_name_is_declared_in_all(module):
    """A new top-level name is either private (``_x``) or a promise added to the module's ``__all__``."""
    tree = ast.parse(_MODULES[module].read_text())
    declared = _declared_all(tree)
    assert declared is not None, f"{module} declares no __all__"
    assert sorted(declared) == sorted(set(declared)), f"{module}: __all__ repeats a name"
    defined = _public_definitions(tree)
    imported = {
        alias.asname or alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    undeclared = sorted(defined - set(declared))
    assert undeclared == [], (
        f"{module}: public names missing from __all__ (or make them _private): {undeclared}"
    )
    missing = sorted(set(declared) - defined - imported)
    assert missing == [], f"{module}: __all__ names that do not exist: {missing}"


def test_no_module_imports_another_modules_private_name():
    offenders = []
    for module in _MODULES:
        for target, name in _imports_of(module):
            if not target.startswith("modelred_provider"):
                continue
            dunder = name is not None and name.startswith("__") and name.endswith("__")
            if name is not None and name.startswith("_") and not dunder and target != module:
                offenders.append(f"{module} imports {name} from {target}")
            # A private module (_x.py) belongs to its folder: only its siblings import it.
            parts = target.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_")]
            if private and ".".join(parts[: private[0]]) != module.rsplit(".", 1)[0]:
                offenders.append(f"{module} imports the private module {target}")
    assert offenders == []


def test_layers_import_only_downwards_and_api_and_waiting_stay_free_of_airflow():
    offenders = []
    for module in _MODULES:
        layer = _layer(module)
        if layer is None or layer not in _LAYERS:
            continue
        for target, _name in _imports_of(module):
            if layer in _AIRFLOW_FREE and target.split(".")[0] == "airflow":
                offenders.append(f"{module} imports {target} (this layer is free of Airflow)")
            if not target.startswith("modelred_provider."):
                continue
            other = _layer(target)
            if other is not None and other not in _LAYERS[layer]:
                offenders.append(f"{module} ({layer}/) imports {target} ({other}/)")
    assert offenders == []


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in _MODULES}
    for module in _MODULES:
        for target, _name in _imports_of(module):
            if target in _MODULES and target != module:
                graph[module].add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    # A package's __init__ is imported by every module under it; that is not a cycle of ours.
    cycles = [c for c in cycles if not any(_MODULES[m].name == "__init__.py" for m in c)]
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)


def test_the_errors_table_lists_every_exception_class_once():
    """docs/reference.md's errors table is the one place a user reads the hierarchy: it must list every
    exception class the package raises to a user (the emulator's own are not), and nothing else."""
    import re

    defined = set()
    for module, path in _MODULES.items():
        if module.startswith(("modelred_provider.testing", "modelred_provider.plugins")):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith(("Error", "Exception", "Timeout")) for base in node.bases
            ):
                defined.add(node.name)
    text = (PACKAGE.parent / "docs" / "reference.md").read_text()
    table = text[text.index("## Errors") :]
    table = table[: table.index("\n\n", table.index("| Exception | Base |"))]
    listed = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    assert len(listed) == len(set(listed)), "a class is listed twice"
    assert sorted(listed) == sorted(defined)
    assert len(defined) == 17  # the vocabulary issue 11 settled on; a new class is a decision
