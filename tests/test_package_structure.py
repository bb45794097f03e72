"""The package's shape: no import cycle among its modules, every module imports on its own,
and the command line's help answers without the numerical stack."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import run_python

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "posenc"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def import_time_imports(path: Path, name: str) -> set[str]:
    """posenc modules that ``path`` imports when it is imported (module level, outside
    ``if TYPE_CHECKING:``), resolved to modules."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                )
                base = base.rstrip(".")
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    statements: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            statements += _module_level(node.body + getattr(node, "orelse", []))
            statements += [s for h in getattr(node, "handlers", []) for s in h.body]
        else:
            statements.append(node)
    return statements


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: import_time_imports(path, name) for name, path in MODULES.items()}
    assert sum(len(targets) for targets in graph.values()) > len(graph)  # the walk sees imports
    assert cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_imports_on_its_own() -> None:
    """Each module in a fresh namespace (the posenc modules imported before it removed)."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m == 'posenc' or m.startswith('posenc.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {type(error).__name__}: {error}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    modules = [name for name in MODULES if not name.endswith("__main__")]
    result = run_python(script, *modules)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "arguments",
    [["--help"], ["fit", "--help"], ["sweep", "--help"], ["seq", "--help"], ["--version"]],
)
def test_help_does_not_import_torch(arguments: list[str]) -> None:
    script = (
        "import sys\n"
        "from posenc.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'scipy') if m in sys.modules]\n"
        "assert not heavy, f'imported {heavy}'\n"
    )
    result = run_python(script, *arguments)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage:" in result.stdout or "posenc" in result.stdout
