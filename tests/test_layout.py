"""The package layout holds: each layer imports only the layers below it, and no two modules import each other.

Layers, lowest first: ``dgtui.core`` (S3, the format, xdelta3), ``dgtui.jobs`` (the work a user starts),
then ``dgtui.cli``, ``dgtui.app`` and ``dgtui.demo`` on top. Imports made only for type checking do not
count (they never run); imports inside functions do (they run when the function does).
"""

from __future__ import annotations

import ast
from pathlib import Path

import dgtui

PACKAGE = Path(dgtui.__file__).parent
#: what each part of the package may import from the rest of it
ALLOWED = {
    "dgtui.core": ("dgtui.core",),
    "dgtui.jobs": ("dgtui.core", "dgtui.jobs"),
    "dgtui.cli": ("dgtui.core", "dgtui.jobs", "dgtui.cli", "dgtui.app", "dgtui.demo"),
    "dgtui.app": ("dgtui", "dgtui.core", "dgtui.jobs", "dgtui.app"),
    # the demo seeds through the SDK and opens the app on what it seeded
    "dgtui.demo": ("dgtui", "dgtui.core", "dgtui.app", "dgtui.demo"),
}
#: third-party packages a layer must not import
FORBIDDEN = {
    "dgtui.core": ("textual", "rich"),
    "dgtui.jobs": ("textual", "rich", "boto3", "botocore"),
    "dgtui.app": ("boto3", "botocore", "aiohttp"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (of the package, and top-level names of others)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:  # ``from . import codec`` imports the module dgtui.core.codec
                if (PACKAGE.parent / (target + "." + alias.name).replace(".", "/")).with_suffix(".py").exists():
                    found.add(f"{target}.{alias.name}")
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if "testing" not in p.parts}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and f"{parts[0]}.{parts[1]}" in ALLOWED else parts[0]


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if "testing" not in p.parts}
    for name, path in sorted(modules.items()):
        layer = layer_of(name)
        for target in imports_of(path):
            top = target.split(".")[0]
            if top == "dgtui" and layer in ALLOWED and target != name:
                if layer_of(target) not in ALLOWED[layer]:
                    wrong.append(f"{name} imports {target}")
            elif top in FORBIDDEN.get(layer, ()):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_two_modules_import_each_other_even_through_others():
    edges = graph()
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    # A package's __init__ that re-exports its modules is not a circle of its own.
    cycles = [c for c in cycles if not all(part.count(".") <= 1 for part in c.split(" -> "))]
    assert not cycles, "\n".join(cycles)


def test_the_top_level_holds_only_the_entry_points_and_deltaglider_names():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "client_models.py", "types.py"], top
