"""The shape of the package: no two parts of genlab import each other; metrics and studies stay apart.

A part is a subpackage (genlab/diffusion/, ...) or a top-level module (genlab/sharding.py, ...). Every import
counts, including the ones deferred into functions: a cycle hidden in a function is still a cycle.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "genlab"
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    """'genlab.metrics.features' for src/genlab/metrics/features.py; packages by their folder."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The part of genlab a module belongs to: 'metrics' for genlab.metrics.features, 'genlab' for genlab itself."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "genlab"


def imported_modules(path: Path) -> set[str]:
    """Every genlab module `path` imports, absolute or relative, at module level or inside functions."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "genlab" or m.startswith("genlab.")}


def parts() -> set[str]:
    """genlab's subpackages and top-level modules, by name."""
    return {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()} | {
        p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}


def part_graph() -> dict[str, set[str]]:
    """part -> the other parts it imports (names imported from genlab itself, like __version__, are no part)."""
    graph: dict[str, set[str]] = defaultdict(set)
    known = parts()
    for path in SRC.rglob("*.py"):
        source = part_of(module_name(path))
        for target in map(part_of, imported_modules(path)):
            if target in known and target != source:
                graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one part (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_part_of_genlab_imports_a_part_that_imports_it_back():
    graph = part_graph()
    assert {"training", "metrics", "sharding", "evaluation"} <= set(graph)       # the walk sees the package
    unexpected = [sorted(c) for c in cycles(graph) if frozenset(c) not in KNOWN_CYCLES]
    assert unexpected == []


def test_metrics_never_import_training_or_runs():
    metrics = set().union(*(imported_modules(p) for p in (SRC / "metrics").rglob("*.py")))
    assert {part_of(m) for m in metrics} <= {"metrics", "data", "errors", "files", "genlab"}


def test_studies_are_outside_the_package():
    assert not any("studies" in m for p in SRC.rglob("*.py") for m in imported_modules(p))
    assert not (SRC / "gan" / "coverage.py").exists() and not (SRC / "latent" / "measure.py").exists()



def test_modules_and_functions_stay_small():
    """No module of the package over 300 lines, no function over 60 (STYLE.md: a long file asks to be split)."""
    long_modules, long_functions = [], []
    for path in SRC.rglob("*.py"):
        source = path.read_text()
        if len(source.splitlines()) > 300:
            long_modules.append(str(path.relative_to(SRC)))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long_functions.append(f"{path.relative_to(SRC)}:{node.name}")
    assert long_modules == [] and long_functions == []


def test_the_guidance_path_reaches_the_sampler_through_the_pipeline():
    """`genlab sample --guidance` -> diffusion.pipeline (condition, guidance, clipping, precision) -> a sampler."""
    sample_cli = imported_modules(SRC / "cli" / "sample.py")
    pipeline = imported_modules(SRC / "diffusion" / "pipeline.py")
    assert "genlab.diffusion.guidance" in pipeline and "genlab.diffusion.samplers" in pipeline
    assert not any(m.startswith("genlab.latent") for m in sample_cli | pipeline)
    family = imported_modules(SRC / "diffusion" / "family.py")
    assert "genlab.diffusion.sampling" not in family and "genlab.diffusion.guidance" not in family
