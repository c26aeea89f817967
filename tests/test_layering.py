"""One-way layers, checked on the source: data_modules never imports src, evaluation never imports models,
models never reach up, a stage never imports another stage, and no import circle exists anywhere."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("src", "data_modules")


def module_name(path: Path) -> str:
    """Dotted module name of a file under the repo root (a package's __init__ is the package)."""
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO_ROOT / pkg).rglob("*.py"))}


def imported(source: str, package: str, modules: dict[str, Path]) -> Iterator[str]:
    """Project modules that source code in `package` imports, at any depth (lazy imports count too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in modules:
                    yield target
                elif base in modules:
                    yield base


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = set(imported(path.read_text(), package, modules)) - {name}
    return graph


def edges(graph: dict[str, set[str]]) -> Iterator[tuple[str, str]]:
    for source, targets in graph.items():
        for target in sorted(targets):
            yield source, target


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points up or sideways."""
    rules = [
        ("data_modules", "src", "data_modules is the bottom layer"),
        ("src.evaluation", "src.models", "evaluation takes scores, never a model"),
        ("src.evaluation", "src.stages", "evaluation is below the stages"),
        ("src.evaluation", "src.artifacts", "evaluation reads no artifact"),
        ("src.models", "src.stages", "models are below the stages"),
        ("src.models", "src.artifacts", "models are below the artifact store"),
        ("src.models", "src.evaluation", "models are beside evaluation, not above it"),
        ("src.artifacts", "src.stages", "artifacts are below the stages"),
        ("src.bundle", "src.stages", "bundles are below the stages"),
        ("src.artifacts", "src.bundle", "the artifact store is below bundles"),
        ("src.models", "src.bundle", "models are below bundles"),
        ("src.evaluation", "src.bundle", "evaluation reads no bundle"),
    ]
    out = [f"{s} -> {t}: {why}" for s, t in edges(graph) for low, high, why in rules
           if within(s, low) and within(t, high)]
    out += [f"{s} -> {t}: a stage imports another stage" for s, t in edges(graph)
            if s.startswith("src.stages.") and t.startswith("src.stages.")]
    entry_points = {"src.run", "src.score", "src.sweep", "src.preprocess", "src.report", "src.api", "src.export", "src.app"}
    out += [f"{s} -> {t}: only entry points use entry points" for s, t in edges(graph)
            if t in entry_points and s not in entry_points]
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each a circle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_project_keeps_its_layers() -> None:
    assert layer_violations(import_graph()) == []


def test_no_import_circle_exists() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("graph,expected", [
    ({"data_modules.cache": {"src.artifacts.store"}}, "data_modules.cache -> src.artifacts.store"),
    ({"src.evaluation.metrics": {"src.models.differential.heads"}}, "src.evaluation.metrics -> src.models"),
    ({"src.stages.embed": {"src.stages.fit_head"}}, "a stage imports another stage"),
    ({"src.models.extractor.net": {"src.stages"}}, "models are below the stages"),
    ({"src.models.extractor.export": {"src.bundle.layout"}}, "models are below bundles"),
    ({"src.bundle.load": {"src.api"}}, "only entry points use entry points"),
])
def test_each_rule_catches_its_violation(graph: dict[str, set[str]], expected: str) -> None:
    assert any(expected in v for v in layer_violations(graph))


def test_circles_are_found_through_package_inits() -> None:
    graph = {"a": {"a.b"}, "a.b": {"a.c"}, "a.c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "a.b", "a.c"]]


def test_the_checker_sees_lazy_and_relative_imports() -> None:
    modules = dict.fromkeys(("src.y", "src.z", "src.pkg", "src.pkg.w"), Path())
    source = "def f():\n    from src.y import thing\n    from . import z\n    from .pkg import w\n"
    assert set(imported(source, "src", modules)) == {"src.y", "src.z", "src.pkg.w"}
