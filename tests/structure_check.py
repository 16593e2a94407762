"""Structure facts of the package, counted from its imports (``python tests/structure_check.py``).

Every ``import`` and ``from ... import`` statement under ``src/energy3d`` is read with :mod:`ast`,
wherever it stands (module level or inside a function), and resolved to a module of the package:
``from energy3d.data import bvh`` is an edge to ``energy3d.data.bvh``; ``from energy3d.data import
load_motion`` an edge to ``energy3d.data`` (its ``__init__``). From the edges:

* ``top_level_modules``: ``.py`` files directly in ``src/energy3d`` other than ``__init__`` and ``__main__``;
* ``import_cycles``: strongly connected groups of more than one module (Tarjan), each listed;
* ``cli_imports_outside_cli``: imports of ``energy3d.cli`` from any module outside ``cli`` except
  ``energy3d.__main__``, and from ``benchmarks/``;
* ``private_cross_room``: a private name (``_x``), or a private module (``_fused``), used from another
  room. A room is the first package level under ``energy3d`` (``geometry``, ``tasks``, ...); a
  top-level module is a room of its own. Uses are ``from M import _x``, imports of ``M._mod`` and
  attribute reads ``alias._x`` of an imported module alias.

The test ``tests/test_structure.py`` asserts the counts that must be zero; run this file to print
them all and the offending lines.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "energy3d"


@dataclass
class Report:
    modules: list[str] = field(default_factory=list)
    top_level_modules: list[str] = field(default_factory=list)
    edges: set = field(default_factory=set)
    cycles: list[list[str]] = field(default_factory=list)
    cli_imports: list[str] = field(default_factory=list)
    private_uses: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {"modules": len(self.modules), "top_level_modules": len(self.top_level_modules),
                "import_cycles": len(self.cycles), "cli_imports_outside_cli": len(self.cli_imports),
                "private_cross_room": len(self.private_uses)}

    def to_json(self) -> dict:
        return {**self.counts(), "top_level": self.top_level_modules, "cycles": self.cycles,
                "cli_import_sites": self.cli_imports, "private_sites": self.private_uses}


def module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def room(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _resolve(node: ast.ImportFrom, importer: str, is_pkg: bool) -> str | None:
    if node.level:
        base = importer.split(".")
        base = base if is_pkg else base[:-1]
        base = base[:len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))
    return node.module


def analyse(src: Path = ROOT / "src", extra_dirs=(ROOT / "benchmarks",)) -> Report:
    rep = Report()
    rootdir = Path(src).resolve().parent
    files = sorted((src / PKG).rglob("*.py"))
    mods = {module_name(f, src): f for f in files}
    rep.modules = sorted(mods)
    rep.top_level_modules = sorted(m for m, f in mods.items()
                                   if f.parent == src / PKG and f.stem not in ("__init__", "__main__"))

    def target(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    sources = [(m, f) for m, f in mods.items()]
    for d in extra_dirs:
        sources += [(f"<{d.name}>/{f.name}", f) for f in sorted(Path(d).glob("*.py"))]
    for importer, f in sources:
        in_pkg = importer in mods
        tree = ast.parse(f.read_text(), filename=str(f))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            found: list[tuple[str, str | None]] = []  # (module, imported name or None)
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == PKG:
                        found.append((a.name, None))
                        if a.asname:
                            aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, importer, in_pkg and f.stem == "__init__") if in_pkg else node.module
                if not base or base.split(".")[0] != PKG:
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    if sub in mods:
                        found.append((sub, None))
                        aliases[a.asname or a.name] = sub
                    else:
                        found.append((base, a.name))
            for mod, name in found:
                tgt = target(mod)
                if tgt is None:
                    continue
                where = f"{f.resolve().relative_to(rootdir)}:{node.lineno}"
                if in_pkg and tgt != importer:
                    rep.edges.add((importer, tgt))
                if tgt.startswith(f"{PKG}.cli") and (not in_pkg or (room(importer) != "cli" and importer != f"{PKG}.__main__")):
                    rep.cli_imports.append(f"{where} imports {tgt}")
                if in_pkg and room(importer) != room(tgt):
                    if any(_is_private(p) for p in tgt.split(".")):
                        rep.private_uses.append(f"{where}: private module {tgt}")
                    elif name and _is_private(name):
                        rep.private_uses.append(f"{where}: {tgt}.{name}")
        if in_pkg:
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _is_private(node.attr)
                        and node.value.id in aliases and room(aliases[node.value.id]) != room(importer)):
                    rep.private_uses.append(f"{f.resolve().relative_to(rootdir)}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    rep.cli_imports = list(dict.fromkeys(rep.cli_imports))
    rep.private_uses = list(dict.fromkeys(rep.private_uses))
    rep.cycles = _cycles(rep.modules, rep.edges)
    return rep


def _cycles(nodes, edges) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    adj = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on.add(v)
            for j in range(i, len(adj[v])):
                w = adj[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
                if work:
                    u = work[-1][0]
                    low[u] = min(low[u], low[v])
    return sorted(out)


if __name__ == "__main__":
    rep = analyse()
    print(json.dumps(rep.to_json() if "--full" in sys.argv else rep.counts(), indent=2))
    if "--full" not in sys.argv:
        for c in rep.cycles:
            print("cycle:", " <-> ".join(c))
        for s in rep.cli_imports + rep.private_uses:
            print(s)
