"""``docs/validate_oracle.py --quick``: the oracle against real sweeps on a few rows.

The reduced validation runs P1's 1D protocol with random Fourier features (the cheapest
embedding to fit) on two rows of the validation set, each against its 24-value sweep, and
checks the issue's bounds where the full validation meets them on every row: the suggestion
within 0.5 dB of the sweep's best, and with the held-out values known (the fit model's own
share) the suggestion within 0.5 dB and its predicted PSNR within 1.5 dB of the achieved
one. The predicted PSNR with the held-out values estimated misses 1.5 dB on 8 to 12 of 20
rows per embedding in the full validation (mean absolute error 1.6 to 2.0 dB, the estimate's
error, README); here it is held to :data:`ESTIMATED_PREDICTION_DB`, past which a row is
worse than the validation's typical one. The full tables come from the script without
``--quick``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "docs" / "validate_oracle.py"
ESTIMATED_PREDICTION_DB = 2.0


def test_quick_validation_meets_the_gap_and_prediction_bounds(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--cache", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**env, "OMP_NUM_THREADS": "1"},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "validation.json").read_text())
    targets = record["targets"]
    rows = record["rows"]
    assert [row["signal"] for row in rows] == ["camera:row=256", "moon:row=160"]
    for row in rows:
        assert row["gap_db"] <= targets["1d"]["gap"], row
        assert abs(row["prediction_error_db"]) <= ESTIMATED_PREDICTION_DB, row
        assert row["oracle_seconds"] > 0
        assert row["known_heldout_gap_db"] <= targets["1d"]["gap"], row
        assert abs(row["known_heldout_prediction_error_db"]) <= targets["prediction"], row
    (summary,) = record["summary"]
    assert summary["rows"] == 2 and summary["within_gap_target"] == 2
    assert (tmp_path / "validation.csv").read_text().startswith("group,signal,embedding")
