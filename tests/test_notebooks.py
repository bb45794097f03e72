"""Every notebook under ``notebooks/`` runs in quick mode, and is committed clean.

Each notebook is executed with nbclient on the ``python3`` (ipykernel) kernel, in a temporary
working directory, with the repository root on ``PYTHONPATH`` so that the kernel imports the
posenc being tested. Any error in any cell fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 600
"""Seconds one cell may run (quick-mode cells take seconds)."""
MODE_LINE = 'MODE = os.environ.get("POSENC_NOTEBOOK_MODE", "quick")'


def kernel_environment() -> dict[str, str]:
    """The test's environment, plus quick mode and this repository first on the import path.

    Quick-mode problems are small, so one thread per kernel is as fast as several on an idle
    machine and avoids the slow-down of competing threads on a shared CI runner.
    """
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "POSENC_NOTEBOOK_MODE": "quick",
        "OMP_NUM_THREADS": "1",
    }


def repository_listing() -> list[str]:
    """Top-level entries and the notebook folder's contents, to see that nothing is written."""
    return sorted(
        [entry.name for entry in REPO_ROOT.iterdir()]
        + [entry.name for entry in NOTEBOOK_DIR.iterdir()]
    )


def test_notebooks_are_found() -> None:
    assert [path.name for path in NOTEBOOKS] == [
        "01_embeddings.ipynb",
        "02_stable_rank_and_distance.ipynb",
        "03_fit_1d.ipynb",
        "04_fit_2d.ipynb",
        "05_sweep_stable_rank_vs_psnr.ipynb",
        "06_separable_vs_deep.ipynb",
        "07_bandwidth_oracle.ipynb",
        "08_papers_experiments.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs or execution counts; "
        "clear them with `python notebooks/clear_outputs.py`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_first_code_cell_is_the_tagged_mode_parameter(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    assert MODE_LINE in first.source
    assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_in_quick_mode(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    before = repository_listing()
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=kernel_environment())  # raises CellExecutionError on any error
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [output for output in outputs if output.output_type == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no figure shown"
    assert repository_listing() == before
    assert list(tmp_path.iterdir()) == []


def test_clear_outputs_strips_an_executed_notebook(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.execution_count = 3
    cell.outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=3)
    ]
    notebook.cells = [cell, nbformat.v4.new_markdown_cell("text")]
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    script = NOTEBOOK_DIR / "clear_outputs.py"
    result = subprocess.run(
        [sys.executable, str(script), str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == str(path)
    (cleared, _) = nbformat.read(path, as_version=4).cells
    assert cleared.outputs == [] and cleared.execution_count is None
    again = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""  # nothing left to change
