"""Dependencies point one way: the HTTP API and the training workers share only the core and models_store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.servers import REPO


def imported_packages(package: str) -> dict[str, set[str]]:
    """Every top-level package each module of `package` imports, at module level or inside functions."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = names
    return found


@pytest.mark.parametrize(("package", "forbidden"), [
    ("service", {"workers"}),
    ("workers", {"service"}),
    ("models_store", {"service", "workers"}),
])
def test_a_package_never_imports_the_other_side(package: str, forbidden: set[str]) -> None:
    offenders = {module: names & forbidden for module, names in imported_packages(package).items() if names & forbidden}
    assert offenders == {}


def test_the_core_imports_the_sides_only_where_it_starts_them() -> None:
    """`mnistlab serve` and `mnistlab worker` start the API and a worker: the CLI is the one place allowed."""
    offenders = {module for module, names in imported_packages("mnistlab").items()
                 if names & {"service", "workers"} and Path(module).name != "cli.py"}
    assert offenders == set()


def test_the_job_spec_loads_without_torch_or_a_web_framework() -> None:
    assert imported_packages("mnistlab")["mnistlab/spec.py"] <= {"__future__", "enum", "dataclasses", "typing",
                                                                 "pydantic"}


def test_the_client_and_its_commands_stand_alone() -> None:
    """`mnistlab.client` and the commands built on it run where only the client is wanted: they never import
    torch, the server's or the workers' code, or the server-side core (numpy only for arrays given to it)."""
    allowed = {"__future__", "collections", "dataclasses", "datetime", "io", "json", "os", "pathlib", "re", "sys",
               "tempfile", "time", "typing", "argparse", "signal", "httpx", "httpx_sse", "rich", "numpy", "mnistlab"}
    modules = {**imported_packages("mnistlab/client"), **imported_packages("mnistlab/console")}
    assert {module: names - allowed for module, names in modules.items() if names - allowed} == {}
    core = {"mnistlab." + name for name in ("settings", "db", "jobs", "spec", "tables", "schema", "datasets")}
    for path in [*(REPO / "mnistlab/client").glob("*.py"), *(REPO / "mnistlab/console").glob("*.py")]:
        text = path.read_text()
        assert not [name for name in core if f"from {name} import" in text or f"import {name}" in text], path


def _project_imports(path: Path) -> set[str]:
    """The project's modules a file imports (at module level or inside functions), as dotted names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):  # imports for type checkers only never run
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return names


def test_no_module_imports_itself_through_others() -> None:
    """An import loop is a design smell the deferred import hides (deps -> state -> live_events -> routes -> deps
    was one): every import between the project's modules, deferred ones too, points one way."""
    modules = {".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): path
               for package in ("mnistlab", "service", "workers", "models_store")
               for path in (REPO / package).rglob("*.py")}
    graph = {name: {other for other in _project_imports(path) if other in modules and other != name}
             for name, path in modules.items()}
    for name in modules:  # a package's __init__ is imported with any of its modules: not an edge back
        graph[name] -= {parent for parent in modules if name.startswith(parent + ".")}
    loops: list[list[str]] = []
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in visiting:
            loops.append(visiting[visiting.index(name):] + [name])
            return
        if name in done:
            return
        visiting.append(name)
        for other in sorted(graph[name]):
            visit(other)
        visiting.pop()
        done.add(name)

    for name in sorted(modules):
        visit(name)
    assert [" -> ".join(loop) for loop in loops] == []
