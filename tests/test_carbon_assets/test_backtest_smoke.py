"""The forecast back-test still runs and prints its error figures (bench/forecast_backtest.py); they are read by
people, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "forecast_backtest.py"


@pytest.mark.slow
def test_the_forecast_backtest_prints_its_error() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--history", "3", "--years", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("MAPE overall:") == 2 and done.stdout.count("80 % band coverage:") == 2
    assert "holt_winters_seasonal_12" in done.stdout  # two years before the tested one: seasonality is used
