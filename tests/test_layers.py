"""The package's layers import downward only, and no modules import each other in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import nas4cnn

ROOT = Path(nas4cnn.__file__).parent
# Lowest first: a module may import its own layer's modules and those of the layers before it.
LAYERS = ["core", "strategies", "data", "nn", "final", "searching", "tables", "outputs", "api", "cli"]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module's imports of nas4cnn modules, at the top or inside functions."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    out = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nas4cnn"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("nas4cnn"))
        out[name] = {d for d in deps if d in modules and d != name}
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_is_in_a_layer():
    loose = [m for m in _imports() if _layer(m) is None and m not in ("nas4cnn", "nas4cnn.__main__")]
    assert not loose, f"modules outside the layer folders: {loose}"


def test_imports_point_down_the_layers():
    wrong = []
    for module, deps in _imports().items():
        layer = _layer(module)
        if layer is None:
            continue
        for d in deps:
            dl = "cli" if d == "nas4cnn" else _layer(d)  # the package's front (its version) is the top
            if dl is None or LAYERS.index(dl) > LAYERS.index(layer):
                wrong.append(f"{module} -> {d}")
    assert not wrong, "imports that point up the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _imports()
    # a package's __init__ re-exporting its own modules is not a cycle of ideas: skip parent edges
    edges = {m: {d for d in ds if not m.startswith(d + ".") and not d.startswith(m + ".")} for m, ds in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
