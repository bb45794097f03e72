"""The ``posenc`` command line: one module per sub-command, dispatched by :mod:`posenc.cli.main`."""
