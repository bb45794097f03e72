"""Progress bars from Python: on by default in a terminal or a notebook, off in pipes and with
``progress=False``; a sweep's bar follows training inside batched jobs."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections import defaultdict

import nbformat
import pytest
from nbclient import NotebookClient

from posenc.sweeps import resolve_sweep
from posenc.sweeps.executors import BatchedExecutor, ProcessPoolExecutor, SequentialExecutor
from posenc.sweeps.jobs import RunTask
from posenc.sweeps.runner import RunsBar
from tests.conftest import python_environment, run_python

FIT = """
import posenc
config = posenc.resolve_config(size=16, steps=40, width=16, embedding_params={{"num_centers": 16}})
posenc.fit(posenc.load_config_signal(config), config{extra})
print("fitted")
"""


def python_output(script: str, terminal: bool) -> str:
    """Standard output and error of ``python -c script``, on a terminal (a pseudo-terminal
    80 columns wide) or on a pipe."""
    if not terminal:
        done = run_python(script, threads=1)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env=python_environment(threads=1),
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert process.wait(timeout=300) == 0
    return b"".join(chunks).decode(errors="replace")


def test_fit_shows_a_bar_on_a_terminal_by_default() -> None:
    output = python_output(FIT.format(extra=""), terminal=True)
    assert "fitted" in output and "fit: 100%" in output and "40/40" in output


def test_progress_false_silences_it_on_a_terminal() -> None:
    output = python_output(FIT.format(extra=", progress=False"), terminal=True)
    assert "fitted" in output and "fit:" not in output


def test_no_bar_by_default_when_output_goes_to_a_pipe() -> None:
    output = python_output(FIT.format(extra=""), terminal=False)
    assert output.strip() == "fitted"


def test_a_notebook_kernel_counts_as_watching() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from posenc.progress import in_notebook, show_progress\n"
            "print(in_notebook(), show_progress(None), show_progress(False))"
        )
    ]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert notebook.cells[0].outputs[0]["text"].strip() == "True True False"


SWEEP = {
    "sweep": {
        "signals": ["camera"],
        "embeddings": ["gaussian"],
        "bandwidths": [0.05, 0.1, 0.2],
        "models": ["linear"],
    },
    "fit": {"size": 16, "steps": 30, "eval_every": 10, "last_k": 5, "width": 16},
    "embedding_params": {"num_centers": 16},
}


def tasks() -> list[RunTask]:
    return [RunTask(run.key, run.config) for run in resolve_sweep(SWEEP).runs()]


@pytest.mark.parametrize(
    "inner",
    [SequentialExecutor(), ProcessPoolExecutor(2, threads=1, report_seconds=0.0)],
    ids=["this-process", "process-pool"],
)
def test_batched_jobs_report_every_training_step(inner) -> None:
    reported: dict[str, int] = defaultdict(int)
    seen_before_outcome: list[int] = []

    def record(keys, steps) -> None:
        for key in keys:
            reported[key] += steps

    work = tasks()
    outcomes = []
    for outcome in BatchedExecutor(inner, parallel=1).execute(work, on_steps=record):
        seen_before_outcome.append(reported[outcome.task.key])
        outcomes.append(outcome)
    assert {outcome.executor for outcome in outcomes} == {"batched"}
    # Every run trained 30 steps, all reported; the in-process reports come before the
    # outcome, and so do those of a worker that sends each step at once, save the queue's lag.
    assert all(reported[task.key] == 30 for task in work)
    assert max(seen_before_outcome) > 0


def test_the_sweep_bar_counts_runs_in_training_as_fractions(capsys) -> None:
    runs = {run.key: run for run in resolve_sweep(SWEEP).runs()}
    first, second, third = runs.values()
    bar = RunsBar(runs, done=set(), progress=True)
    bar.trained([first.key, second.key], 15)  # half of their 30 steps
    assert bar.bar.n == pytest.approx(1.0)
    bar.trained([first.key], 30)  # never more than the whole run
    assert bar.bar.n == pytest.approx(1.5)
    bar.finished(first, "done")
    bar.trained([first.key], 10)  # a late report of a finished run changes nothing
    assert bar.bar.n == pytest.approx(1.5)
    bar.finished(second, "done")
    bar.finished(third, "failed")
    assert bar.bar.n == pytest.approx(3.0)
    bar.close()
    assert "3.0/3 runs" in capsys.readouterr().err
