"""Self-contained HTML report pages (``report.html``) that open offline from a file.

- :func:`posenc.report_page.sweep.write_sweep_report`: a sweep folder's interactive page
  (``posenc report FOLDER``);
- :func:`posenc.report_page.fit.write_fit_report`: a ``posenc fit`` run folder's page;
- :func:`posenc.report_page.comparison.write_comparison_report`: a ``posenc seq compare``
  folder's page.

Plotly draws the figures; its JavaScript, every image and every number are embedded in the
page (see :mod:`posenc.report_page.document`). The package imports none of its modules, so
that the fit and sequence code can each import the one page they write without importing
the sweeps.
"""
