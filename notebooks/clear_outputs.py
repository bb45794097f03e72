"""Clear the outputs and execution counts of notebooks, so that they are committed clean.

    python notebooks/clear_outputs.py                 # every notebook in this folder
    python notebooks/clear_outputs.py PATH [PATH ...]

Prints each notebook it changed. ``tests/test_notebooks.py`` fails on a notebook with outputs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat


def clear_outputs(path: Path) -> bool:
    """Remove every code cell's outputs and execution count; return whether anything changed."""
    notebook = nbformat.read(path, as_version=4)
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count = [], None
            changed = True
    if changed:
        nbformat.write(notebook, path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Clear the notebooks named in ``argv`` (default: this folder's), printing those changed."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    paths = [Path(a) for a in arguments] or sorted(Path(__file__).parent.glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            print(f"{path}: no such notebook", file=sys.stderr)
            return 2
        if clear_outputs(path):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
