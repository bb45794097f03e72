"""Bandwidth sweeps: a specification, a resumable SQLite results store, executors, figures.

>>> from posenc.sweeps import make_executor, resolve_sweep, run_sweep
>>> spec = resolve_sweep({
...     "sweep": {"signals": ["camera:row=200"], "embeddings": ["gaussian"],
...               "bandwidths": "logspace:-4:-1:24", "models": ["linear"]},
...     "fit": {"sigmoid": False},
... })
>>> len(spec.runs())
24
>>> summary = run_sweep(spec, "runs/row200", make_executor())  # doctest: +SKIP
>>> draw_figures("runs/row200")  # doctest: +SKIP

- :mod:`~posenc.sweeps.sweep_file`: the ``sweep.toml`` layout, read and written;
- :mod:`~posenc.sweeps.bandwidths`: bandwidth values and ``auto`` ranges from theory;
- :mod:`~posenc.sweeps.spec`: every run resolved to a validated
  :class:`~posenc.config.FitConfig`, keyed by :mod:`~posenc.sweeps.keys`;
- :mod:`~posenc.sweeps.store`: one row per finished or failed run, insert-once, WAL;
- :mod:`~posenc.sweeps.jobs`: runs grouped into jobs, computed by :func:`run_job`; the
  :class:`Executor` interface a distributed engine implements;
- :mod:`~posenc.sweeps.executors`: this process, a process pool, batched;
  :mod:`~posenc.sweeps.ray_executor`: a Ray cluster;
- :mod:`~posenc.sweeps.runner`: the driver, which resumes and writes the store;
- :mod:`~posenc.sweeps.points`: the finished runs read back from the store;
- :mod:`~posenc.sweeps.figures` and :mod:`~posenc.sweeps.best_runs`: figures and tables
  drawn from those points.

The names below are imported on first use (declared in ``__init__.pyi``), so importing the
package is cheap.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
