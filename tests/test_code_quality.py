"""The linters and the type checker, configured in pyproject.toml, find nothing: a finding fails
the suite (and so CI) like any other test."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TOOLS / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted_as_ruff_formats_it():
    result = _run("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_no_type_errors():
    result = _run("mypy", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_hold():
    """The layers of pyproject.toml's [tool.importlinter] (docs/architecture.md)."""
    result = _run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_itself_back_lazy_imports_included():
    """No import cycle: for every import of the app, nothing the imported module reaches
    imports the importer back (an import inside a function counts as any other)."""
    graph = grimp.build_graph("app", cache_dir=None)
    cycles = [
        f"{importer} -> {' -> '.join(chain[1:])}"
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if (chain := graph.find_shortest_chain(importer=imported, imported=importer)) is not None
    ]
    assert cycles == []


def test_no_module_is_over_350_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / "app").rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 350
    }
    assert long == {}
