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
