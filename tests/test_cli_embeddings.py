"""``posenc embeddings``: the table, one embedding's details, and the error contract."""

from __future__ import annotations

import json

from posenc.embeddings import EMBEDDINGS


def test_table_lists_every_embedding_with_formula_and_bandwidth(run_cli) -> None:
    result = run_cli("embeddings")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "FAMILY", "BANDWIDTH", "DEFAULTS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(EMBEDDINGS)
    for name, cls in EMBEDDINGS.items():
        assert cls.formula in rows[name]
        assert f" {cls.bandwidth_name or '-'} " in rows[name]
    assert "sigma=0.01" in rows["gaussian"] and "width=1/num_centers" in rows["triangle"]


def test_details_of_one_embedding(run_cli) -> None:
    result = run_cli("embeddings", "gaussian")
    assert result.returncode == 0, result.stderr
    assert "exp(-d^2 / (2 sigma^2))" in result.stdout
    assert "bandwidth:    sigma" in result.stdout
    assert "truncate" in result.stdout and "concat, directions, separable" in result.stdout


def test_json_output(run_cli) -> None:
    result = run_cli("embeddings", "rff", "--json")
    (entry,) = json.loads(result.stdout)
    assert entry["bandwidth"] == "scale" and entry["compositions"][0] == "isotropic"
    assert {"name": "scale", "default": "10.0"}.items() <= entry["parameters"][1].items()


def test_unknown_embedding_is_one_line_exit_2(run_cli) -> None:
    result = run_cli("embeddings", "gausian")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "unknown embedding 'gausian'; did you mean 'gaussian'?" in result.stderr
