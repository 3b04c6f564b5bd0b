"""The architecture of audit/, checked by parsing every module's imports (ast).

The layers (docs/ARCHITECTURE.md)::

    errors <- data <- text <- {engine, stats} <- audits <- gate <- render <- cli

A module may import the modules of its own package and of the packages to its left, never to its
right and never a peer (engine and stats do not know each other). Every import counts, also the
lazy ones inside functions. No import cycle between modules; no private name (``_name``) imported
from another module; no module over the size limit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audit"
# package -> its layer; a module may import layers strictly below its own, and its own package
LAYERS = {
    "audit": 0, "audit.errors": 0,
    "audit.data": 1,
    "audit.text": 2,
    "audit.engine": 3, "audit.stats": 3,
    "audit.audits": 4,
    "audit.gate": 5,
    "audit.render": 6,
    "audit.cli": 7,
}
MAX_LINES = 450


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        out[name] = path
    return out


MODULES = modules()


def resolve(name: str) -> str | None:
    """The module of ours that ``name`` (a dotted import target) lives in, or None (third party)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> list[tuple[str, int, tuple[str, ...]]]:
    """(imported module of ours, line, names imported from it) for every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(alias.name)
                if target:
                    out.append((target, node.lineno, ()))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = resolve(f"{base}.{alias.name}")
                if sub and sub != resolve(base):  # "from audit.stats import measure": a module
                    out.append((sub, node.lineno, ()))
                else:
                    target = resolve(base)
                    if target:
                        out.append((target, node.lineno, (alias.name,)))
    return [(t, line, names) for t, line, names in out if t != module]


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "audit"
    if module in LAYERS:
        return module
    return ".".join(parts[:2])


def layer_violations() -> list[str]:
    bad = []
    for module in MODULES:
        own = package_of(module)
        for target, line, _ in imports(module):
            other = package_of(target)
            if other == own:
                continue
            if LAYERS[other] >= LAYERS[own]:
                bad.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {module} ({own}, layer "
                           f"{LAYERS[own]}) imports {target} ({other}, layer {LAYERS[other]})")
    return bad


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), package __init__ files included."""
    graph = {m: {t for t, _, _ in imports(m)} for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_every_package_has_a_layer():
    assert {package_of(m) for m in MODULES} <= set(LAYERS), "a new package needs a layer in LAYERS and the docs"


def test_imports_follow_the_layers():
    assert layer_violations() == []


def test_no_import_cycle():
    assert cycles() == []


def test_no_private_name_imported_across_modules():
    bad = [f"{m}: {target}.{n}" for m in MODULES for target, _, names in imports(m)
           for n in names if n.startswith("_") and not n.startswith("__")]
    assert bad == []


def test_no_module_over_the_size_limit():
    sizes = {m: sum(1 for _ in p.open(encoding="utf-8")) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_LINES} == {}


# --- the checker itself must be able to fail -------------------------------------------------


def test_checker_sees_a_backward_import(monkeypatch, tmp_path):
    """A stats module importing the engine, a data module importing render, and a two-module cycle
    are all reported (the checker is run on a copy with three planted faults)."""
    import shutil

    copy = tmp_path / "audit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "stats" / "bootstrap.py").write_text((copy / "stats" / "bootstrap.py").read_text()
                                                 + "\nfrom audit.engine.cache import cache_key\n")
    (copy / "data" / "rows.py").write_text((copy / "data" / "rows.py").read_text()
                                           + "\ndef f():\n    from audit.render import markdown\n")
    (copy / "stats" / "power.py").write_text((copy / "stats" / "power.py").read_text()
                                             + "\nfrom audit.stats.bootstrap import _DENSE_LIMIT\n")
    (copy / "stats" / "bootstrap.py").write_text((copy / "stats" / "bootstrap.py").read_text()
                                                 + "\nfrom audit.stats import power\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PACKAGE", copy)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "MODULES", modules())
    bad = layer_violations()
    assert any("audit.stats.bootstrap" in b and "audit.engine.cache" in b for b in bad)
    assert any("audit.data.rows" in b and "audit.render.markdown" in b for b in bad)
    assert ["audit.stats.bootstrap", "audit.stats.power"] in cycles()
    assert any(target == "audit.stats.bootstrap" and "_DENSE_LIMIT" in names
               for target, _, names in imports("audit.stats.power"))


@pytest.mark.parametrize("module", ["audit.stats.measure", "audit.render.report", "audit.cli.audits"])
def test_checker_resolves_imports(module):
    assert imports(module), f"no import of ours found in {module}: the resolver is broken"
